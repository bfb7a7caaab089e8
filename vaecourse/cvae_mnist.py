"""Lesson 10: the conditional VAE on MNIST — its training recipe, sampling a chosen digit, style transfer.

The model is ``models.ConditionalVAE`` (lesson 05's 784-400-20 VAE with the label fed to both networks),
trained like lesson 05's VAE (dynamic binarization, Adam 10⁻³, batches of 128, ``vae_mnist.EPOCHS``
epochs) on the labelled training digits. Because the decoder is told the class, the code z is free to
hold everything else — thickness, slant, size: the *style* — and :func:`transfer_style` decodes one
digit's style as every other digit.

The shipped model is ``data/checkpoints/cvae_mnist_z20.pt``, made by
``scripts/train_checkpoints.py --only cvae`` with a ``.json`` record beside it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vaecourse import data, losses, metrics, models, train, vae_mnist
from vaecourse.train import CHECKPOINTS

CHECKPOINT = CHECKPOINTS / "cvae_mnist_z20.pt"
DIGITS = tuple(range(10))


def conditional_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``fit`` loss over a batch of (grey images, labels): binarize the images afresh (a new coin flip per
    pixel, as in lesson 05) and return the negative ELBO of p(x | y)."""
    images, labels = batch
    x = data.binarize_dynamic(images)
    logits, mu, logvar = model(x, labels)
    return losses.negative_elbo(logits, x, mu, logvar)


def train_cvae(model: models.ConditionalVAE, x_train: torch.Tensor, y_train: torch.Tensor,
               epochs: int = vae_mnist.EPOCHS, seed: int = 0, verbose: bool = True) -> train.History:
    """Train on ``x_train`` (grey values) with their labels: ``fit`` serves (images, labels) batches."""
    data.check_grey_values(x_train, "train_cvae binarizes every batch with them as probabilities")
    models.check_labels(y_train, model.n_classes)
    return train.fit(model, (x_train, y_train), conditional_loss, epochs=epochs, batch_size=vae_mnist.BATCH_SIZE,
                     lr=vae_mnist.LR, seed=seed, verbose=verbose)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate(model: models.ConditionalVAE, labels: torch.Tensor, seed: int = 0,
             temperature: float = 1.0) -> torch.Tensor:
    """One new digit per entry of ``labels``: z ~ N(0, temperature² I), decoded with that label; pixel
    probabilities (N, 784). Temperature 1 samples the prior; below 1 the codes stay nearer its centre,
    where the training codes are dense: fewer odd digits, less variety."""
    models.check_labels(labels, model.n_classes)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (1 samples the prior), got {temperature}.")
    generator = torch.Generator().manual_seed(seed)
    z = temperature * torch.randn(len(labels), model.latent_dim, generator=generator).to(_device(model))
    with metrics.evaluating(model):
        return torch.sigmoid(model.decode(z, labels.to(_device(model))))


@torch.no_grad()
def transfer_style(model: models.ConditionalVAE, x: torch.Tensor, y: torch.Tensor,
                   targets: tuple[int, ...] = DIGITS) -> torch.Tensor:
    """Encode each image of ``x`` with its own label ``y`` (the posterior mean: its style) and decode that code
    with every label of ``targets``: pixel probabilities (N, len(targets), 784)."""
    models.check_labels(y, model.n_classes)
    targets_tensor = torch.tensor(targets, device=_device(model))
    models.check_labels(targets_tensor, model.n_classes)
    with metrics.evaluating(model):
        mu, _ = model.encode(x.to(_device(model)), y.to(_device(model)))
        codes = mu.repeat_interleave(len(targets), dim=0)             # each code once per target
        labels = targets_tensor.repeat(len(x))                         # targets in order, for each image
        return torch.sigmoid(model.decode(codes, labels)).reshape(len(x), len(targets), -1)


class WithLabels(nn.Module):
    """The conditional VAE with the labels of one batch of images fixed: to ``metrics`` it is an ordinary VAE,
    ``encode(x)`` and ``decode(z)``. Sampled codes arrive sample-major (k × N rows), so the labels repeat."""

    def __init__(self, model: models.ConditionalVAE, labels: torch.Tensor):
        super().__init__()
        self.model, self.labels = model, labels

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x, self.labels)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z, self.labels.repeat(len(z) // len(self.labels)))


def conditional_elbo(model: models.ConditionalVAE, x: torch.Tensor, y: torch.Tensor, n_samples: int = 10,
              batch_size: int = 500, seed: int = 0) -> dict[str, float]:
    """The ELBO of log p(x | y) on binary images ``x`` with labels ``y`` (nats per image, averaged), with its
    two terms, by ``metrics.elbo_terms_per_image`` one batch (and its labels) at a time."""
    models.check_labels(y, model.n_classes)
    if len(x) != len(y):
        raise ValueError(f"give one label per image: {len(x)} images but {len(y)} labels.")
    terms = [metrics.elbo_terms_per_image(WithLabels(model, yb), xb, n_samples, batch_size=len(xb), seed=seed + i)
             for i, (xb, yb) in enumerate(zip(x.split(batch_size), y.split(batch_size)))]
    recon, kl = (float(torch.cat(parts).mean()) for parts in zip(*terms))
    return {"elbo": -(recon + kl), "recon": recon, "kl": kl}


RECORD_KEYS = ("epochs", "device", "training_seconds", "test_elbo", "generated_digits",
               "generated_classified_as_asked")  # what lesson 10 prints from the record


def load_record(folder: Path = CHECKPOINTS) -> dict:
    """The record written beside the shipped conditional VAE by ``scripts/train_checkpoints.py --only cvae``.

    A missing or damaged record, or one without :data:`RECORD_KEYS`, is a ``train.RecordError`` naming the
    file and the fix; the lesson catches it and runs on without the recorded numbers.
    """
    return train.load_record(Path(folder) / CHECKPOINT.name, "run scripts/train_checkpoints.py --only cvae to make it",
                             RECORD_KEYS)
