"""Lesson 01's deep autoencoder on MNIST: its training recipe and the shipped checkpoint.

Lesson 01 loads (or trains) it to show why an autoencoder is not a generative model; lesson 05 loads the
same model to compare its decoded random codes with the VAE's samples, side by side and measured.
``scripts/train_checkpoints.py --only deep_ae`` trained the shipped one with :func:`train_deep_autoencoder`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vaecourse import losses, models, train
from vaecourse.train import CHECKPOINTS

HIDDEN = (512, 128)
LATENT_DIM = 2
EPOCHS = 10
LR = 1e-3
CHECKPOINT = CHECKPOINTS / "ae_mnist_z2.pt"


def squared_error_loss(model: nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """The autoencoder's loss for ``fit``: squared error summed over pixels, averaged over the batch."""
    return {"loss": losses.squared_error(model(batch), batch).mean()}


def make_deep_autoencoder() -> models.MLPAutoencoder:
    """784-512-128-2 and back, sigmoid outputs: lesson 01's deep autoencoder."""
    return models.MLPAutoencoder(hidden=HIDDEN, latent_dim=LATENT_DIM)


def train_deep_autoencoder(model: nn.Module, x_train: torch.Tensor, epochs: int = EPOCHS, seed: int = 0,
                           verbose: bool = True) -> train.History:
    """Adam 10⁻³, batches of 128, squared error: ``fit`` with lesson 01's recipe."""
    return train.fit(model, x_train, squared_error_loss, epochs=epochs, lr=LR, seed=seed, verbose=verbose)


def load_record(folder: Path = CHECKPOINTS) -> dict:
    """The record written beside the shipped deep autoencoder by ``scripts/train_checkpoints.py``."""
    return train.load_record(Path(folder) / CHECKPOINT.name,
                             "run scripts/train_checkpoints.py --only deep_ae to make it")
