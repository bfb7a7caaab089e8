"""MNIST for the course: all 70,000 digits ship with it in ``data/mnist.npz``, so no lesson ever downloads.

The file holds MNIST's own split (60,000 training and 10,000 test digits, in MNIST's order) as uint8
arrays; ``data/README.md`` says where it comes from and ``scripts/make_mnist_npz.py`` rebuilds it.
Every load checks the arrays against their SHA-256 checksums, so a damaged or replaced file is named
with the fix instead of training on something else.

Images are returned as float tensors in [0, 1] with shape ``(N, 784)``, already on the compute device,
so training batches are plain tensor slices: no per-image Python transforms in the training loop.
In smoke mode (see :mod:`vaecourse.runtime`) the split is cut to a small fixed subset.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaecourse.runtime import smoke_mode

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MNIST_FILE = "mnist.npz"
MNIST_SHAPES = {"x_train": (60_000, 28, 28), "y_train": (60_000,), "x_test": (10_000, 28, 28), "y_test": (10_000,)}
# SHA-256 of each array's bytes (C order): the same whether the file came from the pickle or the IDX files.
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
SMOKE_TRAIN, SMOKE_TEST = 1000, 500
RESTORE = "restore it with `git checkout -- data/{name}` (or re-clone the course)"


class DataFileError(RuntimeError):
    """A data file is missing, damaged or not what the course expects; the message names it and the fix."""


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


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (what :data:`MNIST_SHA256` records)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def check_arrays(arrays: dict[str, np.ndarray], path: Path, shapes: dict | None = None) -> None:
    """Raise :class:`DataFileError` unless ``arrays`` are MNIST-like: the four keys, uint8 bytes,
    28×28 images, as many labels as images, labels 0-9 (and the exact ``shapes`` when given)."""
    missing = sorted(set(MNIST_SHAPES) - set(arrays))
    if missing:
        raise DataFileError(f"{path} has no {', '.join(missing)}: it is not the course's MNIST file; "
                            + RESTORE.format(name=path.name) + ".")
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DataFileError(f"{path}: x_{part} and y_{part} must be uint8 bytes (grey values 0-255), got "
                                f"{x.dtype} and {y.dtype}; were the images scaled already? "
                                + RESTORE.format(name=path.name) + ".")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),) or len(x) == 0:
            raise DataFileError(f"{path}: x_{part} has shape {x.shape} and y_{part} {y.shape}; expected "
                                "(N, 28, 28) images with N labels. " + RESTORE.format(name=path.name) + ".")
        if y.max() > 9:
            raise DataFileError(f"{path}: y_{part} has labels up to {y.max()}, but digits are 0-9. "
                                + RESTORE.format(name=path.name) + ".")
    for key, shape in (shapes or {}).items():
        if arrays[key].shape != shape:
            raise DataFileError(f"{path}: {key} has shape {arrays[key].shape}, expected {shape}. "
                                + RESTORE.format(name=path.name) + ".")


def is_lfs_pointer(path: Path) -> bool:
    """Whether ``path`` is a Git LFS pointer (a small text file standing in for data not yet pulled)."""
    try:
        with open(path, "rb") as f:
            return f.read(64).startswith(b"version https://git-lfs")
    except OSError:
        return False  # unreadable: the caller's own read will say why


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, or a :class:`DataFileError` naming the file and the fix."""
    fix = RESTORE.format(name=path.name)
    if not path.exists():
        raise DataFileError(f"The course's MNIST file {path} is missing: {fix}.")
    if is_lfs_pointer(path):
        raise DataFileError(f"{path} is a Git LFS pointer, not the data: run `git lfs pull`, or {fix}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as error:
        raise DataFileError(f"{path} is damaged or truncated ({type(error).__name__}); {fix}.") from None


def _to_digits(arrays: dict[str, np.ndarray], source: str, device) -> Digits:
    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).reshape(len(a), 784).to(device=device, dtype=torch.float32) / 255.0

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(device=device, dtype=torch.long)

    return Digits(images(arrays["x_train"]), labels(arrays["y_train"]),
                  images(arrays["x_test"]), labels(arrays["y_test"]), source)


def load_mnist(device: torch.device | str = "cpu", path: str | Path | None = None) -> Digits:
    """MNIST on ``device``: 60,000 training and 10,000 test digits (a fixed subset in smoke mode).

    ``path`` reads another file of the same layout instead of the course's ``data/mnist.npz``; only the
    course's own file is compared with the recorded checksums.
    """
    shipped = path is None
    path = Path(path) if path is not None else REPO_DATA_DIR / MNIST_FILE
    arrays = read_npz(path)
    check_arrays(arrays, path, MNIST_SHAPES if shipped else None)
    if shipped:
        damaged = [key for key in MNIST_SHAPES if array_digest(arrays[key]) != MNIST_SHA256[key]]
        if damaged:
            raise DataFileError(f"{path}: {', '.join(damaged)} differ from MNIST (checksum mismatch); "
                                + RESTORE.format(name=path.name) + ".")
    source = "MNIST" if shipped else f"digits from {path.name}"
    if smoke_mode():
        arrays = {"x_train": arrays["x_train"][:SMOKE_TRAIN], "y_train": arrays["y_train"][:SMOKE_TRAIN],
                  "x_test": arrays["x_test"][:SMOKE_TEST], "y_test": arrays["y_test"][:SMOKE_TEST]}
        source += ", cut for smoke mode"
    return _to_digits(arrays, source, device)


def check_grey_values(x: torch.Tensor, why: str) -> None:
    """Raise a ValueError (saying ``why`` they must be) unless ``x`` holds grey values in [0, 1].

    NaN and infinite values are left to ``train.fit``, which names them.
    """
    if len(x) and x.is_floating_point():
        low, high = (float(v) for v in torch.aminmax(x))
        if math.isfinite(low) and math.isfinite(high) and not 0 <= low <= high <= 1:
            raise ValueError(f"The images must be grey values in [0, 1] ({why}), but they range from {low:g} to "
                             f"{high:g}: divide pixel bytes by 255 and do not normalise by a mean and std.")


def binarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Fixed binarization: pixels above ``threshold`` become 1, the rest 0."""
    return (x > threshold).to(x.dtype)


def binarize_dynamic(x: torch.Tensor) -> torch.Tensor:
    """Dynamic binarization: each pixel is a fresh Bernoulli draw with its grey value as p.

    Used per batch during training (a new draw every time), as in Burda et al. 2016.
    """
    return torch.bernoulli(x)


def batches(x: torch.Tensor | tuple[torch.Tensor, ...], batch_size: int, shuffle: bool = True,
            generator: torch.Generator | None = None) -> Iterator[torch.Tensor | tuple[torch.Tensor, ...]]:
    """Yield mini-batches of ``x`` by indexing the tensor where it lives (no copies to the device).

    ``x`` may be a tuple of tensors with one row per example (images and labels): each batch is then the
    tuple of the same rows of each.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    first = x[0] if isinstance(x, tuple) else x
    n = len(first)
    order = torch.randperm(n, generator=generator).to(first.device) if shuffle else None
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size] if shuffle else slice(start, start + batch_size)
        yield tuple(t[rows] for t in x) if isinstance(x, tuple) else x[rows]
