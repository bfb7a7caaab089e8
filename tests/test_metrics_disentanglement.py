"""KL per latent, active units and MIG computed as disentanglement_lib does."""

import math

import numpy as np
import pytest
import torch

from vaecourse import dsprites, losses, metrics, models


@pytest.fixture(scope="module")
def sprites():
    return dsprites.sample(10_000, resolution=32, seed=0)


def test_kl_per_latent_adds_up_to_the_kl():
    mu, logvar = torch.randn(50, 10), torch.randn(50, 10)
    per_latent = metrics.kl_per_latent(mu, logvar)
    assert per_latent.shape == (10,)
    assert float(per_latent.sum()) == pytest.approx(float(losses.gaussian_kl(mu, logvar).mean()), rel=1e-5)
    assert metrics.kl_per_latent(torch.zeros(5, 3), torch.zeros(5, 3)).abs().max() < 1e-7


def test_active_units_counts_latents_whose_mean_varies():
    mu = torch.zeros(1000, 10)
    mu[:, :3] = torch.randn(1000, 3)
    mu[:, 3] = 0.05 * torch.randn(1000)  # variance 0.0025: below the 0.01 threshold
    assert metrics.active_units(mu) == 3
    with pytest.raises(ValueError, match="N ≥ 2"):
        metrics.active_units(torch.zeros(1, 10))


def test_discretize_is_the_histogram_discretizer_of_disentanglement_lib():
    codes = torch.randn(1000, 3, dtype=torch.float64)
    codes[:, 2] = 7.0  # a constant column
    ours = metrics.discretize(codes, 20).numpy()
    for j in range(3):
        x = codes[:, j].numpy()
        assert np.array_equal(ours[:, j], np.digitize(x, np.histogram(x, 20)[1][:-1]))
    assert ours.min() >= 1 and ours.max() <= 20


def test_discrete_mutual_info():
    a = torch.arange(4000) % 8
    assert metrics.discrete_mutual_info(a, a) == pytest.approx(math.log(8))
    assert metrics.discrete_mutual_info(a, a // 2) == pytest.approx(math.log(4))
    b = torch.randint(5, (4000,), generator=torch.Generator().manual_seed(0))
    try:
        from sklearn.metrics import mutual_info_score
    except ImportError:
        pytest.skip("scikit-learn not installed")
    assert metrics.discrete_mutual_info(a, b) == pytest.approx(mutual_info_score(a.numpy(), b.numpy()), abs=1e-12)


def test_mig_of_the_factors_themselves_is_high(sprites):
    result = metrics.mutual_information_gap(sprites.values, sprites.indices)
    assert 0.85 <= result.score <= 0.95  # 20 bins cannot resolve the 32 positions and 40 angles
    assert result.mutual_info.shape == (5, 5) and result.per_factor.shape == (5,)
    assert result.per_factor[0] == pytest.approx(1.0, abs=0.01)  # shape: 3 values, fully resolved


def test_mig_of_noise_or_a_constant_is_near_zero(sprites):
    noise = torch.randn(10_000, 10, generator=torch.Generator().manual_seed(1))
    assert metrics.mutual_information_gap(noise, sprites.indices).score <= 0.05
    assert metrics.mutual_information_gap(torch.zeros(10_000, 10), sprites.indices).score <= 0.05


def test_mixing_two_factors_into_one_dimension_lowers_mig(sprites):
    clean = metrics.mutual_information_gap(sprites.values, sprites.indices).score
    mixed_codes = sprites.values.clone()
    mixed_codes[:, 3] = sprites.values[:, 3] + sprites.values[:, 4]  # x and y share one dimension
    mixed_codes[:, 4] = torch.rand(10_000, generator=torch.Generator().manual_seed(2))
    mixed = metrics.mutual_information_gap(mixed_codes, sprites.indices)
    assert mixed.score < clean - 0.2
    assert mixed.per_factor[3] < 0.3 and mixed.per_factor[4] < 0.3


def test_sprites_mig_on_a_model():
    model = models.ConvVAE(32)
    score = metrics.sprites_mig(model, n_samples=500).score
    assert 0.0 <= score <= 1.0


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="one row per example"):
        metrics.mutual_information_gap(torch.zeros(10, 3), torch.zeros(9, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least two code dimensions"):
        metrics.mutual_information_gap(torch.zeros(10, 1), torch.zeros(10, 5, dtype=torch.long))
