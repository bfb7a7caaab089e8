"""MNIST for the course: full MNIST when it can be had, the bundled digits when not.

* Full MNIST comes through torchvision and is cached under ``data/MNIST``.
* With no network (or ``VAECOURSE_OFFLINE=1``, or in smoke mode when MNIST is
  not already cached) the lessons use the 5,000 real MNIST digits bundled in
  ``data/mnist_5k.npz`` (4,000 train / 1,000 test, a fixed split), and say so
  in one line.

Images are returned as float tensors in [0, 1] with shape ``(N, 784)``,
already on the compute device, so training batches are plain tensor slices:
no per-image Python transforms in the training loop.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaecourse.runtime import smoke_mode

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUNDLED_FILE = "mnist_5k.npz"
SMOKE_TRAIN, SMOKE_TEST = 1000, 500
DOWNLOAD_TIMEOUT_S = 20


@dataclass
class Digits:
    """A train/test split of 28×28 digits, flattened to 784 values in [0, 1]."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return (
            f"Digits({self.source}: {len(self.x_train):,} train, {len(self.x_test):,} test, "
            f"device={self.x_train.device})"
        )


def data_dir() -> Path:
    """Folder for the MNIST download cache (``VAECOURSE_DATA`` overrides the course's ``data/``)."""
    return Path(os.environ.get("VAECOURSE_DATA", REPO_DATA_DIR))


def _to_digits(x_train, y_train, x_test, y_test, source: str, device) -> Digits:
    def images(a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a)).reshape(len(a), 784).to(device=device, dtype=torch.float32) / 255.0

    def labels(a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a)).to(device=device, dtype=torch.long)

    return Digits(images(x_train), labels(y_train), images(x_test), labels(y_test), source)


def load_bundled(device: torch.device | str = "cpu") -> Digits:
    """The 5,000 bundled MNIST digits (4,000 train / 1,000 test, 10% of each class in test)."""
    path = REPO_DATA_DIR / BUNDLED_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"The bundled digits {BUNDLED_FILE} are missing from the course's data/ folder. "
            "They ship with the repository: re-clone it, or install vaecourse editable from a clone."
        )
    with np.load(path) as f:
        arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    return _to_digits(*arrays, source="bundled offline digits (5,000 MNIST images)", device=device)


def _mnist_cached(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / f"{name}-idx{kind}-ubyte").exists()
               for name, kind in [("train-images", 3), ("train-labels", 1),
                                  ("t10k-images", 3), ("t10k-labels", 1)])


def _load_torchvision(root: Path, download: bool):
    """Full MNIST as four uint8 arrays via torchvision (download only if asked)."""
    from torchvision.datasets import MNIST

    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        train = MNIST(str(root), train=True, download=download)
        test = MNIST(str(root), train=False, download=download)
    finally:
        socket.setdefaulttimeout(old_timeout)
    return train.data, train.targets, test.data, test.targets


def _check_mnist(arrays) -> None:
    x_train, y_train, x_test, y_test = arrays
    for x, y in [(x_train, y_train), (x_test, y_test)]:
        if x.ndim != 3 or tuple(x.shape[1:]) != (28, 28) or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"unexpected array shapes {tuple(x.shape)} / {tuple(y.shape)}")
        if int(y.min()) < 0 or int(y.max()) > 9:
            raise ValueError("labels outside 0-9")


def load_mnist(device: torch.device | str = "cpu", offline: bool | None = None,
               root: Path | None = None, verbose: bool = True) -> Digits:
    """Load MNIST onto ``device``, falling back to the bundled digits when it cannot be had.

    ``offline=True`` (or ``VAECOURSE_OFFLINE=1``) always uses the bundled
    digits, so a teacher can make every learner's run identical. In smoke mode
    the split is cut to a few hundred images and no download is attempted.
    """
    root = Path(root or data_dir())
    say = print if verbose else (lambda *a, **k: None)
    if offline is None:
        offline = os.environ.get("VAECOURSE_OFFLINE", "").strip() not in ("", "0")
    digits = None
    if offline:
        say("Offline mode (VAECOURSE_OFFLINE): using the bundled 5,000 MNIST digits.")
    elif _mnist_cached(root) or not smoke_mode():
        try:
            arrays = _load_torchvision(root, download=not _mnist_cached(root))
        except Exception as error:  # noqa: BLE001 - any failure here means "use the bundled digits"
            if _mnist_cached(root):
                say(f"The cached MNIST in {root / 'MNIST'} is corrupt or truncated ({type(error).__name__}); "
                    f"delete that folder to download it again. Using the bundled 5,000 digits for now.")
            else:
                say("MNIST could not be downloaded (no network?): using the bundled 5,000 MNIST digits. "
                    "Connect to the internet and re-run to get full MNIST.")
        else:
            try:
                _check_mnist(arrays)
                digits = _to_digits(*arrays, source="MNIST (torchvision)", device=device)
            except ValueError as error:
                say(f"The cached MNIST in {root / 'MNIST'} is corrupt ({error}); delete that folder to "
                    "download it again. Using the bundled 5,000 digits for now.")
    else:
        say("Smoke mode: using the bundled MNIST digits (no download attempted).")
    if digits is None:
        digits = load_bundled(device=device)
    if smoke_mode():
        digits = Digits(digits.x_train[:SMOKE_TRAIN], digits.y_train[:SMOKE_TRAIN],
                        digits.x_test[:SMOKE_TEST], digits.y_test[:SMOKE_TEST],
                        digits.source + ", cut for smoke mode")
    return digits


def binarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Fixed binarization: pixels above ``threshold`` become 1, the rest 0."""
    return (x > threshold).to(x.dtype)


def binarize_dynamic(x: torch.Tensor) -> torch.Tensor:
    """Dynamic binarization: each pixel is a fresh Bernoulli draw with its grey value as p.

    Used per batch during training (a new draw every time), as in Burda et al. 2016.
    """
    return torch.bernoulli(x)


def batches(x: torch.Tensor, batch_size: int, shuffle: bool = True,
            generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Yield mini-batches of ``x`` by indexing the tensor where it lives (no copies to the device)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = len(x)
    if shuffle:
        order = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n, batch_size):
            yield x[order[start:start + batch_size]]
    else:
        for start in range(0, n, batch_size):
            yield x[start:start + batch_size]
