"""The bundled MNIST: the real split, checked on every load, and one clear line for every damaged file."""

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from vaecourse import data

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("make_mnist_npz", ROOT / "scripts" / "make_mnist_npz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped() -> dict[str, np.ndarray]:
    return data.read_npz(data.REPO_DATA_DIR / data.MNIST_FILE)


def test_full_mnist_with_its_own_split(capsys):
    digits = data.load_mnist()
    assert capsys.readouterr().out == ""                       # nothing to say: no download, no fallback
    assert digits.x_train.shape == (60_000, 784) and digits.x_test.shape == (10_000, 784)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.long
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() <= 1.0
    # MNIST's published facts: the first labels of each split, the class counts, and the mean grey value
    # that everyone normalises with (0.1307 train, 0.1325 test) to ten places.
    assert digits.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert digits.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(digits.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(digits.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    grey_mean = lambda x: ((x * 255).round().double().mean() / 255).item()  # noqa: E731 - exact, from the bytes
    assert grey_mean(digits.x_train) == pytest.approx(0.1306604763, abs=1e-10)
    assert grey_mean(digits.x_test) == pytest.approx(0.1325146058, abs=1e-10)
    assert digits.source == "MNIST"


def test_smoke_mode_takes_a_fixed_subset(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    digits, again = data.load_mnist(), data.load_mnist()
    assert len(digits.x_train) == data.SMOKE_TRAIN and len(digits.x_test) == data.SMOKE_TEST
    assert torch.equal(digits.x_train, again.x_train) and "smoke" in digits.source


def test_checksums_are_those_of_the_shipped_arrays(shipped):
    assert {key: data.array_digest(shipped[key]) for key in data.MNIST_SHAPES} == data.MNIST_SHA256


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = {1: 0x801, 3: 0x803}[array.ndim]
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes())


def test_the_script_rebuilds_the_same_arrays_from_idx_files(tmp_path, shipped):
    for key, name in load_script().IDX_FILES.items():
        write_idx(tmp_path / name, shipped[key])
    rebuilt = load_script().from_idx(tmp_path)
    assert all(np.array_equal(rebuilt[key], shipped[key]) for key in shipped)


def test_the_script_reads_the_classic_pickle(tmp_path, shipped):
    import gzip
    import pickle

    def as_floats(x):  # the classic pickle stores byte / 256 as float32, flattened
        return (x[:30].reshape(30, 784) / 256).astype(np.float32)

    classic = ((as_floats(shipped["x_train"]), shipped["y_train"][:30].astype(np.int64)),
               (as_floats(shipped["x_train"][30:]), shipped["y_train"][30:60].astype(np.int64)),
               (as_floats(shipped["x_test"]), shipped["y_test"][:30].astype(np.int64)))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(classic, f)
    arrays = load_script().from_pickle(tmp_path / "mnist.pkl.gz")
    assert np.array_equal(arrays["x_train"], shipped["x_train"][:60])
    assert np.array_equal(arrays["y_test"], shipped["y_test"][:30]) and arrays["x_test"].dtype == np.uint8


def save(path: Path, **arrays) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def small(n=20, **changes) -> dict:
    rng = np.random.default_rng(0)
    def images():
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)

    def labels():
        return rng.integers(0, 10, n, dtype=np.uint8)

    arrays = {"x_train": images(), "y_train": labels(), "x_test": images(), "y_test": labels()}
    return {**arrays, **changes}


def test_another_file_of_the_same_layout_loads(tmp_path):
    digits = data.load_mnist(path=save(tmp_path / "mine.npz", **small()))
    assert digits.x_train.shape == (20, 784) and "mine.npz" in digits.source


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.unlink(), "missing"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "damaged or truncated"),
    (lambda p: p.write_bytes(b"this is not a zip file at all" * 10), "damaged or truncated"),
    (lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 1149\n"), "git lfs pull"),
    (lambda p: save(p, **small(y_train=np.full(20, 12, dtype=np.uint8))), "labels up to 12"),
    (lambda p: save(p, **small(y_test=np.zeros(7, dtype=np.uint8))), "N labels"),
    (lambda p: save(p, **small(x_train=np.random.rand(20, 28, 28))), "scaled already"),
    (lambda p: save(p, x_train=np.zeros((2, 28, 28), np.uint8)), "has no"),
])
def test_damaged_files_get_one_line_naming_the_file_and_the_fix(tmp_path, damage, words):
    path = save(tmp_path / "digits.npz", **small())
    damage(path)
    with pytest.raises(data.DataFileError) as error:
        data.load_mnist(path=path)
    message = str(error.value)
    assert words in message and str(path) in message and "\n" not in message
    assert "git checkout -- data/digits.npz" in message or "git lfs pull" in message


def test_flipped_bytes_in_the_shipped_file_are_caught_by_the_checksums(tmp_path, shipped, monkeypatch):
    x_train = shipped["x_train"].copy()
    x_train[123, 14, 14] ^= 0xFF
    save(tmp_path / data.MNIST_FILE, **{**shipped, "x_train": x_train})
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path)
    with pytest.raises(data.DataFileError, match="x_train differ from MNIST .checksum mismatch."):
        data.load_mnist()


def test_batches_cover_every_image_once():
    x = torch.arange(10.0).unsqueeze(1)
    seen = torch.cat(list(data.batches(x, 3, generator=torch.Generator().manual_seed(0))))
    assert sorted(seen.squeeze(1).tolist()) == list(range(10))
    assert [len(b) for b in data.batches(x, 4, shuffle=False)] == [4, 4, 2]
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(x, 0))


def test_binarization():
    x = torch.tensor([[0.1, 0.5, 0.9]])
    assert data.binarize(x).tolist() == [[0.0, 0.0, 1.0]]
    torch.manual_seed(0)
    draws = data.binarize_dynamic(x.expand(20000, 3))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(draws.mean(0), x[0], atol=0.02)
