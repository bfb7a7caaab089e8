"""Train lesson 05's models and ship them: small checkpoints and a record of each in data/checkpoints/.

    python scripts/train_checkpoints.py                    # all five models, as shipped
    python scripts/train_checkpoints.py --only z2_beta1    # one of them
    python scripts/train_checkpoints.py --pytorch-examples # reproduce pytorch/examples' test loss (full MNIST)

The models are lesson 05's ``models.MLPVAE`` (784-400-latent) trained by ``vae_mnist.train_vae``
(dynamically binarized digits, Adam 1e-3, batch 128, seed 0): the 20-D model with β ∈ {0.25, 1, 4, 16}
(β = 1 is the lesson's main model) and a 2-D model (β = 1) for the latent map. Each is evaluated on the
fixed binarization of the test set: the test ELBO (10 z samples per image), the IWAE bound (k = 5000 for
the β = 1 models) and the active units. Weights are rounded to float16 (half the size; the recorded
metrics are those of the rounded weights) and saved as ``vae_mnist_z{latent}_beta{β}.pt`` with
``vae_mnist_z{latent}_beta{β}.json`` beside it: command, seed, date, device, data, settings, metrics.

``--pytorch-examples`` instead trains the reference setup of pytorch/examples ``vae`` (grey values, no
binarization, 10 epochs on full MNIST) and prints its test loss, which should be ≤ 106 (they report
105.6); nothing is saved.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import data, models, runtime, train, vae_mnist  # noqa: E402

MODELS = {f"z20_beta{beta:g}": (20, beta) for beta in vae_mnist.SWEEP_BETAS} | {"z2_beta1": (2, 1.0)}


def train_one(name: str, digits: data.Digits, args: argparse.Namespace, device: torch.device) -> dict:
    """Train, evaluate and save one model; return its record."""
    latent_dim, beta = MODELS[name]
    runtime.seed_everything(args.seed)
    model = models.MLPVAE(latent_dim=latent_dim).to(device)
    epochs = args.epochs or vae_mnist.epochs_for(len(digits.x_train))
    print(f"{name}: {epochs} epochs on {len(digits.x_train):,} images", flush=True)
    start = time.perf_counter()
    history = vae_mnist.train_vae(model, digits.x_train, beta=beta, epochs=epochs, seed=args.seed)
    train_seconds = time.perf_counter() - start
    model = model.half().float()  # the shipped weights are float16: measure what is shipped
    x_test = vae_mnist.fixed_binarization(digits.x_test)
    k = args.iwae_k if beta == 1.0 else args.sweep_iwae_k
    start = time.perf_counter()
    result = vae_mnist.evaluate(model, x_test, k=k, seed=args.seed)
    eval_seconds = time.perf_counter() - start
    record = {
        **train.provenance(args.seed, device, args.note),
        "data": digits.source, "train_images": len(digits.x_train),
        "test_set": f"{len(x_test)} test images, binarized once with seed {vae_mnist.TEST_SEED}",
        "model": f"MLPVAE 784-400-{latent_dim}, Bernoulli decoder", "latent_dim": latent_dim, "beta": beta,
        "epochs": epochs, "batch_size": vae_mnist.BATCH_SIZE, "lr": vae_mnist.LR,
        "training": "dynamic binarization (a fresh Bernoulli draw per batch)",
        "training_seconds": round(train_seconds, 1), "evaluation_seconds": round(eval_seconds, 1),
        "final_train_loss": round(history["loss"][-1], 2),
        **{key: round(value, 3) if isinstance(value, float) else value for key, value in result.items()},
    }
    path = vae_mnist.checkpoint_path(latent_dim, beta, Path(args.out))
    record["weights_sha256"] = train.save_checkpoint(path, copy.deepcopy(model).half(), history, meta={
        "note": f"{epochs} epochs on the {digits.source}; test ELBO {result['elbo']:.1f}", "beta": beta})
    train.save_record(path, record)
    print(f"{name}: test ELBO {result['elbo']:.2f} (recon {result['recon']:.2f}, KL {result['kl']:.2f}), "
          f"IWAE (k={k}) {result['iwae']:.2f} vs ELBO {result['elbo_same_images']:.2f} on the same images, "
          f"active units {result['active_units']}; training {train_seconds / 60:.1f} min -> {path}", flush=True)
    return record


def pytorch_examples(device: torch.device, seed: int) -> None:
    """The reference run of pytorch/examples ``vae``: 10 epochs on grey values; print the test loss."""
    digits = data.load_mnist(device)
    test_loss = vae_mnist.pytorch_examples_test_loss(digits, seed)
    verdict = "within" if test_loss <= 106 else "ABOVE"
    print(f"Test loss after 10 epochs: {test_loss:.1f} nats per image ({verdict} the target of 106; "
          "pytorch/examples reports 105.6).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=None, help="default: vae_mnist.epochs_for(training set size)")
    parser.add_argument("--iwae-k", type=int, default=5000, help="importance samples for the β = 1 models")
    parser.add_argument("--sweep-iwae-k", type=int, default=100, help="importance samples for the other β")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--note", default="", help="free text stored in the record, e.g. that the machine was shared")
    parser.add_argument("--out", default=str(vae_mnist.CHECKPOINTS))
    parser.add_argument("--pytorch-examples", action="store_true",
                        help="reproduce the test loss of pytorch/examples (full MNIST, grey values, 10 epochs)")
    args = parser.parse_args()
    train.check_writable(Path(args.out))  # before hours of training, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.get_device(args.device)
    print(runtime.describe_device(device), flush=True)
    if args.pytorch_examples:
        pytorch_examples(device, args.seed)
        return
    digits = data.load_mnist(device)
    for name in args.only:
        train_one(name, digits, args, device)


if __name__ == "__main__":
    main()
