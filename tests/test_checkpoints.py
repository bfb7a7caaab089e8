"""Checkpoints and records that never lose work (issue 13): shipped models are read-only, a learner's own
models are saved with their records, saves are checked, atomic and readable by others, loads are verified,
and every damaged file is one line that names it and the fix."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vaecourse import beta_vae, models, tc, train, vae_mnist

REPO = Path(__file__).resolve().parent.parent
ROOT_BYPASSES_PERMISSIONS = hasattr(os, "geteuid") and os.geteuid() == 0


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.MLPAutoencoder(hidden=(8,), latent_dim=2)


def squared_error(model, batch):
    return {"loss": ((model(batch) - batch) ** 2).sum(dim=1).mean()}


def train_one_epoch(model, calls=None):
    def train_fn():
        if calls is not None:
            calls.append(1)
        return train.fit(model, torch.rand(64, 784), squared_error, epochs=1, verbose=False)
    return train_fn


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A stand-in for data/checkpoints/ holding one shipped model and its record; returns its path."""
    folder = tmp_path / "shipped"
    monkeypatch.setattr(train, "CHECKPOINTS", folder)
    monkeypatch.setattr(train, "OWN_CHECKPOINTS", tmp_path / "own")
    path = folder / "model.pt"
    digest = train.save_checkpoint(path, small_model(1), {"loss": [3.0, 2.0]}, {"note": "shipped"})
    train.save_record(path, {**train.provenance(0, torch.device("cpu"), "shipped"), "weights_sha256": digest})
    return path


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- 1. Retraining never overwrites a shipped checkpoint; the learner's model is saved with its record ---

def test_retraining_a_shipped_model_writes_the_learners_own_copy_with_its_record(shipped, capsys):
    before = {p.name: p.read_bytes() for p in shipped.parent.iterdir()}
    model = small_model(2)
    history = train.train_or_load(model, shipped, train_one_epoch(model), retrain=True, meta={"note": "mine"})
    assert {p.name: p.read_bytes() for p in shipped.parent.iterdir()} == before  # shipped files untouched
    own = train.OWN_CHECKPOINTS / "model.pt"
    record = json.loads(own.with_suffix(".json").read_text())
    assert record["note"] == "mine" and record["epochs"] == len(history["loss"]) == 1
    assert record["final_train_loss"] == pytest.approx(history["loss"][-1], abs=1e-3)
    assert record["weights_sha256"] == train.weights_digest(model.state_dict())
    assert {"command", "date", "device", "torch"} <= set(record) and "shipped model.pt" in record["instead_of"]
    assert "unchanged" in capsys.readouterr().out


def test_loading_takes_the_shipped_model_unless_the_learner_asks_for_their_own(shipped, capsys):
    mine = small_model(2)
    train.train_or_load(mine, shipped, train_one_epoch(mine), retrain=True)
    reference = small_model(3)
    train.load_checkpoint(shipped, reference)
    loaded = small_model(4)
    train.train_or_load(loaded, shipped, lambda: pytest.fail("must load, not train"))
    assert same_weights(loaded, reference)                     # back to the shipped state, no git needed
    assert "prefer_own=True" in capsys.readouterr().out        # ... and told where their own model is
    train.train_or_load(loaded, shipped, lambda: pytest.fail("must load, not train"), prefer_own=True)
    assert same_weights(loaded, mine) and "your own model" in capsys.readouterr().out


def test_a_model_that_does_not_ship_is_saved_and_found_in_the_learners_folder(shipped, capsys):
    path = shipped.parent / "beta_vae_64px_beta4.pt"              # like lesson 06 at 64×64: nothing shipped
    model = small_model(2)
    train.train_or_load(model, path, train_one_epoch(model), retrain=False)
    assert not path.exists() and (train.OWN_CHECKPOINTS / path.name).exists()
    again = small_model(5)
    train.train_or_load(again, path, lambda: pytest.fail("must load, not train"))
    assert same_weights(again, model) and "no shipped model" in capsys.readouterr().out


def test_own_path_of_every_lesson_checkpoint_is_outside_data():
    for path in (vae_mnist.checkpoint_path(20, 1.0), beta_vae.checkpoint_path(4.0, 64), tc.checkpoint_path()):
        own = train.own_checkpoint_path(path)
        assert train.is_shipped(path) and not train.is_shipped(own)
        assert own == train.OWN_CHECKPOINTS / path.name
    elsewhere = Path("/some/where/model.pt")
    assert train.own_checkpoint_path(elsewhere) == elsewhere  # a path of the learner's own is used as given


def test_the_learners_folder_is_git_ignored_and_kept_by_make_clean():
    ignored = subprocess.run(["git", "check-ignore", "-q", "artifacts/checkpoints/vae_mnist_z20_beta1.pt"], cwd=REPO)
    assert ignored.returncode == 0, "artifacts/checkpoints/ must be ignored by git"
    assert train.own_checkpoint_path(vae_mnist.checkpoint_path()).parent == train.OWN_CHECKPOINTS
    clean = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("\trm -rf"))
    assert " artifacts " not in f"{clean} " and "artifacts/checkpoints" not in clean.split("#")[0]


# --- 2. An unwritable destination is found before training; a failed save keeps the trained model ---

def test_an_unwritable_destination_is_found_before_training(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setattr(train, "OWN_CHECKPOINTS", tmp_path / "a_file" / "checkpoints")
    monkeypatch.setattr(train, "CHECKPOINTS", tmp_path / "shipped")
    calls = []
    model = small_model()
    with pytest.raises(train.CheckpointError, match="nothing was trained") as error:
        train.train_or_load(model, tmp_path / "shipped" / "m.pt", train_one_epoch(model, calls))
    assert calls == [] and "OWN_CHECKPOINTS" in one_line(error)


def run_as_a_learner(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python whose file permissions are enforced: as root, with the capabilities
    that bypass them dropped (setpriv); skip the test where that cannot be done."""
    prefix = []
    if ROOT_BYPASSES_PERMISSIONS:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run(prefix + [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)


def test_a_read_only_folder_is_found_before_training(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run_as_a_learner(
            "import torch\n"
            "from vaecourse import models, train\n"
            "model = models.MLPAutoencoder(hidden=(8,), latent_dim=2)\n"
            "def train_fn():\n"
            "    raise SystemExit('trained although the model could not be saved')\n"
            "try:\n"
            f"    train.train_or_load(model, {str(folder / 'm.pt')!r}, train_fn)\n"
            "except train.CheckpointError as error:\n"
            "    print(error)\n")
    finally:
        folder.chmod(0o700)
    assert result.returncode == 0, result.stderr
    assert "Permission denied" in result.stdout and "nothing was trained" in result.stdout
    assert result.stdout.count("\n") == 1 and list(folder.iterdir()) == []


def test_files_saved_by_one_user_can_be_loaded_by_another(tmp_path):
    old = os.umask(0o022)
    try:
        train.save_checkpoint(tmp_path / "m.pt", small_model())
    finally:
        os.umask(old)
    private = tmp_path / "private.pt"
    private.write_bytes((tmp_path / "m.pt").read_bytes())
    private.chmod(0o600)                                   # as every save made it before issue 13
    if ROOT_BYPASSES_PERMISSIONS:
        for path in (tmp_path / "m.pt", private):
            os.chown(path, 12345, 12345)                   # a classmate's files
    result = run_as_a_learner(
        "from vaecourse import models, train\n"
        "for name in ('m.pt', 'private.pt'):\n"
        "    try:\n"
        f"        train.load_checkpoint({str(tmp_path)!r} + '/' + name, "
        "models.MLPAutoencoder(hidden=(8,), latent_dim=2))\n"
        "        print('loaded', name)\n"
        "    except train.CheckpointError as error:\n"
        "        print(error)\n")
    assert result.stdout.startswith("loaded m.pt\nCannot read the checkpoint"), result.stdout + result.stderr
    assert "Permission denied" in result.stdout and "corrupt" not in result.stdout


def test_too_little_disk_space_is_found_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(train.shutil, "disk_usage", lambda folder: type("Usage", (), {"free": 1000})())
    calls = []
    model = small_model()
    with pytest.raises(train.CheckpointError, match="MB are free"):
        train.train_or_load(model, tmp_path / "m.pt", train_one_epoch(model, calls))
    assert calls == []


def test_a_failed_save_after_training_keeps_the_model_and_says_how_to_save_it(tmp_path, monkeypatch, capsys):
    model = small_model()
    untrained = small_model()

    def disk_full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    history = train.train_or_load(model, tmp_path / "m.pt", train_one_epoch(model))
    out = capsys.readouterr().out
    assert len(history["loss"]) == 1 and not same_weights(model, untrained)   # the trained model is kept
    assert "disk full" in out and "still in memory" in out and "train.save_checkpoint(" in out
    assert list(tmp_path.iterdir()) == []                                     # no checkpoint, no .part, no record


def test_a_checkpoint_is_never_left_without_its_record(tmp_path, monkeypatch, capsys):
    def record_fails(checkpoint, record):
        raise train.CheckpointError(f"Could not write {Path(checkpoint).with_suffix('.json')} (No space left).")

    monkeypatch.setattr(train, "save_record", record_fails)
    model = small_model()
    train.train_or_load(model, tmp_path / "m.pt", train_one_epoch(model))
    assert "still in memory" in capsys.readouterr().out and list(tmp_path.iterdir()) == []


def test_save_errors_name_the_file(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(train.CheckpointError, match="Could not write .*a_file/m.pt") as error:
        train.save_checkpoint(tmp_path / "a_file" / "m.pt", small_model())
    one_line(error)


# --- 3. Files get the umask's usual permissions, not mkstemp's private 0600 ---

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_saved_files_are_readable_by_others_as_the_umask_says(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        train.save_checkpoint(tmp_path / "m.pt", small_model())
        train.save_record(tmp_path / "m.pt", {"note": ""})
    finally:
        os.umask(old)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == mode


# --- 4. Weights are checked on load: checksum, record, NaN ---

def test_flipped_bytes_in_the_weights_are_caught(tmp_path):
    model = small_model()
    path = tmp_path / "m.pt"
    train.save_checkpoint(path, model)
    raw = bytearray(path.read_bytes())
    weight = model.state_dict()["encoder.0.weight"].numpy().tobytes()
    at = raw.find(weight[:64])
    assert at > 0, "the weights are stored uncompressed in the file"
    raw[at + 100] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(train.CheckpointError, match="damaged: its weights differ from the checksum") as error:
        train.load_checkpoint(path, small_model())
    assert "retrain=True" in one_line(error)


def test_a_damaged_shipped_checkpoint_says_how_to_restore_it(shipped):
    raw = bytearray(shipped.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shipped.write_bytes(bytes(raw))
    with pytest.raises(train.CheckpointError, match="git checkout -- .*model.pt.*fresh copy of the course"):
        train.train_or_load(small_model(), shipped, lambda: pytest.fail("must not train over a damaged file"))


def test_non_finite_weights_are_refused(tmp_path):
    model = small_model()
    with torch.no_grad():
        model.encoder[0].weight[0, 0] = float("nan")
    train.save_checkpoint(tmp_path / "nan.pt", model)
    with pytest.raises(train.CheckpointError, match=r"NaN or infinite weights \(in encoder.0.weight\)"):
        train.load_checkpoint(tmp_path / "nan.pt", small_model())
    old_format = {"state_dict": model.state_dict(), "history": {}, "meta": {}}  # no checksum, as before issue 13
    torch.save(old_format, tmp_path / "old.pt")
    with pytest.raises(train.CheckpointError, match="damaged, or saved from a run that diverged"):
        train.load_checkpoint(tmp_path / "old.pt", small_model())


def test_a_checkpoint_must_match_the_checksum_in_its_record(tmp_path):
    path = tmp_path / "m.pt"
    train.save_checkpoint(path, small_model(1))
    train.save_record(path, {"weights_sha256": train.weights_digest(small_model(2).state_dict())})
    with pytest.raises(train.CheckpointError, match="does not match its record m.json"):
        train.load_checkpoint(path, small_model())
    path.with_suffix(".json").write_text("{ damaged")      # an unreadable record does not stop the weights
    train.load_checkpoint(path, small_model())


def test_checkpoints_saved_before_checksums_still_load(tmp_path):
    model = small_model(1)
    torch.save({"state_dict": model.state_dict(), "history": {"loss": [1.0]}, "meta": {}}, tmp_path / "old.pt")
    loaded = small_model(2)
    assert train.load_checkpoint(tmp_path / "old.pt", loaded)[0] == {"loss": [1.0]}
    assert same_weights(loaded, model)


def test_shipped_checkpoints_load_with_their_checks():
    paths = sorted(train.CHECKPOINTS.glob("beta_vae_32px_*.pt")) + sorted(train.CHECKPOINTS.glob("tcvae_32px_*.pt"))
    assert len(paths) == 12  # lesson 06's nine β-VAEs and lesson 09's three β-TCVAEs
    for path in paths:
        train.load_checkpoint(path, models.ConvVAE(32))


# --- 6. Temporary files of killed saves are removed by the next save; data is fsynced before the rename ---

def test_a_save_killed_midway_leaves_a_part_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / "m.pt"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys, torch\n"
        "from vaecourse import models, train\n"
        "def die(obj, f):\n"
        "    f.write(b'half a checkpoint'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = die\n"
        f"train.save_checkpoint({str(path)!r}, models.MLPAutoencoder(hidden=(8,), latent_dim=2))\n")],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert killed.returncode == -9
    orphans = list(tmp_path.glob("*.part"))
    assert len(orphans) == 1 and not path.exists()
    older = tmp_path / "m.ptabc123xy.part"                    # named as saves did before issue 13
    older.write_bytes(b"old")
    running = tmp_path / f"m.pt.{os.getppid()}.abcdefgh.part"  # a save by a process that still runs
    running.write_bytes(b"in progress")
    other = tmp_path / "other.pt.1.abcdefgh.part"              # another file's: not ours to judge
    other.write_bytes(b"other")
    reused = tmp_path / f"m.pt.{os.getpid()}.zyxwvuts.part"    # a killed process that had this process's id
    reused.write_bytes(b"old")
    train.save_checkpoint(path, small_model())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.pt", running.name, other.name])


def test_the_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    train.save_checkpoint(tmp_path / "m.pt", small_model())
    assert events[:2] == ["fsync", "replace"]


# --- 8. Damaged records: one line naming the file and the fix; lessons catch RecordError and run on ---

@pytest.mark.parametrize("content, says", [
    (b'{"elbo": -111.2, "iwae', "not valid JSON"),
    (b"", "not valid JSON"),
    (b'[1, 2, 3]', "holds a JSON list"),
    (b'{"elbo": -111.2}', "lacks data, epochs, device"),
    (b'{"note": "\xff\xfe broken"}', "not UTF-8"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n", "not valid JSON"),
])
def test_damaged_records_are_one_clear_line(tmp_path, content, says):
    (tmp_path / "vae_mnist_z20_beta1.json").write_bytes(content)
    with pytest.raises(train.RecordError, match=says) as error:
        vae_mnist.load_record(20, 1.0, folder=tmp_path)
    message = one_line(error)
    assert "vae_mnist_z20_beta1.json" in message and "train_checkpoints.py" in message


def test_a_missing_record_is_a_record_error_and_still_a_file_not_found_error(tmp_path):
    with pytest.raises(train.RecordError, match="No record beta_vae_32px_beta4_seed0.json") as error:
        beta_vae.load_record(4.0, 32, tmp_path)
    assert isinstance(error.value, FileNotFoundError) and "train_beta_sweep.py" in one_line(error)


def test_shipped_records_have_what_the_lessons_print():
    for beta in beta_vae.SWEEP_BETAS:
        assert set(beta_vae.RECORD_KEYS) <= set(beta_vae.load_record(beta))


# --- 9. A checkpoint in another format says which format was expected ---

def test_a_bare_state_dict_is_named_as_such(tmp_path):
    torch.save(small_model().state_dict(), tmp_path / "plain.pt")
    with pytest.raises(train.CheckpointError, match=r"bare state_dict \(torch.save\(model.state_dict\(\)\)\)") as error:
        train.load_checkpoint(tmp_path / "plain.pt", small_model())
    assert "train.save_checkpoint" in one_line(error) and "corrupt" not in str(error.value)
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(train.CheckpointError, match="holds Tensor, not a course checkpoint"):
        train.load_checkpoint(tmp_path / "tensor.pt", small_model())


def test_a_git_lfs_pointer_says_to_pull(tmp_path):
    (tmp_path / "m.pt").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 10\n")
    with pytest.raises(train.CheckpointError, match="git lfs pull"):
        train.load_checkpoint(tmp_path / "m.pt", small_model())


# --- The byte-identical guarantee is asserted in CI ---

def test_ci_compares_the_shipped_checkpoints_before_and_after_everything():
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("before=$(shipped_checksums)") < ci.index("make test") < ci.index("after=$(shipped_checksums)")
    assert "data/checkpoints" in ci and "exit 1" in ci
