"""Lesson 03's KL pieces: the closed form (losses.gaussian_kl) against torch.distributions and Monte Carlo,
its two parts (kl.kl_parts), the numerical KL on a grid and the forward/reverse Gaussian fits."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaecourse import kl, losses


def normal(mean, std):
    return Normal(torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64))


def test_gaussian_kl_matches_torch_distributions_on_a_grid():
    mus = torch.linspace(-3, 3, 31, dtype=torch.float64)
    sigmas = torch.logspace(-1.5, 0.7, 31, dtype=torch.float64)
    mu, sigma = torch.meshgrid(mus, sigmas, indexing="ij")
    ours = losses.gaussian_kl(mu.reshape(-1, 1), torch.log(sigma**2).reshape(-1, 1))
    theirs = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).reshape(-1)
    assert ours.shape == (31 * 31,)
    assert (ours - theirs).abs().max() < 1e-6


def test_gaussian_kl_sums_over_latents_per_example():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(7, 4, generator=g, dtype=torch.float64)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    assert torch.allclose(losses.gaussian_kl(mu, logvar), kl_divergence(q, p), atol=1e-10)


@pytest.mark.parametrize("mu,sigma", [(1.0, 0.5), (-2.0, 0.3), (0.5, 2.0)])
def test_closed_form_within_three_standard_errors_of_monte_carlo(mu, sigma):
    torch.manual_seed(0)
    estimate, standard_error = kl.monte_carlo_kl(normal(mu, sigma), normal(0.0, 1.0), 50_000)
    closed = 0.5 * (mu**2 + sigma**2 - 1 - math.log(sigma**2))
    assert 0 < standard_error < 0.05
    assert abs(estimate - closed) < 3 * standard_error


def test_monte_carlo_kl_of_a_vector_and_its_errors():
    torch.manual_seed(1)
    mu, sigma = torch.tensor([0.3, -1.0], dtype=torch.float64), torch.tensor([0.5, 1.5], dtype=torch.float64)
    q = Independent(Normal(mu, sigma), 1)
    p = Independent(normal(torch.zeros(2), torch.ones(2)), 1)
    estimate, standard_error = kl.monte_carlo_kl(q, p, 50_000)
    assert abs(estimate - kl_divergence(q, p).item()) < 3 * standard_error
    with pytest.raises(ValueError, match="at least 2"):
        kl.monte_carlo_kl(q, p, 1)


def test_kl_parts_add_up_and_vanish_only_at_the_prior():
    mu = torch.tensor([0.0, 1.0, -2.0, 0.0])
    sigma = torch.tensor([1.0, 1.0, 0.3, 2.0])
    mean_penalty, variance_penalty = kl.kl_parts(mu, sigma)
    assert torch.allclose(mean_penalty, 0.5 * mu.double() ** 2)
    assert torch.allclose(mean_penalty + variance_penalty,
                          losses.gaussian_kl(mu.double()[:, None], torch.log(sigma.double() ** 2)[:, None]))
    assert variance_penalty[0] == 0 and variance_penalty[1] == 0 and (variance_penalty[2:] > 0).all()
    with pytest.raises(ValueError, match="must be > 0"):
        kl.kl_parts(0.0, 0.0)


def test_kl_on_grid_matches_the_closed_form():
    z = torch.linspace(-12, 12, 4001, dtype=torch.float64)
    q, p = normal(1.0, 0.5), normal(0.0, 1.0)
    assert abs(kl.kl_on_grid(q.log_prob(z), p.log_prob(z), z).item() - kl_divergence(q, p).item()) < 1e-6
    assert abs(kl.kl_on_grid(p.log_prob(z), q.log_prob(z), z).item() - kl_divergence(p, q).item()) < 1e-6


def test_forward_fit_matches_moments_and_reverse_fit_picks_the_heavier_bump():
    target = kl.two_bumps(weights=(0.7, 0.3), means=(-2.0, 2.0), stds=(0.6, 0.6))
    z = torch.linspace(-8, 8, 801, dtype=torch.float64)
    means = torch.linspace(-4, 4, 81, dtype=torch.float64)
    stds = torch.linspace(0.2, 4, 77, dtype=torch.float64)
    m, s, forward = kl.best_gaussian_fit(target, "forward", z, means, stds)
    assert abs(m - target.mean.item()) < 0.1 and abs(s - target.stddev.item()) < 0.05
    m, s, reverse = kl.best_gaussian_fit(target, "reverse", z, means, stds)
    assert abs(m + 2) < 0.15 and abs(s - 0.6) < 0.1
    assert forward > 0 and reverse > 0
    with pytest.raises(ValueError, match="forward"):
        kl.best_gaussian_fit(target, "sideways", z, means, stds)
