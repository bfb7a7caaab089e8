"""Lesson 05's evaluation: the test ELBO and the IWAE bound, checked on the exact toy model of lesson 02."""

import math

import pytest
import torch
from torch import nn

from vaecourse import losses, metrics, models, toy


class ToyAsVAE(nn.Module):
    """The linear-Gaussian toy model dressed as a VAE: ``decode(z)`` is the mean W z + b of p(x|z), and
    ``encode(x)`` is a diagonal Gaussian q(z|x) centred on the exact posterior mean, with its standard
    deviations scaled by ``std_scale`` (an imperfect q, so the ELBO sits clearly below log p(x))."""

    def __init__(self, model: toy.LinearGaussian, std_scale: float = 1.5, shift: float = 0.0):
        super().__init__()
        self.toy = model
        self.weight = nn.Parameter(model.weight.clone(), requires_grad=False)
        self.std_scale, self.shift = std_scale, shift

    def encode(self, x):
        w, b, variance = self.toy.weight, self.toy.bias, self.toy.noise_std**2
        cov = torch.linalg.inv(torch.eye(self.toy.latent_dim, dtype=w.dtype) + w.T @ w / variance)
        mu = (x - b) @ w @ cov.T / variance + self.shift
        logvar = torch.log(cov.diagonal() * self.std_scale**2).expand_as(mu)
        return mu, logvar

    def decode(self, z):
        return z @ self.toy.weight.T + self.toy.bias

    def q(self, x_one) -> toy.Gaussian:
        mu, logvar = self.encode(x_one[None])
        return toy.Gaussian.diagonal(mu[0], torch.exp(0.5 * logvar[0]))


def gaussian_log_likelihood(noise_std):
    """log N(x; mean, noise_std² I), summed over the data dimensions (broadcasts over z samples)."""
    def log_likelihood(mean, x):
        return -0.5 * (((x - mean) / noise_std).pow(2) + math.log(2 * math.pi * noise_std**2)).sum(-1)
    return log_likelihood


@pytest.fixture(scope="module")
def problem():
    model = toy.make_toy_model(latent_dim=2, data_dim=5, noise_std=0.5, seed=3)
    _, x = model.sample(100, generator=torch.Generator().manual_seed(0))
    vae = ToyAsVAE(model, std_scale=1.5, shift=0.3)
    return model, vae, x, gaussian_log_likelihood(model.noise_std)


def test_iwae_at_k1_is_the_elbo_of_the_same_samples(problem):
    _, vae, x, log_lik = problem
    log_w = metrics.log_importance_weights(vae, x, 1, log_lik, torch.Generator().manual_seed(7))
    iwae_1 = metrics.iwae_bound(vae, x, k=1, batch_size=len(x), log_likelihood=log_lik, seed=7)
    assert log_w.shape == (1, len(x))
    assert torch.allclose(iwae_1, log_w[0], rtol=0, atol=1e-12)
    assert torch.allclose(metrics.iwae_from_log_weights(log_w), log_w.mean(0), atol=1e-12)


def test_log_weights_average_to_the_exact_elbo(problem):
    model, vae, x, log_lik = problem
    x = x[:5]
    log_w = metrics.log_importance_weights(vae, x, 20_000, log_lik, torch.Generator().manual_seed(1))
    exact = torch.stack([toy.exact_elbo(model, xi, vae.q(xi)) for xi in x])
    standard_error = log_w.std(0) / math.sqrt(len(log_w))
    assert ((log_w.mean(0) - exact).abs() < 5 * standard_error).all()
    estimate = metrics.elbo_estimate(vae, x, n_samples=20_000, log_likelihood=log_lik, seed=2)
    assert estimate["elbo"] == pytest.approx(-(estimate["recon"] + estimate["kl"]))
    assert estimate["elbo"] == pytest.approx(exact.mean().item(), abs=0.02)
    kl = torch.stack([toy.kl_to_prior(vae.q(xi)) for xi in x])
    assert estimate["kl"] == pytest.approx(kl.mean().item(), rel=1e-9)


def test_iwae_rises_with_k_towards_the_exact_log_likelihood(problem):
    model, vae, x, log_lik = problem
    log_evidence = model.log_evidence(x).mean().item()
    exact_elbo = torch.stack([toy.exact_elbo(model, xi, vae.q(xi)) for xi in x]).mean().item()
    assert log_evidence - exact_elbo > 0.5, "the test needs a visible gap between the ELBO and log p(x)"
    bounds = {k: torch.stack([metrics.iwae_bound(vae, x, k=k, log_likelihood=log_lik, seed=s).mean()
                              for s in range(3)]).mean().item()
              for k in (1, 10, 100, 1000)}
    values = list(bounds.values())
    assert all(a < b for a, b in zip(values[:-1], values[1:])), bounds
    assert all(v <= log_evidence + 0.01 for v in values), (bounds, log_evidence)
    assert log_evidence - bounds[1000] < 0.1 * (log_evidence - exact_elbo)


def test_iwae_is_never_below_the_mean_of_its_log_weights():
    torch.manual_seed(0)
    vae = models.MLPVAE(hidden=32, latent_dim=4)
    x = torch.bernoulli(torch.rand(6, 784))
    log_w = metrics.log_importance_weights(vae, x, 50)
    assert (metrics.iwae_from_log_weights(log_w) >= log_w.mean(0) - 1e-4).all()


def test_iwae_chunking_gives_the_same_numbers():
    torch.manual_seed(0)
    vae = models.MLPVAE(hidden=32, latent_dim=4)
    x = torch.bernoulli(torch.rand(8, 784))
    at_once = metrics.iwae_bound(vae, x, k=60, batch_size=8, max_rows=10_000, seed=3)
    in_chunks = metrics.iwae_bound(vae, x, k=60, batch_size=8, max_rows=70, seed=3)  # chunks of 8 samples
    assert at_once.shape == (8,)
    assert torch.allclose(at_once, in_chunks, atol=1e-4)


def test_bernoulli_log_likelihood_matches_the_loss_and_broadcasts_over_samples():
    torch.manual_seed(0)
    logits, x = torch.randn(3, 5, 784), torch.bernoulli(torch.rand(5, 784))
    per_sample = metrics.bernoulli_log_likelihood(logits, x)
    assert per_sample.shape == (3, 5)
    expected = -torch.stack([losses.bernoulli_nll(one, x) for one in logits])
    assert torch.allclose(per_sample, expected, atol=1e-3)
    assert metrics.bernoulli_log_likelihood(torch.randn(3, 5, 1, 8, 8), torch.rand(5, 1, 8, 8)).shape == (3, 5)


def test_elbo_estimate_samples_z_instead_of_using_the_mean():
    torch.manual_seed(0)
    vae = models.MLPVAE(hidden=32, latent_dim=4)
    with torch.no_grad():
        vae.fc_logvar.bias.fill_(2.0)  # a wide q: decoding z = μ would hide the sampling noise
    x = torch.bernoulli(torch.rand(20, 784))
    estimate = metrics.elbo_estimate(vae, x, n_samples=5)
    again = metrics.elbo_estimate(vae, x, n_samples=5)
    other_seed = metrics.elbo_estimate(vae, x, n_samples=5, seed=1)
    assert estimate == again and estimate["recon"] != other_seed["recon"]
    mu, logvar = vae.encode(x)
    assert estimate["kl"] == pytest.approx(losses.gaussian_kl(mu, logvar).mean().item(), rel=1e-5)


def test_clear_errors():
    vae = models.MLPVAE(hidden=8, latent_dim=2)
    x = torch.rand(4, 784)
    with pytest.raises(ValueError, match="k .* at least 1"):
        metrics.iwae_bound(vae, x, k=0)
    with pytest.raises(ValueError, match="at least 1"):
        metrics.elbo_estimate(vae, x, n_samples=0)
