"""Lesson 10's compression measures: nats to bits, lossless round trips, the entropy bound, the two-part code."""

import bz2
import gzip
import io
import lzma
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vaecourse import compression, losses, models


def random_bits(n, p=0.5, seed=0):
    return torch.bernoulli(torch.full((n, 784), p), generator=torch.Generator().manual_seed(seed))


def test_code_length_is_minus_elbo_in_bits_per_image():
    elbo = torch.tensor([-100 * math.log(2), -1.0, 0.0])
    bits = compression.code_length_bits(elbo)
    assert bits.tolist() == pytest.approx([100.0, 1 / math.log(2), 0.0])
    assert bits.shape == elbo.shape


def test_png_is_lossless_and_counts_the_whole_file():
    x = random_bits(3, p=0.2)
    images = compression.binary_images(x)
    for image, bits in zip(images, compression.png_bits(x).tolist()):
        data = compression.png_bytes(image)
        assert bits == 8 * len(data)
        decoded = np.array(Image.open(io.BytesIO(data)))
        assert decoded.dtype == bool and (decoded == image).all()


@pytest.mark.parametrize("name, decompress", [("gzip", gzip.decompress), ("bz2", bz2.decompress),
                                              ("lzma", lzma.decompress)])
def test_stream_compressors_are_lossless_and_respect_the_entropy_bound(name, decompress):
    x = random_bits(200, seed=1)
    packed = np.packbits(compression.binary_images(x).reshape(200, 784), axis=1)
    assert decompress(compression.STREAM_COMPRESSORS[name](packed.tobytes())) == packed.tobytes()
    # fair coins carry 784 bits per image: no lossless code can do better on average
    assert compression.stream_bits(x, name) > 0.99 * 784
    assert compression.stream_bits(torch.zeros(200, 784), name) < 20        # a blank stream is almost free


def test_png_strip_shares_the_headers():
    x = random_bits(50, p=0.05, seed=2)
    assert compression.png_strip_bits(x) < compression.png_bits(x).mean().item()


@pytest.mark.parametrize("bad, words", [(torch.rand(4, 784), "must be binary"), (torch.zeros(4, 28, 28), r"\(N, 784\)"),
                                        (torch.zeros(0, 784), "N ≥ 1")])
def test_grey_or_misshapen_images_are_refused(bad, words):
    with pytest.raises(ValueError, match=words):
        compression.png_bits(bad)
    with pytest.raises(ValueError, match=words):
        compression.stream_bits(bad, "gzip")


def test_unknown_compressor_is_named():
    with pytest.raises(ValueError, match="choose one of gzip, bz2, lzma"):
        compression.stream_bits(torch.zeros(2, 784), "zip")


def test_two_part_code_counts_the_rounded_code_and_the_image():
    torch.manual_seed(0)
    vae = models.MLPVAE(hidden=16, latent_dim=3)
    nn.init.zeros_(vae.fc_mu.weight)
    nn.init.zeros_(vae.fc_mu.bias)                    # every code is μ = 0, which rounds to the cell around 0
    x = random_bits(5, p=0.1, seed=3)
    bits = compression.two_part_code_bits(vae, x, step=2.0)
    cell = math.erf(1 / math.sqrt(2))                 # P(−1 < z < 1) under N(0, 1)
    with torch.no_grad():
        image_bits = losses.bernoulli_nll(vae.decode(torch.zeros(5, 3)), x) / math.log(2)
    assert bits.shape == (5,)
    assert torch.allclose(bits, -3 * math.log2(cell) + image_bits, rtol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        compression.two_part_code_bits(vae, x, step=0.0)
