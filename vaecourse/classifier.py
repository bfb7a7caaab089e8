"""A small digit classifier that judges generated digits: which class each one looks like, and how surely.

"Samples look like digits" is a claim, so the course measures it: a convolutional classifier trained on
MNIST (over 99% test accuracy) reads the generated images, and :func:`judge` reports which classes come
out (a histogram and its entropy: ln 10 ≈ 2.30 nats when all ten are equally common) and how confident
the classifier is about each image. A blob that is no digit gets a low top probability; a generator that
draws only 1s and 7s gets a low entropy. Lessons 01 and 05 use it on autoencoder and VAE samples.

The shipped weights are ``data/checkpoints/digit_classifier.pt`` (made by
``scripts/train_checkpoints.py --only classifier``, with a ``.json`` record beside them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaecourse import train
from vaecourse.train import CHECKPOINTS

CHECKPOINT = CHECKPOINTS / "digit_classifier.pt"
CONFIDENT = 0.9     # a sample counts as a clear digit when the classifier gives its class at least this probability


class DigitClassifier(nn.Module):
    """Two 5×5 convolution blocks (16 and 32 channels, each followed by 2×2 max pooling) and a linear layer:
    (N, 784) grey values in [0, 1] -> (N, 10) class logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),    # 28×28 -> 14×14
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 14×14 -> 7×7
        )
        self.head = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, 28, 28)).flatten(1))


def train_classifier(model: DigitClassifier, x_train: torch.Tensor, y_train: torch.Tensor, epochs: int = 3,
                     seed: int = 0, verbose: bool = True) -> train.History:
    """Train with cross-entropy through ``train.fit``, which serves images and labels together."""
    def cross_entropy(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, labels = batch
        logits = model(images)
        return {"loss": nn.functional.cross_entropy(logits, labels),
                "error": (logits.argmax(1) != labels).float().mean()}

    return train.fit(model, (x_train, y_train), cross_entropy, epochs=epochs, batch_size=128, lr=1e-3, seed=seed,
                     verbose=verbose)


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Class probabilities (N, 10) of ``images`` (N, 784) or (N, 1, 28, 28), in eval mode, in batches."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        images = images.reshape(len(images), 784)
        return torch.cat([model(images[i:i + batch_size].to(device)).softmax(dim=1)
                          for i in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


def load_classifier(device: torch.device | str = "cpu") -> DigitClassifier:
    """The shipped classifier on ``device``, ready to judge (eval mode)."""
    model = DigitClassifier().to(device)
    train.load_checkpoint(CHECKPOINT, model)
    return model


@dataclass
class Judgement:
    """What the classifier makes of a set of images."""

    counts: list[int]            # how many images were classified as 0, 1, ..., 9
    class_entropy: float         # entropy (nats) of that histogram: ln 10 = 2.30 for all ten classes equally often
    classes_seen: int            # how many of the ten digits were predicted at least once
    mean_confidence: float       # average of the classifier's top probability per image
    confident_fraction: float    # fraction of images whose top probability is at least CONFIDENT

    def class_distance(self, other: Judgement) -> float:
        """Total variation distance between the two class mixes, ½ Σ_c |p_c − q_c|: 0 when the classes come out
        in the same proportions, 1 when the two sets share no class at all."""
        mine, theirs = torch.tensor(self.counts, dtype=torch.float64), torch.tensor(other.counts, dtype=torch.float64)
        return float(0.5 * (mine / mine.sum() - theirs / theirs.sum()).abs().sum())

    def summary(self) -> str:
        return (f"classes {self.counts} (entropy {self.class_entropy:.2f} of at most {math.log(10):.2f} nats, "
                f"{self.classes_seen}/10 digits seen); mean confidence {self.mean_confidence:.2f}, "
                f"{self.confident_fraction:.0%} clear digits (top probability ≥ {CONFIDENT})")


def judge(model: nn.Module, images: torch.Tensor) -> Judgement:
    """Classify ``images`` and summarise the classes they cover and how confidently (see the module docstring)."""
    if len(images) == 0:
        raise ValueError("judge needs at least one image.")
    probabilities = predict_proba(model, images)
    top, predicted = probabilities.max(dim=1)
    counts = torch.bincount(predicted, minlength=10).cpu()
    frequencies = counts.double() / counts.sum()
    nonzero = frequencies[frequencies > 0]
    return Judgement(counts=counts.tolist(), class_entropy=float(-(nonzero * nonzero.log()).sum()),
                     classes_seen=int((counts > 0).sum()), mean_confidence=float(top.mean()),
                     confident_fraction=float((top >= CONFIDENT).double().mean()))
