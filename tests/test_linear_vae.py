"""The linear VAE of lesson 07: the exact average ELBO against lesson 02's per-image closed forms, the
closed-form optimum against an independent construction and against gradient descent, and the collapse rule."""

import math

import pytest
import torch

from vaecourse import linear_vae, toy

F64 = torch.float64
SPECTRUM = torch.tensor([5.0, 3.0, 2.0, 0.8, 0.5, 0.2], dtype=F64)


@pytest.fixture(scope="module")
def images():
    """1,000 points in 6-D whose covariance has (about) the eigenvalues of SPECTRUM, in a random basis."""
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))
    return torch.randn(1000, 6, generator=g, dtype=F64) * SPECTRUM.sqrt() @ basis.T + torch.arange(6.0, dtype=F64)


def optimal_model(images, latent_dim, sigma2, beta=1.0):
    """The optimum built by hand from the eigen-decomposition (Lucas et al., 2019), independently of
    linear_vae.optimum: w_i = u_i √(λ_i − βσ²)₊, V = diag(1/λ) Wᵀ, s² = βσ²/λ (1 when collapsed)."""
    mean, cov = linear_vae.data_moments(images)
    lam, u = torch.linalg.eigh(cov)
    lam, u = lam.flip(0)[:latent_dim], u.flip(1)[:, :latent_dim]
    model = linear_vae.LinearVAE(mean, latent_dim, sigma2)
    alive = lam > beta * sigma2
    with torch.no_grad():
        model.weight.copy_(u * (lam - beta * sigma2).clamp(min=0).sqrt())
        model.encoder_weight.copy_(model.weight.T / lam.unsqueeze(1))
        model.encoder_logvar.copy_(torch.where(alive, (beta * sigma2 / lam).log(), torch.zeros_like(lam)))
    return model, cov


def test_data_moments_and_eigenvalues(images):
    mean, cov = linear_vae.data_moments(images)
    centred = images - images.mean(0)
    assert torch.allclose(cov, centred.T @ centred / len(images))
    lam = linear_vae.eigenvalues(cov)
    assert (lam[:-1] >= lam[1:]).all() and torch.allclose(lam.sum(), cov.trace())


def test_average_elbo_is_the_mean_of_the_per_image_closed_forms(images):
    """The covariance form against lesson 02's exact ELBO (toy.exact_elbo), image by image, for a random model
    whose bias is not the data mean (so the second moment is not the covariance)."""
    model = linear_vae.LinearVAE(torch.zeros(6, dtype=F64), latent_dim=3, sigma2=0.7, seed=2)
    with torch.no_grad():
        model.weight.mul_(100)
        model.encoder_weight.mul_(30)
        model.encoder_logvar.copy_(torch.tensor([-1.0, 0.3, 0.0]))
    x = images[:50]
    exact = linear_vae.average_elbo(model, linear_vae.second_moment(model, x))
    generative = model.generative_model()
    per_image = torch.stack([toy.exact_elbo(generative, xi, model.posterior(xi)) for xi in x])
    assert abs(exact["elbo"].item() - per_image.mean().item()) < 1e-9
    kl = torch.stack([toy.kl_to_prior(model.posterior(xi)) for xi in x]).mean()
    assert abs(exact["kl"].item() - kl.item()) < 1e-9
    assert torch.isclose(exact["kl_per_latent"].sum(), exact["kl"])


def test_beta_weights_only_the_kl(images):
    model = linear_vae.LinearVAE(images.mean(0), 2, sigma2=1.0, seed=1)
    moment = linear_vae.second_moment(model, images)
    one, three = linear_vae.average_elbo(model, moment), linear_vae.average_elbo(model, moment, beta=3.0)
    assert torch.isclose(three["loss"], one["recon"] + 3 * one["kl"]) and torch.isclose(three["elbo"], one["elbo"])


@pytest.mark.parametrize("sigma2,beta,alive", [(1.0, 1.0, 3), (0.6, 1.0, 4), (1.0, 2.5, 2), (0.1, 1.0, 6),
                                               (6.0, 1.0, 0)])
def test_closed_form_optimum_matches_the_hand_built_one(images, sigma2, beta, alive):
    model, cov = optimal_model(images, 6, sigma2, beta)
    lam = linear_vae.eigenvalues(cov)
    best = linear_vae.optimum(lam, sigma2, beta)
    assert int(best["alive"].sum()) == alive
    got = linear_vae.measured(model, images)
    assert torch.allclose(got["kl"], best["kl"], atol=1e-9)
    n = len(images)  # metrics.latent_activity is the sample variance (divides by N − 1)
    assert torch.allclose(got["activity"], best["activity"] * n / (n - 1), atol=1e-6)
    assert torch.allclose(model.weight.pow(2).sum(0), best["decoder_norm2"], atol=1e-9)
    assert torch.allclose(model.encoder_logvar.exp(), best["encoder_var"], atol=1e-12)
    assert torch.allclose(best["kl"], torch.where(lam > beta * sigma2, 0.5 * (lam / (beta * sigma2)).log(),
                                                  torch.zeros_like(lam)))


@pytest.mark.parametrize("sigma2,beta", [(1.0, 1.0), (0.3, 2.0)])
def test_the_optimum_is_a_maximum_and_the_elbo_is_tight_there(images, sigma2, beta):
    model, cov = optimal_model(images, 4, sigma2, beta)
    best = linear_vae.average_elbo(model, cov, beta)["loss"].item()
    g = torch.Generator().manual_seed(5)
    for _ in range(20):
        nudged, _ = optimal_model(images, 4, sigma2, beta)
        with torch.no_grad():
            for p in nudged.parameters():
                p.add_(1e-3 * torch.randn(p.shape, generator=g, dtype=F64))
        assert linear_vae.average_elbo(nudged, cov, beta)["loss"].item() > best
    if beta == 1.0:  # Lucas et al.: at the optimum q(z|x) is the exact posterior, so the ELBO equals log p(x)
        log_px = model.generative_model().marginal().log_prob(images).mean().item()
        assert abs(linear_vae.average_elbo(model, cov)["elbo"].item() - log_px) < 1e-9


@pytest.mark.parametrize("sigma2,beta", [(1.0, 1.0), (0.6, 1.0), (0.9, 2.5), (6.0, 1.0)])
def test_gradient_descent_finds_the_closed_form_optimum(images, sigma2, beta):
    mean, cov = linear_vae.data_moments(images)
    model, history = linear_vae.train_linear_vae(mean, cov, 4, sigma2, beta, steps=3000, lr=0.05)
    best = linear_vae.optimum(linear_vae.eigenvalues(cov), sigma2, beta, 4)
    got = linear_vae.measured(model, images)
    assert torch.allclose(got["kl"].sort(descending=True).values, best["kl"], atol=2e-4)
    assert got["active_units"] == linear_vae.predicted_active(linear_vae.eigenvalues(cov), sigma2, beta, 4)
    hand_built, _ = optimal_model(images, 4, sigma2, beta)
    assert history[-1] == pytest.approx(linear_vae.average_elbo(hand_built, cov, beta)["loss"].item(), abs=1e-4)
    assert len(history) == 3000 and history[-1] < history[0]


def test_beta_and_sigma2_enter_only_through_their_product():
    a, b = linear_vae.optimum(SPECTRUM, 0.5, 4.0), linear_vae.optimum(SPECTRUM, 2.0, 1.0)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_predicted_active_uses_the_burda_threshold():
    lam = torch.tensor([2.0, 1.005, 1.02, 0.5], dtype=F64)
    best = linear_vae.optimum(lam, 1.0)
    assert best["alive"].tolist() == [True, True, True, False]
    assert linear_vae.predicted_active(lam, 1.0) == 2           # 1 − 1/1.005 < 0.01: alive but not "active"
    assert linear_vae.predicted_active(lam, 1.0, latent_dim=1) == 1
    assert linear_vae.collapse_threshold(0.5, 3.0) == 1.5


@pytest.mark.parametrize("sigma2,beta", [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (math.nan, 1.0), (1.0, math.inf),
                                         ("1", 1.0)])
def test_bad_noise_is_a_clear_error(sigma2, beta):
    with pytest.raises(ValueError, match="must be a positive number"):
        linear_vae.optimum(SPECTRUM, sigma2, beta)


def test_bad_latent_dim_is_a_clear_error():
    with pytest.raises(ValueError, match="latent_dim must be between 1 and"):
        linear_vae.optimum(SPECTRUM, 1.0, latent_dim=7)
