"""One training loop for every lesson, and train-or-load checkpoints.

``fit`` is deliberately plain: shuffle, slice a batch, compute the loss dict,
step. Batches are slices of a tensor that already lives on the device, and
the per-batch numbers are summed on the device and read back once per epoch,
so the loop never waits on a ``.item()`` in the middle of an epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from vaecourse.data import REPO_DATA_DIR, batches
from vaecourse.runtime import describe_device, device_record, get_device, smoke_mode

CHECKPOINTS = REPO_DATA_DIR / "checkpoints"  # where the shipped models and their records live

History = dict[str, list[float]]
LossFn = Callable[[nn.Module, torch.Tensor], dict[str, torch.Tensor]]
LABELS = {"loss": "loss", "recon": "recon", "kl": "KL"}


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to another model."""


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def format_epoch(epoch: int, epochs: int, values: dict[str, float]) -> str:
    """``Epoch 3/10  loss 112.4  recon 86.1  KL 26.3``"""
    parts = [f"{LABELS.get(k, k)} {v:.4g}" if abs(v) < 1 else f"{LABELS.get(k, k)} {v:.1f}"
             for k, v in values.items()]
    return f"Epoch {epoch}/{epochs}  " + "  ".join(parts)


def fit(model: nn.Module, train_data: torch.Tensor | Callable[[int], torch.Tensor], loss_fn: LossFn, *,
        epochs: int, batch_size: int = 128, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, steps_per_epoch: int | None = None,
        batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None, seed: int = 0,
        callback: Callable[[int, nn.Module], dict[str, float] | None] | None = None,
        verbose: bool = True, print_every: int | None = None) -> History:
    """Train ``model`` with Adam and return the per-epoch history of every logged term.

    * ``train_data`` is a tensor already on the model's device (shuffled each
      epoch), or a function ``make_batch(batch_size) -> Tensor`` for data that
      is generated on the fly (then give ``steps_per_epoch``).
    * ``loss_fn(model, batch)`` returns a dict of scalars; ``"loss"`` is
      minimised, every entry is logged per example and per epoch.
    * ``batch_transform`` is applied to each batch (e.g. dynamic binarization).
    * ``callback(epoch, model)`` may return extra numbers (a metric) to log.
    * One line per epoch is printed (every ``print_every`` epochs; by default
      about ten lines in all, always including the last epoch).
    """
    print_every = print_every or max(1, epochs // 10)
    device = _model_device(model)
    if isinstance(train_data, torch.Tensor):
        if train_data.device != device:
            raise ValueError(f"The training data is on {train_data.device} but the model is on {device}: "
                             "move both with .to(device) using the same device.")
        steps = -(-len(train_data) // batch_size)
    else:
        if steps_per_epoch is None:
            raise ValueError("Give steps_per_epoch when train_data is a batch-making function.")
        steps = steps_per_epoch
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
            if isinstance(train_data, torch.Tensor):
                epoch_batches = batches(train_data, batch_size, shuffle=True, generator=generator)
            else:
                epoch_batches = (train_data(batch_size) for _ in range(steps))
            for xb in epoch_batches:
                if batch_transform is not None:
                    xb = batch_transform(xb)
                terms = loss_fn(model, xb)
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach() * len(xb)
                seen += len(xb)
                bar.update(1)
            values = {key: float(total) / seen for key, total in sums.items()}
            if not all(v == v and abs(v) != float("inf") for v in values.values()):
                raise FloatingPointError(
                    f"The loss became {values['loss']} in epoch {epoch}: training diverged. "
                    "Try a smaller learning rate (lr) or check the loss function for log(0).")
            if callback is not None:
                model.eval()
                values.update(callback(epoch, model) or {})
                model.train()
            values["seconds"] = time.perf_counter() - start
            for key, value in values.items():
                history.setdefault(key, []).append(value)
            if verbose and (epoch % print_every == 0 or epoch == epochs):
                shown = {k: v for k, v in values.items() if k != "seconds"}
                bar.write(format_epoch(epoch, epochs, shown))
    finally:
        bar.close()
        model.eval()
    return history


def _write_atomically(path: Path, write: Callable[[object], None], mode: str = "wb") -> None:
    """Write ``path`` through a temporary file beside it, renamed into place: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None,
                    meta: dict | None = None) -> None:
    """Save weights, history and metadata atomically (a crash never leaves half a file)."""
    payload = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "history": history or {}, "meta": meta or {}}
    _write_atomically(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, model: nn.Module) -> tuple[History, dict]:
    """Load weights into ``model`` (safely: ``weights_only=True``); return (history, meta)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train the model instead (retrain=True), "
                              "or restore the file from the course repository.")
    try:
        payload = torch.load(path, map_location=_model_device(model), weights_only=True)
        state = payload["state_dict"]
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, TypeError, OSError) as error:
        raise CheckpointError(f"The checkpoint {path} is corrupt or truncated ({type(error).__name__}). "
                              "Delete it and re-run with retrain=True, or restore it from the repository.") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(f"The checkpoint {path} was saved for a different model (layer names or sizes "
                              "differ). Re-run with retrain=True to train this model.") from None
    model.eval()
    return payload.get("history", {}), payload.get("meta", {})


def train_or_load(model: nn.Module, path: str | Path, train: Callable[[], History],
                  retrain: bool = False, meta: dict | None = None) -> History:
    """Load ``path`` if it exists (and ``retrain`` is False); otherwise call ``train()`` and save.

    In smoke mode nothing is written, so a quick CI run never replaces a real checkpoint.
    """
    path = Path(path)
    if path.exists() and not retrain:
        history, saved_meta = load_checkpoint(path, model)
        note = f" ({saved_meta['note']})" if "note" in saved_meta else ""
        print(f"Loaded trained weights from {path.name}{note}; pass retrain=True to train from scratch.")
        return history
    history = train()
    if smoke_mode():
        print(f"Smoke mode: trained briefly and did not save {path.name}.")
    else:
        save_checkpoint(path, model, history, meta)
        print(f"Saved the trained weights to {path}.")
    return history


# --- Records: how a shipped checkpoint was made and what it measured, in a .json beside it ---

def provenance(seed: int, device: torch.device, note: str = "") -> dict:
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


def load_record(checkpoint: str | Path, how_to_make: str) -> dict:
    """The record beside ``checkpoint``; if there is none, a FileNotFoundError that says ``how_to_make`` it."""
    path = Path(checkpoint).with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"No record {path.name} in {path.parent}: {how_to_make}, "
                                "or restore data/checkpoints/ from the repository.")
    return json.loads(path.read_text(encoding="utf-8"))


def add_script_arguments(parser: argparse.ArgumentParser, out: Path = CHECKPOINTS) -> None:
    """The options of every script that makes shipped checkpoints: --seed, --threads, --device, --note, --out."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--note", default="", help="free text stored in the record, e.g. that the machine was shared")
    parser.add_argument("--out", default=str(out))


def script_device(args: argparse.Namespace) -> torch.device:
    """Apply a script's ``--threads``, choose its ``--device`` and print which: the device to train on."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(describe_device(device), flush=True)
    return device
