"""The toy linear-Gaussian model of lesson 02: every closed form checked against an independent computation."""

import math

import pytest
import torch

from vaecourse import toy

F64 = torch.float64


@pytest.fixture
def model():
    return toy.make_toy_model(latent_dim=1, data_dim=2, noise_std=1.0, seed=0)


@pytest.fixture
def x():
    return torch.tensor([1.5, -0.8], dtype=F64)


def log_trapezoid(log_values: torch.Tensor, step: float) -> torch.Tensor:
    """log ∫ exp(f) by the trapezoid rule on an evenly spaced grid (f given as log-values)."""
    weights = torch.full_like(log_values, math.log(step))
    weights[0] = weights[-1] = math.log(step / 2)
    return torch.logsumexp(log_values + weights, dim=0)


def z_grid(low=-12.0, high=12.0, n=20001):
    z = torch.linspace(low, high, n, dtype=F64)
    return z.unsqueeze(1), (high - low) / (n - 1)


def random_gaussian(d: int, generator: torch.Generator, full: bool) -> toy.Gaussian:
    mean = torch.randn(d, generator=generator, dtype=F64)
    if not full:
        return toy.Gaussian.diagonal(mean, 0.2 + torch.rand(d, generator=generator, dtype=F64))
    a = torch.randn(d, d, generator=generator, dtype=F64)
    return toy.Gaussian(mean, a @ a.T + 0.1 * torch.eye(d, dtype=F64))


# --- log p(x): closed form against quadrature and against sampling ------------------------------------------------

def test_log_evidence_matches_numerical_integration_1d(model, x):
    z, step = z_grid()
    integral = log_trapezoid(model.log_joint(x, z), step)
    assert abs(integral - model.log_evidence(x)) < 1e-9


def test_log_evidence_matches_numerical_integration_2d():
    model = toy.make_toy_model(latent_dim=2, data_dim=3, noise_std=0.7, seed=3)
    x = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
    grid = torch.linspace(-8, 8, 801, dtype=F64)
    z = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1)  # (801, 801, 2)
    step = (grid[1] - grid[0]).item()
    inner = torch.stack([log_trapezoid(row, step) for row in model.log_joint(x, z)])
    assert abs(log_trapezoid(inner, step) - model.log_evidence(x)) < 1e-8


def test_log_evidence_matches_sampling(model, x):
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(400_000, 1, generator=generator, dtype=F64)
    log_weights = model.log_likelihood(x, z)  # p(x) = E_{p(z)}[p(x|z)]
    estimate = torch.logsumexp(log_weights, 0) - math.log(len(z))
    weights = (log_weights - log_weights.max()).exp()
    relative_se = weights.std() / weights.mean() / math.sqrt(len(z))  # delta method: SE of log(mean)
    assert abs(estimate - model.log_evidence(x)) < 4 * relative_se
    assert relative_se < 0.01


def test_marginal_moments_match_samples(model):
    _, xs = model.sample(200_000, torch.Generator().manual_seed(1))
    marginal = model.marginal()
    assert torch.allclose(xs.mean(0), marginal.mean, atol=0.02)
    assert torch.allclose(torch.cov(xs.T), marginal.cov, atol=0.03)


def test_log_evidence_accepts_a_batch(model):
    xs = torch.randn(5, 2, dtype=F64)
    batch = model.log_evidence(xs)
    assert batch.shape == (5,)
    assert torch.allclose(batch, torch.stack([model.log_evidence(row) for row in xs]))


# --- the posterior --------------------------------------------------------------------------------------------------

def test_posterior_is_bayes_rule_on_a_grid(model, x):
    z, _ = z_grid(-6, 6, 2001)
    bayes = model.log_joint(x, z) - model.log_evidence(x)
    assert torch.allclose(model.posterior(x).log_prob(z), bayes, atol=1e-10)


def test_posterior_matches_conditioning_samples_3d():
    model = toy.make_toy_model(latent_dim=3, data_dim=5, noise_std=0.5, seed=2)
    x = torch.tensor([0.5, -1.0, 0.2, 1.5, -0.3], dtype=F64)
    posterior = model.posterior(x)
    z = posterior.sample(7, torch.Generator().manual_seed(0))
    # log p(z|x) = log p(x, z) − log p(x), at arbitrary points
    assert torch.allclose(posterior.log_prob(z), model.log_joint(x, z) - model.log_evidence(x), atol=1e-10)


# --- Gaussian helpers against torch.distributions -------------------------------------------------------------------

@pytest.mark.parametrize("full", [False, True])
def test_gaussian_log_prob_entropy_and_kl_match_torch(full):
    generator = torch.Generator().manual_seed(4)
    q, p = random_gaussian(3, generator, full), random_gaussian(3, generator, full)
    tq = torch.distributions.MultivariateNormal(q.mean, q.cov)
    tp = torch.distributions.MultivariateNormal(p.mean, p.cov)
    z = torch.randn(10, 3, generator=generator, dtype=F64)
    assert torch.allclose(q.log_prob(z), tq.log_prob(z), atol=1e-10)
    assert torch.allclose(q.entropy(), tq.entropy(), atol=1e-10)
    assert torch.allclose(toy.gaussian_kl(q, p), torch.distributions.kl_divergence(tq, tp), atol=1e-10)
    assert abs(toy.gaussian_kl(q, q)) < 1e-12


def test_gaussian_samples_have_the_right_moments():
    q = toy.Gaussian(torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 0.6], [0.6, 0.5]]))
    z = q.sample(200_000, torch.Generator().manual_seed(5))
    assert torch.allclose(z.mean(0), q.mean, atol=0.02) and torch.allclose(torch.cov(z.T), q.cov, atol=0.03)


# --- the ELBO -------------------------------------------------------------------------------------------------------

def test_expected_log_likelihood_matches_quadrature(model, x):
    q = toy.Gaussian.diagonal([0.4], [0.7])
    z, step = z_grid()
    log_q = q.log_prob(z)
    by_quadrature = torch.trapezoid(log_q.exp() * model.log_likelihood(x, z), dx=step)
    assert abs(by_quadrature - toy.expected_log_likelihood(model, x, q)) < 1e-9


def test_elbo_matches_its_definition_by_quadrature(model, x):
    """ELBO = ∫ q(z) [log p(x, z) − log q(z)] dz, the Jensen form, computed numerically."""
    for mean, std in [(0.0, 1.0), (2.5, 0.3), (-1.0, 1.7)]:
        q = toy.Gaussian.diagonal([mean], [std])
        z, step = z_grid()
        log_q = q.log_prob(z)
        by_quadrature = torch.trapezoid(log_q.exp() * (model.log_joint(x, z) - log_q), dx=step)
        assert abs(by_quadrature - toy.exact_elbo(model, x, q)) < 1e-7  # the trapezoid rule's error


@pytest.mark.parametrize("d,full", [(1, False), (2, False), (2, True), (4, True)])
def test_identity_log_evidence_equals_elbo_plus_kl(d, full):
    model = toy.make_toy_model(latent_dim=d, data_dim=d + 2, noise_std=0.6, seed=d)
    generator = torch.Generator().manual_seed(10 + d)
    _, xs = model.sample(3, generator)
    for x in xs:
        for _ in range(5):
            q = random_gaussian(d, generator, full)
            elbo, gap = toy.exact_elbo(model, x, q), toy.kl_to_posterior(model, x, q)
            assert abs(model.log_evidence(x) - (elbo + gap)) < 1e-10
            assert gap > 0 and elbo < model.log_evidence(x)


def test_elbo_is_maximal_with_zero_gap_at_the_posterior(model, x):
    posterior = model.posterior(x)
    assert abs(toy.exact_elbo(model, x, posterior) - model.log_evidence(x)) < 1e-12
    assert abs(toy.kl_to_posterior(model, x, posterior)) < 1e-12
    best = toy.exact_elbo(model, x, posterior)
    m, s = posterior.mean.item(), posterior.cov.sqrt().item()
    for dm, ds in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (0.5, 0.2)]:
        assert toy.exact_elbo(model, x, toy.Gaussian.diagonal([m + dm], [s + ds])) < best


def test_elbo_gradient_vanishes_at_the_posterior(model, x):
    posterior = model.posterior(x)
    mean = posterior.mean.clone().requires_grad_()
    log_std = (0.5 * posterior.cov.diagonal().log()).clone().requires_grad_()
    toy.exact_elbo(model, x, toy.Gaussian.diagonal(mean, log_std.exp())).backward()
    assert mean.grad.abs().max() < 1e-10 and log_std.grad.abs().max() < 1e-10


def test_kl_to_prior_is_zero_at_the_prior_and_elbo_is_reconstruction_minus_kl(model, x):
    prior = toy.standard_normal(1)
    assert abs(toy.kl_to_prior(prior)) < 1e-12
    q = toy.Gaussian.diagonal([0.8], [0.4])
    assert abs(toy.exact_elbo(model, x, q) - (toy.expected_log_likelihood(model, x, q) - toy.kl_to_prior(q))) < 1e-12


# --- Monte Carlo ELBO -----------------------------------------------------------------------------------------------

def test_mc_elbo_agrees_with_exact_within_its_standard_error(model, x):
    generator = torch.Generator().manual_seed(6)
    for mean, std in [(0.0, 1.0), (1.2, 0.3), (2.5, 0.8), (-1.0, 1.5)]:
        q = toy.Gaussian.diagonal([mean], [std])
        estimate, se = toy.mc_elbo(model, x, q, 20_000, generator)
        assert abs(estimate - toy.exact_elbo(model, x, q)) < 4 * se  # a correct estimator fails this 1 in 16,000
        assert 0 < se < 0.2


def test_mc_elbo_is_unbiased_and_its_standard_error_is_honest(model, x):
    """Over many runs the estimates average to the exact ELBO, and their spread is the reported standard error."""
    q = toy.Gaussian.diagonal([2.5], [0.8])
    generator = torch.Generator().manual_seed(7)
    runs = [toy.mc_elbo(model, x, q, 1_000, generator) for _ in range(400)]
    estimates = torch.stack([estimate for estimate, _ in runs])
    reported_se = torch.stack([se for _, se in runs]).mean()
    assert abs(estimates.mean() - toy.exact_elbo(model, x, q)) < 3 * estimates.std() / math.sqrt(len(runs))
    assert 0.85 < estimates.std() / reported_se < 1.15


def test_mc_elbo_standard_error_falls_as_one_over_root_n(model, x):
    q = toy.Gaussian.diagonal([0.0], [1.0])
    _, se_small = toy.mc_elbo(model, x, q, 1_000, torch.Generator().manual_seed(0))
    _, se_large = toy.mc_elbo(model, x, q, 100_000, torch.Generator().manual_seed(0))
    assert 7 < se_small / se_large < 13  # √100 = 10


def test_mc_elbo_has_no_variance_at_the_posterior(model, x):
    estimate, se = toy.mc_elbo(model, x, model.posterior(x), 100, torch.Generator().manual_seed(0))
    assert abs(estimate - model.log_evidence(x)) < 1e-12 and se < 1e-12


# --- clear errors ---------------------------------------------------------------------------------------------------

def test_bad_inputs_give_clear_errors(model):
    with pytest.raises(ValueError, match="standard deviation must be > 0"):
        toy.Gaussian.diagonal([0.0], [0.0])
    with pytest.raises(ValueError, match="positive definite"):
        toy.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"cov must have shape \(2, 2\)"):
        toy.Gaussian([0.0, 0.0], torch.eye(3))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2\)"):
        model.log_evidence(torch.zeros(3))
    with pytest.raises(ValueError, match="one observation"):
        model.posterior(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="latent space"):
        toy.exact_elbo(model, torch.zeros(2), toy.standard_normal(2))
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        toy.LinearGaussian(torch.ones(2, 1), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        toy.mc_elbo(model, torch.zeros(2), toy.standard_normal(1), 1)
