"""Train the MNIST models that lessons 01, 05 and 10 load, and ship them: small checkpoints and a record of each.

    python scripts/train_checkpoints.py                    # all nine models, as shipped
    python scripts/train_checkpoints.py --only z2_beta1    # one of them
    python scripts/train_checkpoints.py --pytorch-examples # reproduce pytorch/examples' test loss

``deep_ae`` is lesson 01's deep autoencoder (``ae_mnist``: 784-512-128-2, squared error, 10 epochs) and
``classifier`` the digit classifier that judges generated digits (``classifier``: a small CNN, 3 epochs);
their records give the test error and the test accuracy. The VAEs are lesson 05's ``models.MLPVAE``
(784-400-latent) trained by ``vae_mnist.train_vae`` (dynamically binarized digits, Adam 1e-3, batch 128,
50 epochs, seed 0): the 20-D model with β ∈ {0.25, 1, 4, 16} (β = 1 is the lesson's main model) and a 2-D
model (β = 1) for the latent map. Each is evaluated on the fixed binarization of MNIST's 10,000 test
digits: the test ELBO (10 z samples per image), the IWAE bound (k = 5000 for the main model, 1000 for the
2-D one, 100 for the others) and the active units. All weights are rounded to float16 (half the size; the
recorded metrics are those of the rounded weights) and saved with a ``.json`` record beside each: command,
seed, date, device, data, settings, metrics.

Lesson 10's two models are trained like lesson 05's main VAE (dynamic binarization, Adam 1e-3, batch 128,
50 epochs, seed 0): ``detector`` is ``models.MLPVAE`` on the training digits without the 4s
(``anomaly.train_without``; its record gives the test ELBO of the other digits and of the 4s and the AUROC
of telling 4s from the others by −ELBO), ``cvae`` the conditional VAE ``models.ConditionalVAE`` on all
labelled digits (``cvae_mnist.train_cvae``; its record gives the test ELBO of log p(x | y) and, when the
digit classifier is there, the share of generated digits it reads as the digit asked for).

``--pytorch-examples`` instead trains the reference setup of pytorch/examples ``vae`` (grey values, no
binarization, 10 epochs on full MNIST) and prints its test loss (their own loop reaches 105.6;
``scripts/bench_fit.py`` times both); nothing is saved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import (  # noqa: E402
    ae_mnist,
    anomaly,
    classifier,
    cvae_mnist,
    data,
    losses,
    metrics,
    models,
    runtime,
    train,
    vae_mnist,
)

MODELS = {f"z20_beta{beta:g}": (20, beta) for beta in vae_mnist.SWEEP_BETAS} | {"z2_beta1": (2, 1.0)}
OTHERS = ("deep_ae", "classifier", "detector", "cvae")
IWAE_K = {"z20_beta1": 5000, "z2_beta1": 1000}   # importance samples per test image; 100 for the others


def save_shipped(path: Path, model: torch.nn.Module, history: train.History, record: dict, note: str) -> None:
    """Save ``model`` as float16 with its history, and ``record`` as the ``.json`` beside it."""
    train.save_shipped(path, model, history, record, meta={"note": note})
    print(f"{path.name}: {note} -> {path}", flush=True)


def train_deep_ae(digits: data.Digits, args: argparse.Namespace, device: torch.device) -> None:
    """Lesson 01's deep autoencoder; the record gives its test squared error per image."""
    runtime.seed_everything(args.seed)
    model = ae_mnist.make_deep_autoencoder().to(device)
    with train.Stopwatch() as clock:
        history = ae_mnist.train_deep_autoencoder(model, digits.x_train, seed=args.seed)
    model = model.half().float()
    with torch.no_grad():
        test_error = losses.squared_error(model(digits.x_test), digits.x_test).mean().item()
    record = {**train.provenance(args.seed, device, args.note), "data": digits.source,
              "train_images": len(digits.x_train), "model": "MLPAutoencoder 784-512-128-2-128-512-784, sigmoid output",
              "epochs": ae_mnist.EPOCHS, "batch_size": 128, "lr": ae_mnist.LR, **clock.record(),
              "final_train_loss": round(history["loss"][-1], 3), "test_squared_error": round(test_error, 3)}
    save_shipped(Path(args.out) / ae_mnist.CHECKPOINT.name, model, history, record,
                 f"{ae_mnist.EPOCHS} epochs; test squared error {test_error:.2f} per image")


def train_classifier(digits: data.Digits, args: argparse.Namespace, device: torch.device) -> None:
    """The digit classifier; the record gives its test accuracy."""
    runtime.seed_everything(args.seed)
    model = classifier.DigitClassifier().to(device)
    with train.Stopwatch() as clock:
        history = classifier.train_classifier(model, digits.x_train, digits.y_train, seed=args.seed)
    model = model.half().float()
    predicted = classifier.predict_proba(model, digits.x_test).argmax(dim=1)
    accuracy = (predicted == digits.y_test).double().mean().item()
    record = {**train.provenance(args.seed, device, args.note), "data": digits.source,
              "train_images": len(digits.x_train), "model": "DigitClassifier (conv 16, conv 32, linear)",
              "epochs": len(history["loss"]), "batch_size": 128, "lr": 1e-3, **clock.record(),
              "test_accuracy": round(accuracy, 4), "test_images": len(digits.x_test)}
    save_shipped(Path(args.out) / classifier.CHECKPOINT.name, model, history, record,
                 f"test accuracy {accuracy:.2%}")


def lesson10_record(digits: data.Digits, args: argparse.Namespace, device: torch.device, train_images: int,
                    epochs: int) -> dict:
    """The fields that lesson 10's two records share: provenance, data, the recipe."""
    return {**train.provenance(args.seed, device, args.note), "data": digits.source, "train_images": train_images,
            "test_set": f"{len(digits.x_test)} test images, binarized once with seed {vae_mnist.TEST_SEED}",
            "epochs": epochs, "batch_size": vae_mnist.BATCH_SIZE, "lr": vae_mnist.LR,
            "training": "dynamic binarization (a fresh Bernoulli draw per batch)"}


def train_detector(digits: data.Digits, args: argparse.Namespace, device: torch.device) -> None:
    """The VAE trained without the held-out digit; the record gives ELBOs and the held-out digit's AUROC."""
    runtime.seed_everything(args.seed)
    model = models.MLPVAE().to(device)
    held_out, epochs = anomaly.HELD_OUT, args.epochs or vae_mnist.EPOCHS
    with train.Stopwatch() as clock:
        history = anomaly.train_without(model, digits.x_train, digits.y_train, held_out, epochs, args.seed)
    model = model.half().float()
    x_test = vae_mnist.fixed_binarization(digits.x_test)
    seen = digits.y_test != held_out
    recon, kl = metrics.elbo_terms_per_image(model, x_test, seed=args.seed)
    elbo = -(recon + kl)
    auroc = metrics.auroc(-elbo[seen], -elbo[~seen])
    record = {**lesson10_record(digits, args, device, int((digits.y_train != held_out).sum()), epochs),
              "model": "MLPVAE 784-400-20, Bernoulli decoder", "held_out_digit": held_out, **clock.record(),
              "final_train_loss": round(history["loss"][-1], 2),
              "test_elbo_other_digits": round(float(elbo[seen].mean()), 3),
              f"test_elbo_{held_out}s": round(float(elbo[~seen].mean()), 3),
              f"auroc_{held_out}s_by_minus_elbo": round(auroc, 4)}
    save_shipped(anomaly.checkpoint_path(held_out, Path(args.out)), model, history, record,
                 f"{epochs} epochs without the {held_out}s; AUROC {auroc:.3f} for {held_out}s by −ELBO")


def train_cvae(digits: data.Digits, args: argparse.Namespace, device: torch.device) -> None:
    """The conditional VAE; the record gives its test ELBO and, with the classifier, how often it draws the
    digit asked for."""
    runtime.seed_everything(args.seed)
    model, epochs = models.ConditionalVAE().to(device), args.epochs or vae_mnist.EPOCHS
    with train.Stopwatch() as clock:
        history = cvae_mnist.train_cvae(model, digits.x_train, digits.y_train, epochs, args.seed)
    model = model.half().float()
    x_test = vae_mnist.fixed_binarization(digits.x_test)
    result = cvae_mnist.conditional_elbo(model, x_test, digits.y_test, seed=args.seed)
    record = {**lesson10_record(digits, args, device, len(digits.x_train), epochs),
              "model": "ConditionalVAE 784+10-400-20, 20+10-400-784, Bernoulli decoder", **clock.record(),
              "final_train_loss": round(history["loss"][-1], 2),
              **{f"test_{key}": round(value, 3) for key, value in result.items()}}
    note = f"{epochs} epochs; test ELBO of log p(x|y) {result['elbo']:.1f}"
    if classifier.CHECKPOINT.exists():
        asked = torch.arange(10, device=device).repeat_interleave(1000)
        judge = classifier.load_classifier(device)
        predicted = classifier.predict_proba(judge, cvae_mnist.generate(model, asked, seed=args.seed)).argmax(dim=1)
        accuracy = float((predicted == asked).double().mean())
        record.update({"generated_digits": len(asked), "generated_classified_as_asked": round(accuracy, 4)})
        note += f"; {accuracy:.1%} of generated digits classified as asked"
    save_shipped(Path(args.out) / cvae_mnist.CHECKPOINT.name, model, history, record, note)


def train_one(name: str, digits: data.Digits, args: argparse.Namespace, device: torch.device) -> dict:
    """Train, evaluate and save one model; return its record."""
    latent_dim, beta = MODELS[name]
    runtime.seed_everything(args.seed)
    model = models.MLPVAE(latent_dim=latent_dim).to(device)
    epochs = args.epochs or vae_mnist.EPOCHS
    print(f"{name}: {epochs} epochs on {len(digits.x_train):,} images", flush=True)
    with train.Stopwatch() as training:
        history = vae_mnist.train_vae(model, digits.x_train, beta=beta, epochs=epochs, seed=args.seed)
    model = model.half().float()  # the shipped weights are float16: measure what is shipped
    x_test = vae_mnist.fixed_binarization(digits.x_test)
    k = args.iwae_k if name == "z20_beta1" and args.iwae_k else IWAE_K.get(name, 100)
    with train.Stopwatch() as evaluation:
        result = vae_mnist.evaluate(model, x_test, k=k, seed=args.seed)
    record = {
        **train.provenance(args.seed, device, args.note),
        "data": digits.source, "train_images": len(digits.x_train),
        "test_set": f"{len(x_test)} test images, binarized once with seed {vae_mnist.TEST_SEED}",
        "model": f"MLPVAE 784-400-{latent_dim}, Bernoulli decoder", "latent_dim": latent_dim, "beta": beta,
        "epochs": epochs, "batch_size": vae_mnist.BATCH_SIZE, "lr": vae_mnist.LR,
        "training": "dynamic binarization (a fresh Bernoulli draw per batch)",
        **training.record(), **evaluation.record("evaluation"),
        "final_train_loss": round(history["loss"][-1], 2),
        **{key: round(value, 3) if isinstance(value, float) else value for key, value in result.items()},
    }
    path = vae_mnist.checkpoint_path(latent_dim, beta, Path(args.out))
    train.save_shipped(path, model, history, record, meta={
        "note": f"{epochs} epochs on {digits.source}; test ELBO {result['elbo']:.1f}", "beta": beta})
    print(f"{name}: test ELBO {result['elbo']:.2f} (recon {result['recon']:.2f}, KL {result['kl']:.2f}), "
          f"IWAE (k={k}) {result['iwae']:.2f} vs ELBO {result['elbo_same_images']:.2f} on the same images, "
          f"active units {result['active_units']}; training {training.wall / 60:.1f} min -> {path}", flush=True)
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
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS) + list(OTHERS),
                        default=list(OTHERS) + list(MODELS))
    parser.add_argument("--epochs", type=int, default=None, help="VAE epochs, lesson 10's models' too "
                        "(default: vae_mnist.EPOCHS)")
    parser.add_argument("--iwae-k", type=int, default=None, help="importance samples for the main model (5000)")
    parser.add_argument("--pytorch-examples", action="store_true",
                        help="reproduce the test loss of pytorch/examples (full MNIST, grey values, 10 epochs)")
    train.add_script_arguments(parser, vae_mnist.CHECKPOINTS)
    args = parser.parse_args()
    device = train.script_device(args)
    if args.pytorch_examples:
        pytorch_examples(device, args.seed)
        return
    digits = data.load_mnist(device)
    for name in args.only:
        if name == "deep_ae":
            train_deep_ae(digits, args, device)
        elif name == "classifier":
            train_classifier(digits, args, device)
        elif name == "detector":
            train_detector(digits, args, device)
        elif name == "cvae":
            train_cvae(digits, args, device)
        else:
            train_one(name, digits, args, device)


if __name__ == "__main__":
    main()
