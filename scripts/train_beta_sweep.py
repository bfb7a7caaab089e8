"""Train the β sweep of lesson 06 and ship it: one small checkpoint and one record per β and seed in data/checkpoints/.

    python scripts/train_beta_sweep.py --threads 2                      # β = 1 2 4 8 16, seed 0, as shipped
    python scripts/train_beta_sweep.py --betas 1 4 --seeds 1 2 --threads 2  # the other seeds shipped for β = 1, 4
    python scripts/train_beta_sweep.py --betas 4 --steps 500             # a quick look
    python scripts/train_beta_sweep.py --resolution 64                   # the original dSprites size (use a GPU)

Every model is the Burgess et al. (2018) conv VAE trained by ``vaecourse.beta_vae.train_beta_vae``
(fresh random sprites, batch 128, Adam) for a fixed number of steps, so the sweep's members are
comparable; MIG on 10,000 sprites is logged a few times during training. The weights are then rounded
to float16 (half the file size; the recorded metrics are those of the rounded weights) and saved as
``beta_vae_{R}px_beta{β}_seed{s}.pt``, with a ``.json`` of the same name beside it recording the
command, seed, date, device, settings, final metrics, the training time (without the time spent
measuring MIG), steps per second, and the machine's load average over the last 5 minutes of training
(on a 2-core machine, about 2 means the run had the machine to itself).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import beta_vae, models, runtime, train  # noqa: E402


def train_one(beta: float, seed: int, args: argparse.Namespace, device: torch.device, *,
              loss_fn: train.LossFn | None = None, path: Path | None = None,
              evaluate: Callable[[models.ConvVAE], dict] = beta_vae.evaluate) -> tuple[dict, train.History]:
    """Train, evaluate and save the model for one β and seed; return its record and its training history.

    By default a β-VAE at ``beta_vae.checkpoint_path``; lesson 09's script passes the β-TCVAE loss, its
    own checkpoint path and an evaluation that adds the KL's three terms, and shares everything else.
    """
    runtime.seed_everything(seed)
    model = models.ConvVAE(args.resolution).to(device)
    print(f"β = {beta:g}, seed {seed}: {args.steps} steps of batch {args.batch_size} at "
          f"{args.resolution}×{args.resolution}", flush=True)
    history = beta_vae.train_beta_vae(model, beta, steps=args.steps, evaluations=args.evaluations,
                                      batch_size=args.batch_size, lr=args.lr, seed=seed,
                                      mig_samples=args.mig_samples, loss_fn=loss_fn)
    load = os.getloadavg()[1] if hasattr(os, "getloadavg") else None  # the mean over the last 5 minutes
    train_seconds = history["train_s"][-1]
    model = model.half().float()  # the shipped weights are float16: measure what is shipped
    result = evaluate(model)
    record = {
        **train.provenance(seed, device, args.note),
        "resolution": args.resolution, "beta": beta, "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "training_seconds": round(train_seconds, 1),
        "steps_per_second": round(args.steps / train_seconds, 2),
        "load_average_5min": None if load is None else round(load, 2),
        **result,
    }
    path = path or beta_vae.checkpoint_path(beta, args.resolution, Path(args.out), seed=seed)
    train.save_shipped(path, model, history, record, meta={
        "note": f"β={beta:g}, seed {seed}, {args.steps} steps, MIG {result['mig']:.2f}", "beta": beta, "seed": seed})
    print(f"β = {beta:g}, seed {seed}: recon {result['recon']:.1f}  KL {result['kl']:.1f}  active units "
          f"{result['active_units']}  MIG {result['mig']:.3f}  training {train_seconds / 60:.1f} min "
          f"({record['steps_per_second']:.1f} steps/s, load {record['load_average_5min']}) -> {path}", flush=True)
    return record, history


def print_mig_over_time(histories: dict[tuple[float, int], train.History]) -> None:
    """MIG as logged during training against training steps and minutes (time spent measuring MIG
    excluded), one line per β and seed, and when each run first reached MIG ≥ 0.3."""
    print("\nMIG during training (steps, minutes of training: MIG)")
    for (beta, seed), history in histories.items():
        points = "  ".join(f"{n}, {s / 60:.1f}: {m:.2f}"
                           for n, s, m in zip(history["step"], history["train_s"], history["MIG"]))
        reached = next((n for n, m in zip(history["step"], history["MIG"]) if m >= 0.3), None)
        when = f"MIG ≥ 0.3 after {reached} steps" if reached is not None else "MIG < 0.3 throughout"
        print(f"β = {beta:g}, seed {seed}: {points}   ({when})")


def make_parser(description: str, betas: list[float]) -> argparse.ArgumentParser:
    """The command line shared by the sprite-training scripts (this one and lesson 09's train_tcvae.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--betas", type=float, nargs="+", default=betas)
    parser.add_argument("--resolution", type=int, default=32, choices=[32, 64])
    parser.add_argument("--steps", type=int, default=beta_vae.STEPS, help="training steps per model")
    parser.add_argument("--evaluations", type=int, default=9, help="how many times MIG is logged during training")
    parser.add_argument("--batch-size", type=int, default=beta_vae.BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=beta_vae.LR)
    parser.add_argument("--mig-samples", type=int, default=10_000)
    train.add_script_arguments(parser, beta_vae.CHECKPOINTS, several_seeds=True)
    return parser


def main() -> None:
    args = make_parser(__doc__.split("\n\n")[0], list(beta_vae.SWEEP_BETAS)).parse_args()
    device = train.script_device(args)
    histories = {(beta, seed): train_one(beta, seed, args, device)[1] for beta in args.betas for seed in args.seeds}
    print_mig_over_time(histories)


if __name__ == "__main__":
    main()
