"""The inference gaps and the rate/information split (vaecourse.gaps) on cases whose answers are known."""

import math

import pytest
import torch

from vaecourse import gaps, metrics, models


def test_aggregate_kl_of_identical_posteriors_is_their_kl_and_the_information_is_zero():
    mu = torch.tensor([[0.7, -0.4]]).expand(300, 2).clone()
    logvar = torch.tensor([[-1.0, 0.5]]).expand(300, 2).clone()
    result = gaps.rate_and_information(mu, logvar, n_samples=20_000)
    # q(z) = q(z|x_n) for every n, so KL(q(z) ‖ p) is the rate and z says nothing about n
    assert result["rate"] == pytest.approx(float(metrics.kl_per_latent(mu, logvar).sum()))
    assert result["aggregate_kl"] == pytest.approx(result["rate"], abs=0.03)
    assert abs(result["information"]) < 0.03


def test_far_apart_narrow_posteriors_carry_log_n_nats():
    n = 64
    mu = torch.stack([torch.arange(n, dtype=torch.float32) * 0.5, torch.zeros(n)], dim=1) - 16
    logvar = torch.full((n, 2), -12.0)
    result = gaps.rate_and_information(mu, logvar, n_samples=4000)
    assert result["information"] == pytest.approx(math.log(n), abs=0.01)   # each code names its image
    assert result["information_limit"] == pytest.approx(math.log(n))


def test_prior_posteriors_have_no_rate_and_no_information():
    mu, logvar = torch.zeros(100, 3), torch.zeros(100, 3)
    result = gaps.rate_and_information(mu, logvar, n_samples=2000)
    assert result["rate"] == 0 and result["aggregate_kl"] == pytest.approx(0, abs=1e-9)


def test_aggregate_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mu and logvar"):
        gaps.aggregate_kl(torch.zeros(5, 2), torch.zeros(5, 3))


def test_optimised_posteriors_beat_the_encoder_and_gaps_add_up():
    torch.manual_seed(0)
    model = models.MLPVAE(hidden=32, latent_dim=2)
    x = torch.bernoulli(torch.full((6, 784), 0.2))
    mu0, _ = metrics.encode_means(model, x)
    mu, logvar = gaps.optimise_posteriors(model, x, steps=60, n_samples=8)
    assert mu.shape == logvar.shape == (6, 2) and not mu.requires_grad
    assert not torch.allclose(mu, mu0)
    assert all(p.grad is None for p in model.parameters())        # the decoder was not trained
    result = gaps.inference_gaps(model, x, k=200, steps=60, n_samples=50)
    assert result.elbo_optimal > result.elbo_encoder               # q* is better than the untrained encoder
    assert result.log_likelihood > result.elbo_optimal - 0.5      # IWAE (k = 200) sits above any ELBO, up to noise
    total = result.log_likelihood - result.elbo_encoder
    assert result.approximation_gap + result.amortization_gap == pytest.approx(total)
    assert result.images == 6


def test_optimise_posteriors_checks_its_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        gaps.optimise_posteriors(models.MLPVAE(hidden=8, latent_dim=2), torch.zeros(2, 784), steps=0)
