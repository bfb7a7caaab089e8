"""Benchmark: vaecourse's ``fit`` against the training loop every PyTorch VAE tutorial uses.

    python scripts/bench_fit.py                     # 3 epochs each, batch 128 and 512 (`make bench`)
    python scripts/bench_fit.py --epochs 1          # quicker
    python scripts/bench_fit.py --device cuda       # on a GPU

Both sides train the same model (``models.MLPVAE``, 784-400-20, the same initial weights), on the same
images (grey values, the grayscale BCE of pytorch/examples), with the same loss
(``losses.negative_elbo``), batch size, Adam 1e-3 and seed, for the same number of epochs. Only the
plumbing differs:

* **tutorial loop** (pytorch/examples ``vae/main.py``): ``torchvision.datasets.MNIST`` with
  ``transforms.ToTensor()`` (a PIL image per digit), a shuffling ``DataLoader``, ``.to(device)`` for every
  batch and ``loss.item()`` after every step;
* **vaecourse** ``fit``: the whole training set as one tensor on the device, batches are slices of it,
  and the logged numbers are read back once per epoch.

Full MNIST is used when torchvision has it (cached, or downloadable). Without it, the 4,000 bundled
training digits are tiled to 60,000 images, so an epoch is as long as a real MNIST epoch; the test
numbers are then on the 1,000 bundled test digits. Both sides read the same uint8 images: for the
tutorial loop they are written as MNIST's raw files into a temporary folder and read back by
``torchvision.datasets.MNIST`` itself. The two loops run in one process and take turns, one epoch at a
time, so that other programs on the machine slow both alike and the speed ratio stays meaningful.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import data, losses, metrics, models, runtime, train  # noqa: E402

TILED_SIZE = 60_000


def uint8_digits(tile_to: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(x_train, y_train, x_test, y_test) as uint8 (N, 28, 28) images, and a line saying where they came from."""
    digits = data.load_mnist("cpu", verbose=False)
    as_uint8 = lambda x: (x * 255).round().to(torch.uint8).reshape(-1, 28, 28).numpy()  # exact: x was uint8/255
    x_train, y_train = as_uint8(digits.x_train), digits.y_train.numpy().astype(np.uint8)
    x_test, y_test = as_uint8(digits.x_test), digits.y_test.numpy().astype(np.uint8)
    if digits.source.startswith("MNIST"):
        return x_train, y_train, x_test, y_test, f"full MNIST ({len(x_train):,} train / {len(x_test):,} test)"
    repeats = -(-tile_to // len(x_train))
    x_train = np.tile(x_train, (repeats, 1, 1))[:tile_to]
    y_train = np.tile(y_train, repeats)[:tile_to]
    return (x_train, y_train, x_test, y_test,
            f"full MNIST is not available here: the {len(digits.x_train):,} bundled training digits tiled to "
            f"{tile_to:,} images (test: the {len(x_test):,} bundled test digits)")


def write_mnist_raw(root: Path, x_train, y_train, x_test, y_test) -> None:
    """Write uint8 images and labels as MNIST's raw idx files, which torchvision.datasets.MNIST reads."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, images, labels in [("train", x_train, y_train), ("t10k", x_test, y_test)]:
        with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes())
        with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())


class TutorialLoop:
    """The pytorch/examples training loop (vae/main.py), one epoch per call of :meth:`epoch`."""

    def __init__(self, model, root: Path, device: torch.device, batch_size: int, lr: float, seed: int):
        from torchvision import datasets, transforms

        torch.manual_seed(seed)
        kwargs = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
        self.train_loader = torch.utils.data.DataLoader(
            datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor()),
            batch_size=batch_size, shuffle=True, **kwargs)
        self.model, self.device = model, device
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def epoch(self) -> float:
        """Train one epoch; return the mean training loss per image."""
        self.model.train()
        train_loss = 0.0
        for batch, _ in self.train_loader:
            batch = batch.to(self.device).view(-1, 784)
            self.optimizer.zero_grad()
            logits, mu, logvar = self.model(batch)
            loss = losses.negative_elbo(logits, batch, mu, logvar)["loss"]
            loss.backward()
            train_loss += loss.item() * len(batch)
            self.optimizer.step()
        return train_loss / len(self.train_loader.dataset)


class CourseLoop:
    """``vaecourse.train.fit`` on the training set as one tensor on the device, one epoch per call
    (the optimizer carries over; each epoch gets its own shuffling seed)."""

    def __init__(self, model, x_train: torch.Tensor, batch_size: int, lr: float, seed: int):
        self.model, self.x_train, self.batch_size, self.seed = model, x_train, batch_size, seed
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.epochs_done = 0

    def epoch(self) -> float:
        history = train.fit(self.model, self.x_train, losses.beta_vae_loss(1.0), epochs=1,
                            batch_size=self.batch_size, optimizer=self.optimizer,
                            seed=self.seed + self.epochs_done, verbose=False)
        self.epochs_done += 1
        return history["loss"][0]


def timed_epoch(loop, device: torch.device) -> float:
    """Seconds for one epoch of ``loop`` (waiting for the GPU to finish, where there is one)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loop.epoch()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def fresh_model(device: torch.device, seed: int) -> models.MLPVAE:
    runtime.seed_everything(seed)
    return models.MLPVAE().to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per loop (default 3)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--tile-to", type=int, default=TILED_SIZE, help="training images when MNIST is missing")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.get_device(args.device)
    x_train_u8, y_train, x_test_u8, y_test, source = uint8_digits(args.tile_to)
    print(f"Machine: {runtime.device_record(device)}; torch {torch.__version__}")
    print(f"Data: {source}")
    print(f"Model: MLPVAE 784-400-20, grayscale BCE + KL (per image), Adam lr {args.lr:g}, seed {args.seed}, "
          f"{args.epochs} epochs per run\n")
    x_train = torch.from_numpy(x_train_u8).reshape(-1, 784).to(device=device, dtype=torch.float32) / 255
    x_test = torch.from_numpy(x_test_u8).reshape(-1, 784).to(device=device, dtype=torch.float32) / 255
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist_raw(Path(tmp), x_train_u8, y_train, x_test_u8, y_test)
        for batch_size in args.batch_sizes:
            # Both loops advance one epoch at a time, alternating which goes first, so that a change in the
            # machine's load (other programs) hits both alike: the speed ratio is measured side by side.
            loops = {"tutorial loop": TutorialLoop(fresh_model(device, args.seed), Path(tmp), device, batch_size,
                                                   args.lr, args.seed),
                     "vaecourse fit": CourseLoop(fresh_model(device, args.seed), x_train, batch_size, args.lr,
                                                 args.seed)}
            seconds: dict[str, list[float]] = {name: [] for name in loops}
            for epoch in range(args.epochs):
                order = list(loops) if epoch % 2 == 0 else list(loops)[::-1]
                for name in order:
                    seconds[name].append(timed_epoch(loops[name], device))
            for name, loop in loops.items():
                test_loss = -metrics.elbo_estimate(loop.model, x_test, n_samples=10)["elbo"]
                rows.append((batch_size, name, min(seconds[name]), sum(seconds[name]) / len(seconds[name]),
                             test_loss))
                print(f"  batch {batch_size}, {name}: epochs took {', '.join(f'{t:.1f}' for t in seconds[name])} s; "
                      f"test loss {test_loss:.1f}", flush=True)
    n = len(x_train)
    print("\n| batch | loop | s / epoch (best) | s / epoch (mean) | images / s (best) | speed-up (best) "
          "| speed-up (mean) | test loss (−ELBO, nats/image) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for batch_size in args.batch_sizes:
        mine = [r for r in rows if r[0] == batch_size]
        base_best, base_mean = mine[0][2], mine[0][3]
        for _, name, best, mean, test_loss in mine:
            print(f"| {batch_size} | {name} | {best:.2f} | {mean:.2f} | {n / best:,.0f} | {base_best / best:.2f}× "
                  f"| {base_mean / mean:.2f}× | {test_loss:.1f} |")
    print(f"\n{args.epochs} epochs of {n:,} images for each loop, taking turns; best = the fastest epoch (least "
          f"disturbed by other programs). Test loss on {len(x_test):,} test images after the last epoch, 10 z samples "
          "per image (the z = μ shortcut is not used).")


if __name__ == "__main__":
    main()
