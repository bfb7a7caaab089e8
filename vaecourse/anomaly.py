"""Lesson 10: anomaly detection with a VAE, the images it is tested on, and a simple baseline to beat.

The detector is lesson 05's VAE trained with the same recipe (``vae_mnist.train_vae``) on every digit but
one, :data:`HELD_OUT`; an image's anomaly score is its code length −ELBO in bits, high when the model finds
the image surprising. It is tested on four kinds of image it never saw: the held-out digit, digits with
flipped pixels (:func:`flip_pixels`), digits with a white square pasted on (:func:`occlude`) and
dSprites shapes shrunk to 28×28 (:func:`sprite_images`). The baseline is the squared error of the best
20-dimensional linear reconstruction (PCA, :func:`pca_error`), the same size as the VAE's code.

The shipped detector is ``data/checkpoints/vae_mnist_z20_without4.pt``, made by
``scripts/train_checkpoints.py --only detector`` with a ``.json`` record beside it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from vaecourse import dsprites, models, train, vae_mnist
from vaecourse.train import CHECKPOINTS

HELD_OUT = 4          # the digit the detector never sees in training
OCCLUSION_SIZE = 8    # side of the white square pasted on a digit, in pixels
FLIP_FRACTION = 0.05  # share of the pixels flipped in a noisy digit


def checkpoint_path(held_out: int = HELD_OUT, folder: Path = CHECKPOINTS) -> Path:
    """Where the detector trained without ``held_out`` lives: ``data/checkpoints/vae_mnist_z20_without4.pt``."""
    return Path(folder) / f"vae_mnist_z20_without{held_out}.pt"


def train_without(model: models.MLPVAE, x_train: torch.Tensor, y_train: torch.Tensor, held_out: int = HELD_OUT,
                  epochs: int = vae_mnist.EPOCHS, seed: int = 0, verbose: bool = True) -> train.History:
    """Lesson 05's recipe (dynamic binarization, Adam 10⁻³, batches of 128) on the digits that are not ``held_out``."""
    if held_out not in range(10):
        raise ValueError(f"held_out must be a digit 0-9, got {held_out!r}.")
    return vae_mnist.train_vae(model, x_train[y_train != held_out], epochs=epochs, seed=seed, verbose=verbose)


RECORD_KEYS = ("train_images", "held_out_digit", "epochs", "device", "training_seconds", "test_elbo_other_digits",
               f"test_elbo_{HELD_OUT}s", f"auroc_{HELD_OUT}s_by_minus_elbo")  # what lesson 10 prints from the record


def load_record(held_out: int = HELD_OUT, folder: Path = CHECKPOINTS) -> dict:
    """The record written beside the shipped detector by ``scripts/train_checkpoints.py --only detector``.

    A missing or damaged record, or one without :data:`RECORD_KEYS`, is a ``train.RecordError`` naming the
    file and the fix; the lesson catches it and runs on without the recorded numbers.
    """
    return train.load_record(checkpoint_path(held_out, folder),
                             "run scripts/train_checkpoints.py --only detector to make it", RECORD_KEYS)


def flip_pixels(x: torch.Tensor, fraction: float = FLIP_FRACTION, seed: int = 0) -> torch.Tensor:
    """Binary images with each pixel flipped (0 ↔ 1) with probability ``fraction``: salt-and-pepper noise."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}.")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    flip = torch.rand(x.shape, generator=generator, device=x.device) < fraction
    return torch.where(flip, 1 - x, x)


def occlude(x: torch.Tensor, size: int = OCCLUSION_SIZE, seed: int = 0) -> torch.Tensor:
    """(N, 784) images with a white ``size``×``size`` square pasted at a random place of the 20×20 centre,
    where the digits are: like a sticker, or a lesion in a scan."""
    if not 1 <= size <= 20:
        raise ValueError(f"size must be between 1 and 20 pixels, got {size}.")
    generator = torch.Generator().manual_seed(seed)
    top, left = (torch.randint(4, 24 - size + 1, (len(x), 1, 1), generator=generator).to(x.device) for _ in range(2))
    rows = torch.arange(28, device=x.device).reshape(1, 28, 1)
    columns = torch.arange(28, device=x.device).reshape(1, 1, 28)
    square = (rows >= top) & (rows < top + size) & (columns >= left) & (columns < left + size)
    return torch.where(square.reshape(len(x), 784), torch.ones_like(x), x)


def sprite_images(n: int, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` random dSprites shapes (lesson 06), drawn at 64×64, averaged down to 28×28 and binarized like
    the test digits (each pixel a coin flip with its grey value as p, fixed seed): (n, 784) of 0s and 1s."""
    sprites = dsprites.sample(n, resolution=64, seed=seed, device=device)
    grey = F.adaptive_avg_pool2d(sprites.images, 28).reshape(n, 784)
    return vae_mnist.fixed_binarization(grey, seed=seed)


def pca_error(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """The baseline's score: squared distance of each image to its projection on the principal subspace
    (``mean`` and ``components`` from ``models.pca`` of the training images), (N,)."""
    centred = x - mean
    residual = centred - centred @ components.T @ components   # the part of x outside the subspace
    return residual.pow(2).sum(dim=1)
