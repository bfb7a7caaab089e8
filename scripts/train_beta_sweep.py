"""Train the β sweep of lesson 06 and ship it: one small checkpoint and one record per β in data/checkpoints/.

    python scripts/train_beta_sweep.py                       # β = 1 2 4 8 16 at 32×32, as shipped
    python scripts/train_beta_sweep.py --betas 4 --steps 500  # a quick look
    python scripts/train_beta_sweep.py --resolution 64        # the original dSprites size (use a GPU)

Every model is the Burgess et al. (2018) conv VAE trained by ``vaecourse.beta_vae.train_beta_vae``
(fresh random sprites, batch 128, Adam) for a fixed number of steps, so the sweep's members are
comparable; MIG on 10,000 sprites is logged a few times during training. The weights are then rounded
to float16 (half the file size; the recorded metrics are those of the rounded weights) and saved as
``beta_vae_{R}px_beta{β}.pt``, with ``beta_vae_{R}px_beta{β}.json`` beside it recording the command,
seed, date, device, settings, final metrics and training time.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import beta_vae, models, runtime, train  # noqa: E402


def train_one(beta: float, args: argparse.Namespace, device: torch.device) -> tuple[dict, train.History]:
    """Train, evaluate and save the model for one β; return its record and its training history."""
    runtime.seed_everything(args.seed)
    model = models.ConvVAE(args.resolution).to(device)
    print(f"β = {beta:g}: {args.steps} steps of batch {args.batch_size} at {args.resolution}×{args.resolution}",
          flush=True)
    history = beta_vae.train_beta_vae(model, beta, steps=args.steps, evaluations=args.evaluations,
                                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                      mig_samples=args.mig_samples)
    train_seconds = history["train_s"][-1]
    model = model.half().float()  # the shipped weights are float16: measure what is shipped
    result = beta_vae.evaluate(model)
    record = {
        **train.provenance(args.seed, device, args.note),
        "resolution": args.resolution, "beta": beta, "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "training_seconds": round(train_seconds, 1),
        **result,
    }
    path = beta_vae.checkpoint_path(beta, args.resolution, Path(args.out))
    record["weights_sha256"] = train.save_checkpoint(path, copy.deepcopy(model).half(), history, meta={
        "note": f"β={beta:g}, {args.steps} steps, MIG {result['mig']:.2f}", "beta": beta})
    train.save_record(path, record)
    print(f"β = {beta:g}: recon {result['recon']:.1f}  KL {result['kl']:.1f}  active units {result['active_units']}"
          f"  MIG {result['mig']:.3f}  training {train_seconds / 60:.1f} min -> {path}", flush=True)
    return record, history


def print_mig_over_time(histories: dict[float, train.History]) -> None:
    """MIG as logged during training against training minutes (time spent measuring MIG excluded),
    one line per β, and when each β first reached MIG ≥ 0.3."""
    print("\nMIG during training (minutes of training: MIG)")
    for beta, history in histories.items():
        points = "  ".join(f"{s / 60:.1f}: {m:.2f}" for s, m in zip(history["train_s"], history["MIG"]))
        reached = next((s for s, m in zip(history["train_s"], history["MIG"]) if m >= 0.3), None)
        when = f"MIG ≥ 0.3 after {reached / 60:.1f} min" if reached is not None else "MIG < 0.3 throughout"
        print(f"β = {beta:g}: {points}   ({when})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--betas", type=float, nargs="+", default=list(beta_vae.SWEEP_BETAS))
    parser.add_argument("--resolution", type=int, default=32, choices=[32, 64])
    parser.add_argument("--steps", type=int, default=beta_vae.STEPS, help="training steps per model")
    parser.add_argument("--evaluations", type=int, default=9, help="how many times MIG is logged during training")
    parser.add_argument("--batch-size", type=int, default=beta_vae.BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=beta_vae.LR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mig-samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--note", default="", help="free text stored in the record, e.g. that the machine was shared")
    parser.add_argument("--out", default=str(beta_vae.CHECKPOINTS))
    args = parser.parse_args()
    train.check_writable(Path(args.out))  # before hours of training, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.get_device(args.device)
    print(runtime.describe_device(device), flush=True)
    histories = {beta: train_one(beta, args, device)[1] for beta in args.betas}
    print_mig_over_time(histories)


if __name__ == "__main__":
    main()
