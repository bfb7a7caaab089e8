"""The Burgess et al. (2018) convolutional VAE and the β-VAE loss."""

import pytest
import torch
from torch import nn

from vaecourse import dsprites, losses, models, train


@pytest.mark.parametrize("resolution, n_convs", [(32, 3), (64, 4)])
def test_architecture_and_shapes(resolution, n_convs):
    model = models.ConvVAE(resolution)
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == n_convs and all(c.out_channels == 32 and c.kernel_size == (4, 4) and c.stride == (2, 2)
                                         for c in convs)
    assert len([m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]) == n_convs
    x = dsprites.sample(3, resolution=resolution).images
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 10)
    assert model.decode(torch.zeros(2, 10)).shape == (2, 1, resolution, resolution)


def test_wrong_input_is_a_clear_error():
    with pytest.raises(ValueError, match="32×32 or 64×64"):
        models.ConvVAE(28)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        models.ConvVAE(32).encode(torch.zeros(2, 1024))


def test_beta_vae_loss_weighs_the_kl():
    torch.manual_seed(0)
    model = models.ConvVAE(32)
    x = dsprites.sample(4).images
    torch.manual_seed(1)
    one = losses.beta_vae_loss(1.0)(model, x)
    torch.manual_seed(1)
    four = losses.beta_vae_loss(4.0)(model, x)
    assert torch.allclose(four["loss"], one["recon"] + 4 * one["kl"])


def test_a_few_steps_lower_the_loss():
    model = models.ConvVAE(32)
    history = train.fit(model, dsprites.make_batch_fn(32), losses.beta_vae_loss(4.0), epochs=2,
                        steps_per_epoch=5, batch_size=16, lr=1e-3, verbose=False)
    assert history["loss"][-1] < 0.85 * history["loss"][0]
