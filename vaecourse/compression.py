"""Lesson 10: a VAE as a lossless compressor of binary digits, measured in bits beside everyday compressors.

A model that gives a binary image the probability p(x) can code it in −log₂ p(x) bits (an arithmetic or
ANS coder gets within a few bits of that). A VAE only bounds log p(x) from below by its ELBO, but
*bits-back coding* (Frey & Hinton, 1997; Townsend et al., 2019) still turns it into a code of about
−ELBO / ln 2 bits per image on average. This module converts ELBOs into bits (:func:`code_length_bits`,
the lesson's exercise) and measures what PNG, gzip, bz2 and lzma make of the same binary images, so the
comparison is like with like: the same 0/1 pixels, lossless, counted in bits per digit.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
from collections.abc import Callable

import numpy as np
import torch

SIDE = 28
PIXELS = SIDE * SIDE
STREAM_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda raw: gzip.compress(raw, compresslevel=9, mtime=0),
    "bz2": lambda raw: bz2.compress(raw, compresslevel=9),
    "lzma": lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME),
}


def code_length_bits(elbo: torch.Tensor) -> torch.Tensor:
    """Bits per image of a bits-back code built on the model: −ELBO / ln 2 for each image.

    ``elbo`` holds one ELBO per image in nats (a log-probability of a binary image, so ≤ 0); the result
    holds one positive length per image, in bits (not per pixel: divide by 784 for bits per pixel).
    """
    return -elbo / math.log(2)


def binary_images(images: torch.Tensor) -> np.ndarray:
    """``images`` (N, 784) of 0s and 1s as a NumPy boolean array (N, 28, 28), or a ValueError saying what to do."""
    if images.ndim != 2 or images.shape[1] != PIXELS or len(images) == 0:
        raise ValueError(f"give binary images as an (N, {PIXELS}) tensor, N ≥ 1; got shape {tuple(images.shape)}.")
    if not ((images == 0) | (images == 1)).all():
        raise ValueError("the images must be binary (0 or 1 in every pixel), so that every code compresses the "
                         "same information: binarize them first (vae_mnist.fixed_binarization).")
    return images.detach().cpu().numpy().astype(bool).reshape(-1, SIDE, SIDE)


def png_bytes(image: np.ndarray) -> bytes:
    """One boolean image as a 1-bit PNG file (Pillow, ``optimize=True``): the bytes a ``.png`` file would hold."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def png_bits(images: torch.Tensor) -> torch.Tensor:
    """The size in bits of each image saved as its own 1-bit PNG file, headers included: (N,)."""
    return torch.tensor([8 * len(png_bytes(image)) for image in binary_images(images)], dtype=torch.float64)


def png_strip_bits(images: torch.Tensor) -> float:
    """Bits per image when all the images are stacked into one tall 1-bit PNG (the headers shared)."""
    strip = binary_images(images).reshape(-1, SIDE)
    return 8 * len(png_bytes(strip)) / len(images)


def stream_bits(images: torch.Tensor, compressor: str) -> float:
    """Bits per image when all the images, their 784 pixels packed 8 to a byte, are compressed as one stream
    by ``compressor`` ("gzip", "bz2" or "lzma", at their strongest settings)."""
    if compressor not in STREAM_COMPRESSORS:
        raise ValueError(f"unknown compressor {compressor!r}; choose one of {', '.join(STREAM_COMPRESSORS)}.")
    packed = np.packbits(binary_images(images).reshape(len(images), PIXELS), axis=1)
    return 8 * len(STREAM_COMPRESSORS[compressor](packed.tobytes())) / len(images)


@torch.no_grad()
def two_part_code_bits(model: torch.nn.Module, x: torch.Tensor, step: float) -> torch.Tensor:
    """Bits per image of a code *without* bits back, for a VAE with ``encode`` and ``decode`` (Bernoulli logits).

    It sends the encoder's mean μ(x) rounded to a grid of width ``step``, each coordinate with the
    probability that the prior N(0, 1) gives its grid cell, and then the image with p(x | rounded code).
    Both parts are exact probabilities of discrete symbols, so an arithmetic coder achieves this length
    (within a few bits): a real code, unlike the −ELBO, which needs the bits-back trick. Returns (N,).
    """
    if not step > 0:
        raise ValueError(f"the grid step must be positive, got {step}.")
    from vaecourse import losses, metrics

    binary_images(x)
    mu, _ = metrics.encode_means(model, x)
    code = torch.round(mu / step) * step
    prior = torch.distributions.Normal(0.0, 1.0)
    cell = (prior.cdf(code + step / 2) - prior.cdf(code - step / 2)).clamp_min(torch.finfo(mu.dtype).tiny)
    code_bits = -cell.log2().sum(dim=1)
    with metrics.evaluating(model):
        image_bits = losses.bernoulli_nll(model.decode(code), x) / math.log(2)
    return code_bits + image_bits
