"""Train lesson 07's runs and ship them: one small checkpoint and one record per run in data/checkpoints/.

    python scripts/train_collapse.py                          # all six runs, as shipped
    python scripts/train_collapse.py --only free_bits anneal  # some of them

Every run is ``models.MLPVAE`` (784-400-20; ``GaussianMLPVAE`` for the learned variance) trained by
``vaecourse.collapse.train_run`` on MNIST's 60,000 grey-value training digits: Adam 1e-3, batch 128,
20 epochs, seed 0; only the loss differs (``collapse.RUNS``). Each is evaluated on the 10,000 test digits
by ``collapse.evaluate`` (active units, KL, squared error, the true test ELBO under its own decoder and
with a calibrated σ²). The weights are rounded to float16 (half the size; the recorded metrics are those
of the rounded weights) and saved as ``collapse_{run}.pt`` with ``collapse_{run}.json`` beside it:
command, seed, date, device, settings, training time (wall and CPU seconds) and metrics.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import collapse, data, runtime, train  # noqa: E402

CALIBRATION_IMAGES = 10_000   # training images on which the calibrated σ² is measured


def train_one(run: str, digits: data.Digits, args: argparse.Namespace, device: torch.device) -> dict:
    """Train, evaluate and save one run; return its record."""
    runtime.seed_everything(args.seed)
    model = collapse.make_model(run, digits.x_train)
    print(f"{run}: {collapse.RUNS[run]}; {args.epochs} epochs on {len(digits.x_train):,} images", flush=True)
    with train.Stopwatch() as training:
        history = collapse.train_run(model, run, digits.x_train, epochs=args.epochs, seed=args.seed)
    model = model.half().float()  # the shipped weights are float16: measure what is shipped
    with train.Stopwatch() as evaluation:
        result = collapse.evaluate(model, run, digits.x_test, digits.x_train[:CALIBRATION_IMAGES], seed=args.seed)
    record = {
        **train.provenance(args.seed, device, args.note),
        "data": digits.source, "train_images": len(digits.x_train), "test_images": len(digits.x_test),
        "run": run, "loss": collapse.RUNS[run], "model": type(model).__name__ + " 784-400-20",
        "epochs": args.epochs, "batch_size": collapse.BATCH_SIZE, "lr": collapse.LR,
        **training.record(), "evaluation_seconds": round(evaluation.wall, 1),
        "final_train_loss": round(history["loss"][-1], 4),
        **{key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()},
    }
    path = collapse.checkpoint_path(run, Path(args.out))
    train.save_shipped(path, model, history, record, meta={
        "note": f"{args.epochs} epochs; {result['active_units']} active latents", "run": run})
    print(f"{run}: {result['active_units']} active latents, KL {result['kl']:.2f}, squared error "
          f"{result['squared_error']:.2f}, test ELBO {result['elbo']:.1f} (with the calibrated σ² "
          f"{result['calibrated_sigma2']:.4f}: {result['calibrated_elbo']:.1f}); training {training.wall / 60:.1f} min "
          f"-> {path}", flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(collapse.RUNS), default=list(collapse.RUNS))
    parser.add_argument("--epochs", type=int, default=collapse.EPOCHS)
    train.add_script_arguments(parser, collapse.CHECKPOINTS)
    args = parser.parse_args()
    device = train.script_device(args)
    digits = data.load_mnist(device)
    start = time.perf_counter()
    for run in args.only:
        train_one(run, digits, args, device)
    print(f"All {len(args.only)} runs: {(time.perf_counter() - start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
