"""Benchmark: how soon vaecourse's ``fit`` reaches pytorch/examples' test loss, against their own training loop.

    python scripts/bench_fit.py                     # `make bench`: batch 128, until both reach 105.6 (≥ 10 epochs)
    python scripts/bench_fit.py --device cuda       # on a GPU

pytorch/examples ``vae/main.py`` trains the 784-400-20 VAE on MNIST's grey values (binary cross-entropy
summed over pixels, plus the KL), Adam 10⁻³, batches of 128, 10 epochs; run on full MNIST with their own
loop it reaches a test loss of 105.6 nats per image (measured on the course's 2-core reference machine; their
README quotes no number). This script trains that model twice from the same initial weights, with the same
loss, batch size, optimiser and seed, on full MNIST, in one process; only the plumbing differs:

* **tutorial loop** (pytorch/examples ``vae/main.py``): ``torchvision.datasets.MNIST`` with
  ``transforms.ToTensor()`` (a PIL image per digit), a shuffling ``DataLoader``, ``.to(device)`` for every
  batch and ``loss.item()`` after every step;
* **vaecourse** ``fit``: the whole training set as one tensor on the device, batches are slices of it, and
  the logged numbers are read back once per epoch.

Both read the same bytes: the course's ``data/mnist.npz`` is written as MNIST's IDX files into a temporary
folder and read back by ``torchvision.datasets.MNIST`` itself. The loops take turns, one epoch at a time,
so that other programs on the machine slow both alike. After every epoch both are scored with the same
test loss (−ELBO on the 10,000 test digits, 10 z samples per image; pytorch/examples uses 1, which has the
same expectation and more noise); the clock counts training only. The script prints, for each loop, the
training seconds until the test loss first reaches the target, the speed ratio, and the final test losses.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import data, losses, metrics, models, runtime, train  # noqa: E402

TARGET = 105.6        # pytorch/examples' test loss after 10 epochs on full MNIST (measured with their loop)
REFERENCE_EPOCHS = 10  # pytorch/examples trains for 10 epochs


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


def test_loss(model: torch.nn.Module, x_test: torch.Tensor) -> float:
    """−ELBO per test image (grey values, 10 z samples per image): the loss pytorch/examples reports."""
    return -metrics.elbo_estimate(model, x_test, n_samples=10)["elbo"]


def race(loops: dict, x_test: torch.Tensor, device: torch.device, target: float, min_epochs: int,
         max_epochs: int) -> dict[str, dict]:
    """Train the loops epoch by epoch, taking turns, until every one has reached ``target`` and run
    ``min_epochs``; return per loop the training seconds and test loss after every epoch."""
    runs = {name: {"seconds": [], "test_loss": []} for name in loops}
    for epoch in range(max_epochs):
        order = list(loops) if epoch % 2 == 0 else list(loops)[::-1]
        for name in order:
            runs[name]["seconds"].append(timed_epoch(loops[name], device))
            runs[name]["test_loss"].append(test_loss(loops[name].model, x_test))
        print(f"  epoch {epoch + 1}: " + "; ".join(
            f"{name} {run['seconds'][-1]:.1f} s, test loss {run['test_loss'][-1]:.1f}" for name, run in runs.items()),
            flush=True)
        reached = all(min(run["test_loss"]) <= target for run in runs.values())
        if reached and epoch + 1 >= min_epochs:
            break
    return runs


def time_to_target(run: dict, target: float) -> tuple[int | None, float | None]:
    """(epochs, training seconds) until the test loss first reached ``target``; (None, None) if it never did."""
    for epoch, loss in enumerate(run["test_loss"], start=1):
        if loss <= target:
            return epoch, sum(run["seconds"][:epoch])
    return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=TARGET, help="test loss to reach (default 105.6)")
    parser.add_argument("--max-epochs", type=int, default=20, help="give up after this many epochs per loop")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.get_device(args.device)
    started = time.perf_counter()
    arrays = data.read_npz(data.REPO_DATA_DIR / data.MNIST_FILE)
    x_test = torch.from_numpy(arrays["x_test"]).reshape(-1, 784).to(device=device, dtype=torch.float32) / 255
    x_train = torch.from_numpy(arrays["x_train"]).reshape(-1, 784).to(device=device, dtype=torch.float32) / 255
    print(f"Machine: {runtime.device_record(device)}; torch {torch.__version__}")
    print(f"Data: full MNIST ({len(x_train):,} train / {len(x_test):,} test), grey values")
    print(f"Model: MLPVAE 784-400-20, grayscale BCE + KL (per image), Adam lr {args.lr:g}, batch {args.batch_size}, "
          f"seed {args.seed}; target test loss {args.target}\n")
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist_raw(Path(tmp), arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
        loops = {"tutorial loop": TutorialLoop(fresh_model(device, args.seed), Path(tmp), device, args.batch_size,
                                               args.lr, args.seed),
                 "vaecourse fit": CourseLoop(fresh_model(device, args.seed), x_train, args.batch_size, args.lr,
                                             args.seed)}
        runs = race(loops, x_test, device, args.target, REFERENCE_EPOCHS, args.max_epochs)
    print(f"\n| loop | s / epoch (mean) | epochs to ≤ {args.target} | training s to ≤ {args.target} | speed-up "
          f"| test loss after {REFERENCE_EPOCHS} epochs | best test loss |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    reference = time_to_target(runs["tutorial loop"], args.target)[1]
    for name, run in runs.items():
        epochs, seconds = time_to_target(run, args.target)
        speed_up = f"{reference / seconds:.2f}×" if reference and seconds else "n/a"
        after = run["test_loss"][REFERENCE_EPOCHS - 1] if len(run["test_loss"]) >= REFERENCE_EPOCHS else float("nan")
        print(f"| {name} | {sum(run['seconds']) / len(run['seconds']):.2f} | {epochs or 'never'} | "
              f"{f'{seconds:.1f}' if seconds else 'never'} | {speed_up} | {after:.1f} | {min(run['test_loss']):.1f} |")
    _, course_seconds = time_to_target(runs["vaecourse fit"], args.target)
    if reference and course_seconds:
        print(f"\nvaecourse's fit reached a test loss of {args.target} {reference / course_seconds:.2f}× sooner "
              f"({course_seconds:.1f} s against {reference:.1f} s of training).")
    print(f"The whole benchmark took {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
