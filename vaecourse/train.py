"""One training loop for every lesson, and train-or-load checkpoints that never lose work.

``fit`` is deliberately plain: shuffle, slice a batch, compute the loss dict,
step. Batches are slices of a tensor that already lives on the device, and
the per-batch numbers are summed on the device and read back once per epoch,
so the loop never waits on a ``.item()`` in the middle of an epoch. Its
arguments and data are checked before the first step, so a mistake is named
up front instead of surfacing as a diverged loss.

Checkpoints: the models that ship with the course live in ``data/checkpoints/``
(:data:`CHECKPOINTS`) and a lesson never writes there. ``train_or_load`` saves a
model the learner trains, with its ``.json`` record, in the learner's own folder
:data:`OWN_CHECKPOINTS` (``artifacts/checkpoints/`` in the course folder, ignored
by git; set it to another folder if that one is read-only). Loading takes the
shipped model unless the learner asks for their own (``prefer_own=True``), so the
shipped state is always one ``retrain=False`` away. Every save is atomic (a
temporary file beside it, fsynced and renamed) with the umask's usual
permissions, and stores a SHA-256 checksum of the weights that every load checks.
Only the maintainers' scripts write ``data/checkpoints/`` (with ``save_checkpoint``).
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import json
import math
import numbers
import operator
import os
import pickle
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from vaecourse.data import REPO_DATA_DIR, batches, is_lfs_pointer
from vaecourse.runtime import describe_device, device_record, get_device, smoke_mode

CHECKPOINTS = REPO_DATA_DIR / "checkpoints"  # the shipped models and their records (read-only for lessons)
OWN_CHECKPOINTS = REPO_DATA_DIR.parent / "artifacts" / "checkpoints"  # models a learner trains, with records

History = dict[str, list[float]]
LossFn = Callable[[nn.Module, torch.Tensor], dict[str, torch.Tensor]]
LABELS = {"loss": "loss", "recon": "recon", "kl": "KL"}


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, belongs to another model, or cannot be written."""


class RecordError(RuntimeError):
    """A checkpoint's ``.json`` record is damaged or lacks a number a lesson needs."""


class MissingRecordError(RecordError, FileNotFoundError):
    """A checkpoint has no ``.json`` record (also a FileNotFoundError, as it was before records were checked)."""


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def format_epoch(epoch: int, epochs: int, values: dict[str, float], unit: str = "Epoch") -> str:
    """``Epoch 3/10  loss 112.4  recon 86.1  KL 26.3`` (or ``Step 800/7200  ...`` with ``unit="Step"``)"""
    parts = [f"{LABELS.get(k, k)} {v:.4g}" if abs(v) < 1 else f"{LABELS.get(k, k)} {v:.1f}"
             for k, v in values.items()]
    return f"{unit} {epoch}/{epochs}  " + "  ".join(parts)


# --- Checks made before training: the settings and the data ---

def _whole_number(name: str, value: object) -> int:
    """``value`` as an int ≥ 1, or a ValueError that says what ``name`` must be."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < 1:
        raise ValueError(f"{name} must be a whole number ≥ 1; got {value!r}")
    return number


def data_problem(x: torch.Tensor) -> str | None:
    """What is wrong with training data ``x`` for the course's models, or None: empty, not floating point,
    NaN or infinite values, or raw 0–255 pixel values (whole numbers above 1) where grey values in [0, 1] belong."""
    if len(x) == 0:
        return "the training data is empty (0 examples): check how it was selected"
    if not x.is_floating_point():
        return (f"the training data has dtype {x.dtype}; convert it to floats first "
                "(pixel bytes: x.float() / 255 gives grey values in [0, 1])")
    low, high = (float(v) for v in torch.aminmax(x))  # one pass: NaN and inf show up here too
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(x)).sum())
        return (f"the training data has {bad:,} NaN or infinite values; remove or repair them before training "
                "(the learning rate cannot fix the data)")
    if low >= 0 and 1 < high <= 255 and bool((x == x.round()).all()):
        return (f"the training data looks like raw pixel values (whole numbers from {low:g} to {high:g}); "
                "the course's losses expect grey values in [0, 1]: divide by 255")
    return None


def fit(model: nn.Module, train_data: torch.Tensor | tuple[torch.Tensor, ...] | Callable[[int], torch.Tensor],
        loss_fn: LossFn, *,
        epochs: int, batch_size: int = 128, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, steps_per_epoch: int | None = None,
        batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None, seed: int = 0,
        callback: Callable[[int, nn.Module], dict[str, float] | None] | None = None,
        verbose: bool = True, print_every: int | None = None) -> History:
    """Train ``model`` with Adam and return the per-epoch history of every logged term.

    * ``train_data`` is a tensor already on the model's device (shuffled each
      epoch), a tuple of such tensors with one row per example (images and
      their labels: each batch is then the tuple of their rows, shuffled
      together), or a function ``make_batch(batch_size) -> Tensor`` for data
      that is generated on the fly (then give ``steps_per_epoch``).
    * ``loss_fn(model, batch)`` returns a dict of scalars; ``"loss"`` is
      minimised, every entry is logged per example and per epoch.
    * ``batch_transform`` is applied to each batch (e.g. dynamic binarization).
    * ``callback(epoch, model)`` may return extra numbers (a metric) to log.
    * One line per epoch is printed (every ``print_every`` epochs; by default
      about ten lines in all, always including the last epoch). With a
      batch-making function there are no epochs over a data set, so the line
      counts steps instead: ``Step 800/7200``.

    Before the first step the settings are checked (whole numbers ≥ 1, a
    positive learning rate) and so is a data tensor (:func:`data_problem`):
    each mistake is a ValueError that says what is allowed.
    """
    epochs = _whole_number("epochs", epochs)
    batch_size = _whole_number("batch_size", batch_size)
    print_every = _whole_number("print_every", print_every) if print_every is not None else max(1, epochs // 10)
    if optimizer is None and not (isinstance(lr, numbers.Real) and 0 < lr < float("inf")):
        raise ValueError(f"lr (the learning rate) must be a positive number such as 1e-3; got {lr!r}")
    device = _model_device(model)
    served = isinstance(train_data, (torch.Tensor, tuple))   # data held in tensors, served whole each epoch
    if served:
        tensors = train_data if isinstance(train_data, tuple) else (train_data,)
        if steps_per_epoch is not None:
            raise ValueError("steps_per_epoch is for a batch-making function; a data tensor is served whole "
                             "each epoch (take a slice of it to train on less).")
        if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors) or \
                len({len(t) for t in tensors}) != 1:
            raise ValueError("A tuple of training data must hold tensors with one row per example each "
                             "(e.g. images and their labels, of the same length).")
        if any(t.device != device for t in tensors):
            raise ValueError(f"The training data is on {tensors[0].device} but the model is on {device}: "
                             "move both with .to(device) using the same device.")
        problem = data_problem(tensors[0])
        if problem:
            raise ValueError(problem[0].upper() + problem[1:] + ".")
        steps = -(-len(tensors[0]) // batch_size)
    else:
        if steps_per_epoch is None:
            raise ValueError("Give steps_per_epoch when train_data is a batch-making function.")
        steps = _whole_number("steps_per_epoch", steps_per_epoch)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history: History = {}
    start = time.perf_counter()
    bar = tqdm(total=epochs * steps, desc="training", unit="batch", disable=not verbose,
               leave=False, mininterval=0.5)
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            sums: dict[str, torch.Tensor] = {}
            seen = 0
            if served:
                epoch_batches = batches(train_data, batch_size, shuffle=True, generator=generator)
            else:
                epoch_batches = (train_data(batch_size) for _ in range(steps))
            for batch in epoch_batches:
                xb = batch_transform(batch) if batch_transform is not None else batch
                terms = loss_fn(model, xb)
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                size = len(xb[0]) if isinstance(xb, tuple) else len(xb)
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach() * size
                seen += size
                bar.update(1)
            values = {key: float(total) / seen for key, total in sums.items()}
            if not all(v == v and abs(v) != float("inf") for v in values.values()):
                raise FloatingPointError(_divergence_message(values["loss"], epoch,
                                                             batch[0] if isinstance(batch, tuple) else batch))
            if callback is not None:
                model.eval()
                values.update(callback(epoch, model) or {})
                model.train()
            values["seconds"] = time.perf_counter() - start
            for key, value in values.items():
                history.setdefault(key, []).append(value)
            if verbose and (epoch % print_every == 0 or epoch == epochs):
                shown = {k: v for k, v in values.items() if k != "seconds"}
                bar.write(format_epoch(epoch, epochs, shown) if served
                          else format_epoch(epoch * steps, epochs * steps, shown, unit="Step"))
    finally:
        bar.close()
        model.eval()
    return history


def _divergence_message(loss: float, epoch: int, last_batch: torch.Tensor) -> str:
    """Why the loss stopped being finite: the data (checked on the last batch first), else the training."""
    problem = data_problem(last_batch)
    if problem:
        return f"The loss became {loss} in epoch {epoch} because of the data: in the last batch, {problem}."
    return (f"The loss became {loss} in epoch {epoch}: training diverged. "
            "Try a smaller learning rate (lr) or check the loss function for log(0).")


# --- Writing files: atomic, fsynced, with the usual permissions, and no temporary files left behind ---

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_SAVING: set[Path] = set()  # this process's temporary files while their saves run (threads may save at once)


def _writer_gone(part: Path, pid: str | None) -> bool:
    """Whether the save that made the temporary file ``part`` is over: its process (named in the file name)
    no longer runs. Files without a process id come from older versions and are always stale."""
    if pid is None:
        return True
    if int(pid) == os.getpid():
        return part not in _SAVING
    if os.name == "nt":  # os.kill would end the process on Windows: go by age instead
        return time.time() - part.stat().st_mtime > 3600
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_parts(path: Path) -> list[Path]:
    """Delete the temporary files that killed saves of ``path`` left beside it; return them.

    Saves write ``{name}.{process id}.{random}.part`` and rename it to ``{name}`` when complete; a file of
    that form whose process has ended is an orphan. Other files are never touched.
    """
    pattern = re.compile(re.escape(path.name) + r"(?:\.(\d+)\.)?[a-z0-9_]{8}\.part")
    removed = []
    for part in path.parent.glob(f"{glob.escape(path.name)}*.part"):
        match = pattern.fullmatch(part.name)
        if match and _writer_gone(part, match.group(1)):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def _reason(error: BaseException) -> str:
    """A short reason for a failed write: the OS's words, or 'the disk may be full' for torch's writer."""
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    text = str(error)
    if "file write failed" in text or "enforce fail" in text:
        return "the write failed: is the disk full?"
    return text.splitlines()[0][:120] if text else type(error).__name__


def _write_atomically(path: Path, write: Callable[[object], None], mode: str = "wb") -> None:
    """Write ``path`` through a temporary file beside it, fsynced and renamed into place: a crash never leaves
    half a file, and the file gets the permissions any new file would (not mkstemp's private 0600).

    A failure to write is a :class:`CheckpointError` that names the file and the reason.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=".part")
    except OSError as error:
        raise CheckpointError(f"Could not write {path} ({_reason(error)}).") from None
    _SAVING.add(Path(tmp))
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"Could not write {path} ({_reason(error)}).") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _SAVING.discard(Path(tmp))
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(folder: Path, needed_bytes: int = 0) -> None:
    """Raise :class:`CheckpointError` unless a file of ``needed_bytes`` fits in ``folder`` (made if missing).

    Checked before training, so that a long run is never lost to a folder it cannot be saved in.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise CheckpointError(f"Cannot save in {folder} ({_reason(error)}), so nothing was trained: "
                              f"{_elsewhere(folder)}") from None
    if free < needed_bytes:
        raise CheckpointError(f"Only {free / 1e6:.1f} MB are free in {folder} but the model needs about "
                              f"{needed_bytes / 1e6:.1f} MB, so nothing was trained: {_elsewhere(folder)}")


def _elsewhere(folder: Path) -> str:
    if folder.resolve() == Path(OWN_CHECKPOINTS).resolve():
        return ("make room or make it writable, or choose a folder you can write to with "
                "train.OWN_CHECKPOINTS = pathlib.Path('...').")
    return "make room or make it writable, or give a path in a folder you can write to."


# --- Checkpoints: weights, history and metadata in one file, with a checksum of the weights ---

def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: every tensor's name, dtype, shape and bytes, in name order.

    Stored with the weights (and in the record) and recomputed on load, so flipped bytes are caught.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None,
                    meta: dict | None = None) -> str:
    """Save weights, history, metadata and the weights' checksum atomically; return the checksum.

    A failed write is a :class:`CheckpointError` naming the file; no partial file is left behind.
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    digest = weights_digest(state)
    payload = {"state_dict": state, "history": history or {}, "meta": meta or {}, "weights_sha256": digest}
    _write_atomically(Path(path), lambda f: torch.save(payload, f))
    return digest


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is one of the course's shipped files (inside :data:`CHECKPOINTS`)."""
    return Path(path).resolve().is_relative_to(Path(CHECKPOINTS).resolve())


def _restore_hint(path: Path) -> str:
    """How to get a good copy of ``path`` back: the repository for a shipped file, retraining for one's own."""
    if is_shipped(path):
        return (f"restore it with `git checkout -- {_shown(path)}` (or take a fresh copy of the course), "
                "or train your own with retrain=True")
    return "delete it and train again with retrain=True"


def _read_payload(path: Path) -> dict:
    """The checkpoint's contents (on the CPU, ``weights_only=True``), or a CheckpointError saying what is wrong."""
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train the model instead (retrain=True), "
                              "or restore the file from the course repository.")
    if is_lfs_pointer(path):
        raise CheckpointError(f"{path} is a Git LFS pointer, not the weights: run `git lfs pull`, or "
                              f"{_restore_hint(path)}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointError(f"Cannot read the checkpoint {path} ({_reason(error)}): make it readable "
                              f"(chmod a+r), or {_restore_hint(path)}.") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError) as error:
        raise CheckpointError(f"The checkpoint {path} is corrupt or truncated ({type(error).__name__}); "
                              f"{_restore_hint(path)}.") from None
    expected = ("a course checkpoint (a dict with 'state_dict', 'history' and 'meta', written by "
                "train.save_checkpoint)")
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointError(f"{path} holds a bare state_dict (torch.save(model.state_dict())), not {expected}: "
                              "load it with model.load_state_dict(torch.load(path, weights_only=True)), "
                              "or save it again with train.save_checkpoint(path, model).")
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        found = f"a dict with keys {sorted(map(str, payload))}" if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} holds {found}, not {expected}; {_restore_hint(path)}.")
    return payload


def _recorded_digest(path: Path) -> str | None:
    """The weights checksum in the record beside ``path``, if there is a readable one that has it."""
    try:
        record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record.get("weights_sha256") if isinstance(record, dict) else None


def _check_weights(path: Path, state: dict[str, torch.Tensor], saved_digest: str | None) -> None:
    """Compare the weights with the checksums saved with them and in the record, then look for NaN and inf."""
    digest = weights_digest(state)
    if saved_digest is not None and saved_digest != digest:
        raise CheckpointError(f"The checkpoint {path} is damaged: its weights differ from the checksum saved "
                              f"with them; {_restore_hint(path)}.")
    recorded = _recorded_digest(path)
    if recorded is not None and recorded != digest:
        raise CheckpointError(f"The checkpoint {path} does not match its record {path.with_suffix('.json').name} "
                              f"(different weights checksum): one of the two was replaced; {_restore_hint(path)}.")
    bad = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        origin = "saved from a run that diverged" if saved_digest else "damaged, or saved from a run that diverged"
        raise CheckpointError(f"The checkpoint {path} has NaN or infinite weights (in {', '.join(bad[:3])}): it was "
                              f"{origin}; {_restore_hint(path)}.")


def load_checkpoint(path: str | Path, model: nn.Module) -> tuple[History, dict]:
    """Load weights into ``model`` (safely: ``weights_only=True``); return (history, meta).

    The weights are checked before they reach the model: against the checksum saved with them and the one
    in the record beside the file (when there is one), and for NaN or infinite values.
    """
    path = Path(path)
    payload = _read_payload(path)
    state = payload["state_dict"]
    _check_weights(path, state, payload.get("weights_sha256"))
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(f"The checkpoint {path} was saved for a different model (layer names or sizes "
                              "differ). Re-run with retrain=True to train this model.") from None
    model.eval()
    return payload.get("history", {}), payload.get("meta", {})


def own_checkpoint_path(path: str | Path) -> Path:
    """Where ``train_or_load`` keeps the learner's own model for ``path``: the same name in
    :data:`OWN_CHECKPOINTS` for a shipped checkpoint, and ``path`` itself for any other."""
    path = Path(path)
    if is_shipped(path):
        return Path(OWN_CHECKPOINTS) / path.resolve().relative_to(Path(CHECKPOINTS).resolve())
    return path


def _shown(path: Path) -> str:
    """``path`` relative to the course folder when it lies inside it (shorter to read in a lesson)."""
    try:
        return Path(path).resolve().relative_to(REPO_DATA_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def train_or_load(model: nn.Module, path: str | Path, train: Callable[[], History],
                  retrain: bool = False, meta: dict | None = None, prefer_own: bool = False) -> History:
    """Load a trained ``model`` for ``path``, or call ``train()`` and save the result with its record.

    * ``path`` names the model, usually a shipped checkpoint in ``data/checkpoints/``. Shipped files are
      never written: a model trained here is saved, with a ``.json`` record beside it, under the same name
      in :data:`OWN_CHECKPOINTS` (:func:`own_checkpoint_path`). Any other ``path`` is used as given.
    * Loading takes the shipped model; the learner's own is taken when ``prefer_own=True`` or when there
      is no shipped one. So ``retrain=False`` always gets the shipped state back.
    * Before training, the destination is checked (writable, room for the file). If the save still fails,
      one line says why and how to save elsewhere; the trained model stays in ``model``.
    * In smoke mode nothing is written.
    """
    path = Path(path)
    own = own_checkpoint_path(path)
    if not retrain:
        choices = [own, path] if prefer_own else [path, own]
        found = next((p for p in choices if p.exists()), None)
        if found is not None:
            history, saved_meta = load_checkpoint(found, model)
            print(_loaded_message(found, path, own, saved_meta))
            return history
    if not smoke_mode():
        state_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        check_writable(own.parent, needed_bytes=2 * state_bytes)
    history = train()
    if smoke_mode():
        print(f"Smoke mode: trained briefly and did not save {path.name}.")
        return history
    try:
        save_own(own, model, history, meta, replaces=path if own != path else None)
    except CheckpointError as error:
        print(f"{error} The trained model is still in memory: save it elsewhere with "
              f"train.save_checkpoint('a/folder/you/can/write/{own.name}', model, history).")
        return history
    unchanged = f"; the shipped {path.name} is unchanged (retrain=False loads it)" if own != path else ""
    print(f"Saved the trained weights to {_shown(own)} with its record {own.with_suffix('.json').name}{unchanged}.")
    return history


def _loaded_message(found: Path, path: Path, own: Path, meta: dict) -> str:
    """One line saying which model was loaded (shipped or the learner's) and how to get the other."""
    note = f" ({meta['note']})" if meta.get("note") else ""
    if found == path and own != path and own.exists():
        return (f"Loaded the shipped {path.name}{note}; your own model is in {_shown(own)} "
                "(prefer_own=True loads it).")
    if found == path:
        return f"Loaded trained weights from {path.name}{note}; pass retrain=True to train from scratch."
    shipped = ("the shipped one is unchanged (prefer_own=False loads it)" if path.exists()
               else "there is no shipped model of that name")
    return f"Loaded your own model from {_shown(found)}{note}; {shipped}."


def save_own(path: Path, model: nn.Module, history: History, meta: dict | None = None,
             replaces: Path | None = None) -> dict:
    """Save a learner's model at ``path`` and its record beside it (or neither); return the record.

    The record says how the model was made (:func:`provenance`, the ``meta`` given, epochs, final loss and
    the weights' checksum). If the record cannot be written, the new checkpoint is removed again so that
    no checkpoint is left without its record.
    """
    meta = meta or {}
    digest = save_checkpoint(path, model, history, meta)
    record = {**provenance(meta.get("seed"), _model_device(model), meta.get("note", "")),
              "made_by": "train.train_or_load (trained by the learner, not shipped)",
              "instead_of": f"the shipped {replaces.name} (left unchanged)" if replaces else None,
              **{k: v for k, v in meta.items() if k not in ("seed", "note")},
              "epochs": len(history.get("loss", [])),
              "final_train_loss": round(history["loss"][-1], 3) if history.get("loss") else None,
              "weights_sha256": digest}
    try:
        save_record(path, record)
    except CheckpointError:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        raise
    return record


class Stopwatch:
    """Wall-clock and CPU seconds (all threads of this process) of a ``with`` block: the CPU time is what
    the training cost whatever else the machine was doing; the wall time is what a learner waits."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def record(self, prefix: str = "training") -> dict:
        """``{prefix}_seconds``, ``{prefix}_cpu_seconds`` and ``torch_threads``, for a record."""
        return {f"{prefix}_seconds": round(self.wall, 1), f"{prefix}_cpu_seconds": round(self.cpu, 1),
                "torch_threads": torch.get_num_threads()}


def save_shipped(path: str | Path, model: nn.Module, history: History, record: dict, meta: dict) -> None:
    """What the maintainers' scripts ship: ``model`` saved as float16 with ``history`` and ``meta``, and
    ``record`` (given the weights' checksum) as the ``.json`` beside it. ``model`` itself is left as it is."""
    record["weights_sha256"] = save_checkpoint(path, copy.deepcopy(model).half(), history, meta)
    save_record(path, record)


# --- Records: how a checkpoint was made and what it measured, in a .json beside it ---

PROVENANCE_KEYS = ("command", "seed", "date", "device", "torch", "note")


def provenance(seed: int | None, device: torch.device, note: str = "") -> dict:
    """The first fields of a record: the command that ran (this process's), seed, date, device, torch, note."""
    return {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "seed": seed,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": device_record(device), "torch": torch.__version__, "note": note}


def save_record(checkpoint: str | Path, record: dict) -> Path:
    """Write ``record`` as JSON beside ``checkpoint`` (same name, ``.json``), atomically; return its path."""
    path = Path(checkpoint).with_suffix(".json")
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    _write_atomically(path, lambda f: f.write(text), mode="w")
    return path


def load_record(checkpoint: str | Path, how_to_make: str, keys: tuple[str, ...] = ()) -> dict:
    """The record beside ``checkpoint``, with at least ``keys``.

    Anything else is a :class:`RecordError` in one line naming the file and the fix: no record (a
    :class:`MissingRecordError`, also a FileNotFoundError, that says ``how_to_make`` it), unreadable bytes,
    text that is not JSON (truncated, not UTF-8), JSON that is not an object, or missing keys. Lessons catch
    ``train.RecordError`` and run on without the record's numbers.
    """
    path = Path(checkpoint).with_suffix(".json")
    fix = (f"{how_to_make}, or restore data/checkpoints/ from the course repository" if is_shipped(path)
           else f"{how_to_make}, or train the model again with retrain=True")
    if not path.exists():
        raise MissingRecordError(f"No record {path.name} in {path.parent}: {fix}.")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(f"The record {path} is not UTF-8 text (damaged?): {fix}.") from None
    except json.JSONDecodeError as error:
        raise RecordError(f"The record {path} is not valid JSON (truncated or damaged: {error.msg} at "
                          f"line {error.lineno}): {fix}.") from None
    except OSError as error:
        raise RecordError(f"Cannot read the record {path} ({_reason(error)}): {fix}.") from None
    if not isinstance(record, dict):
        raise RecordError(f"The record {path} holds a JSON {type(record).__name__}, not an object of named "
                          f"numbers: {fix}.")
    missing = [key for key in keys if key not in record]
    if missing:
        raise RecordError(f"The record {path} lacks {', '.join(missing)}: {fix}.")
    return record


def add_script_arguments(parser: argparse.ArgumentParser, out: Path = CHECKPOINTS, *,
                         several_seeds: bool = False) -> None:
    """The options of every script that makes shipped checkpoints: --seed (or --seeds, one model per seed,
    with ``several_seeds``), --threads, --device, --note, --out."""
    if several_seeds:
        parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds, one model per seed")
    else:
        parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--note", default="", help="free text stored in the record, e.g. that the machine was shared")
    parser.add_argument("--out", default=str(out))


def script_device(args: argparse.Namespace) -> torch.device:
    """Check that ``--out`` is writable (before the training, not after it), apply ``--threads``, choose the
    ``--device`` and print which: the device to train on."""
    check_writable(Path(args.out))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(describe_device(device), flush=True)
    return device
