"""Lesson 07's package pieces: the Gaussian decoder's NLL, mean-MSE as a Gaussian with σ² = D/2, free bits,
KL annealing, the learned-variance decoder, the evaluation and the blur measure."""

import math

import pytest
import torch
import torch.nn.functional as F

from vaecourse import collapse, data, losses, metrics, models, train
from vaecourse.train import CHECKPOINTS

F64 = torch.float64


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 784, generator=g)


@pytest.fixture
def tiny_vae():
    torch.manual_seed(0)
    return models.MLPVAE(hidden=16, latent_dim=4)


def test_gaussian_nll_is_torch_distributions_log_prob(batch):
    mean = torch.rand(16, 784)
    want = -torch.distributions.Normal(mean, math.sqrt(0.3)).log_prob(batch).sum(dim=1)
    assert torch.allclose(losses.gaussian_nll(mean, batch, math.log(0.3)), want, rtol=1e-5)
    samples = torch.rand(3, 16, 784)   # a leading dimension of z samples
    want = -torch.distributions.Normal(samples, 1.0).log_prob(batch).sum(dim=-1)
    assert torch.allclose(losses.gaussian_nll(samples, batch, 0.0), want, rtol=1e-5)


def test_mean_mse_is_a_gaussian_decoder_with_half_d_variance(tiny_vae, batch):
    """The identity the lesson shows: the gradients of F.mse_loss + KL and of the Gaussian negative ELBO with
    σ² = D/2 agree (the two losses differ by a constant)."""
    torch.manual_seed(1)
    usual = collapse.mse_mean_loss(tiny_vae, batch)["loss"]
    grads_usual = torch.autograd.grad(usual, list(tiny_vae.parameters()))
    torch.manual_seed(1)
    logits, mu, logvar = tiny_vae(batch)
    gaussian = (losses.gaussian_nll(torch.sigmoid(logits), batch, math.log(collapse.MEAN_MSE_SIGMA2))
                + losses.gaussian_kl(mu, logvar)).mean()
    grads_gaussian = torch.autograd.grad(gaussian, list(tiny_vae.parameters()))
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(grads_usual, grads_gaussian))
    constant = 0.5 * 784 * math.log(2 * math.pi * 392)
    assert (gaussian - usual).item() == pytest.approx(constant, rel=1e-6)


def test_sum_mse_is_a_gaussian_decoder_with_variance_one_half(tiny_vae, batch):
    torch.manual_seed(2)
    terms = collapse.mse_sum_loss(tiny_vae, batch)
    torch.manual_seed(2)
    logits, mu, logvar = tiny_vae(batch)
    nll = losses.gaussian_nll(torch.sigmoid(logits), batch, math.log(0.5)).mean()
    assert (nll - terms["recon"]).item() == pytest.approx(0.5 * 784 * math.log(math.pi), rel=1e-6)


def test_free_bits_value_gradient_and_reported_kl():
    mu = torch.tensor([[2.0, 0.1, 0.0], [-2.0, 0.3, 0.1]], dtype=F64, requires_grad=True)
    logvar = torch.zeros(2, 3, dtype=F64, requires_grad=True)
    penalty, kl = losses.free_bits_kl(mu, logvar, 0.5)
    per_latent = 0.5 * mu.detach().pow(2).mean(0)                  # σ² = 1: KL_j = ½ mean(μ²)
    assert torch.allclose(kl, per_latent.sum())
    assert torch.allclose(penalty, per_latent.clamp(min=0.5).sum())
    (grad_mu,) = torch.autograd.grad(penalty, mu)
    assert torch.allclose(grad_mu[:, 0], mu.detach()[:, 0] / 2) and (grad_mu[:, 1:] == 0).all()  # floor: no gradient
    zero_floor, true = losses.free_bits_kl(mu, logvar, 0.0)
    assert torch.allclose(zero_floor, true) and torch.allclose(true, losses.gaussian_kl(mu, logvar).mean())


def test_free_bits_loss_adds_the_penalty_and_logs_the_true_kl(tiny_vae, batch):
    calls = []

    def my_kl(mu, logvar, free_bits):
        calls.append(free_bits)
        return losses.free_bits_kl(mu, logvar, free_bits)

    terms = collapse.free_bits_loss(0.25, kl_fn=my_kl)(tiny_vae, batch)
    assert calls == [0.25]
    assert torch.isclose(terms["loss"], terms["recon"] + terms["penalty"]) and terms["penalty"] >= terms["kl"]


def test_annealing_raises_beta_linearly_then_holds_it(tiny_vae, batch):
    loss_fn = collapse.annealed_loss(warmup_steps=4)
    betas = [float(loss_fn(tiny_vae, batch)["beta"]) for _ in range(6)]
    assert betas == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    terms = loss_fn(tiny_vae, batch)
    assert torch.isclose(terms["loss"], terms["recon"] + terms["kl"])
    with pytest.raises(ValueError, match="warmup_steps"):
        collapse.annealed_loss(0)


def test_learned_variance_model_learns_the_mse(batch):
    """σ² is a parameter; with the decoder means fixed, gradient steps on σ² alone reach the mean squared error
    per pixel, the ELBO's optimum in σ² (a calibrated decoder)."""
    torch.manual_seed(0)
    model = models.GaussianMLPVAE(hidden=16, latent_dim=4, log_sigma2=0.0)
    assert "log_sigma2" in dict(model.named_parameters())
    optimizer = torch.optim.Adam([model.log_sigma2], lr=0.05)
    logits, mu, logvar = model(batch)
    mean = torch.sigmoid(logits).detach()
    for _ in range(600):
        loss = losses.gaussian_nll(mean, batch, model.log_sigma2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.log_sigma2.detach().exp().item() == pytest.approx(float(F.mse_loss(mean, batch)), rel=1e-3)


def test_make_model_starts_the_learned_variance_at_the_pixel_variance(batch):
    model = collapse.make_model("learned_variance", batch)
    assert isinstance(model, models.GaussianMLPVAE)
    assert model.log_sigma2.detach().exp().item() == pytest.approx(float(batch.var(dim=0).mean()), rel=1e-5)
    assert type(collapse.make_model("mse_mean", batch)) is models.MLPVAE
    with pytest.raises(ValueError, match="unknown run 'mse'"):
        collapse.make_model("mse", batch)


def test_gaussian_log_likelihood_and_squared_error_for_elbo_estimates(tiny_vae, batch):
    logits = tiny_vae.decode(torch.randn(3, 16, 4))       # three z samples per image: (3, 16, 784)
    ll = metrics.gaussian_log_likelihood(0.2)(logits, batch)
    assert ll.shape == (3, 16)
    want = torch.distributions.Normal(torch.sigmoid(logits), math.sqrt(0.2)).log_prob(batch).sum(-1)
    assert torch.allclose(ll, want, rtol=1e-5)
    squared_error = (torch.sigmoid(logits) - batch).pow(2).sum(-1)
    assert torch.allclose(metrics.negative_squared_error(logits, batch), -squared_error)
    for bad in (0.0, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="decoder variance"):
            metrics.gaussian_log_likelihood(bad)


def test_gaussian_elbo_from_squared_error_matches_a_direct_estimate(tiny_vae, batch):
    error = metrics.elbo_estimate(tiny_vae, batch, n_samples=4, log_likelihood=metrics.negative_squared_error)
    direct = metrics.elbo_estimate(tiny_vae, batch, n_samples=4, log_likelihood=metrics.gaussian_log_likelihood(0.3))
    assert collapse.gaussian_elbo(error["recon"], error["kl"], 0.3) == pytest.approx(direct["elbo"], rel=1e-5)


def test_evaluate_reports_every_number_of_the_lesson(tiny_vae, batch):
    result = collapse.evaluate(tiny_vae, "mse_mean", batch, batch, n_samples=2)
    assert result["decoder_sigma2"] == 392.0 and 0 <= result["active_units"] <= 4
    assert len(result["kl_per_latent"]) == 4
    assert result["calibrated_sigma2"] == pytest.approx(result["squared_error"] / 784, rel=1e-5)  # same images
    assert result["calibrated_elbo"] > result["elbo"]        # σ² = 392 is far from calibrated
    bernoulli = collapse.evaluate(tiny_vae, "bce_sum", batch, batch, n_samples=2)
    assert bernoulli["decoder_sigma2"] is None
    assert bernoulli["elbo"] == pytest.approx(metrics.elbo_estimate(tiny_vae, batch, 2)["elbo"], rel=1e-6)


def test_train_run_uses_the_run_loss_and_half_the_epochs_to_warm_up(batch):
    torch.manual_seed(0)
    model = models.MLPVAE(hidden=8, latent_dim=2)
    history = collapse.train_run(model, "anneal", batch, epochs=4, verbose=False)   # 1 step per epoch
    assert history["beta"] == [0.0, 0.5, 1.0, 1.0]
    history = collapse.train_run(model, "free_bits", batch, epochs=1, verbose=False)
    assert history["penalty"][0] >= history["kl"][0]


def test_blur_counts_grey_pixels():
    assert collapse.blur(torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0, 0.2])) == pytest.approx(2 / 6)


def test_checkpoint_paths_are_named_by_run():
    assert collapse.checkpoint_path("free_bits").name == "collapse_free_bits.pt"
    assert set(collapse.RUNS) == set(collapse.DECODER_SIGMA2)


SHIPPED = sorted(CHECKPOINTS.glob("collapse_*.pt"))


@pytest.mark.skipif(not SHIPPED, reason="lesson 07's checkpoints are not in data/checkpoints")
def test_shipped_checkpoints_load_and_reproduce_their_records():
    """Every shipped run loads, has its record, and still has the recorded active latents and KL per latent;
    the learned-variance run reproduces its whole evaluation (test ELBO included)."""
    digits = data.load_mnist()
    assert [p.stem for p in SHIPPED] == sorted(f"collapse_{run}" for run in collapse.RUNS)
    for path in SHIPPED:
        run = path.stem.removeprefix("collapse_")
        record = collapse.load_record(run)
        assert {"command", "seed", "date", "device", "training_seconds", "elbo", "active_units"} <= set(record)
        model = collapse.make_model(run, digits.x_train)
        history, meta = train.load_checkpoint(path, model)
        assert len(history["loss"]) == record["epochs"] == collapse.EPOCHS and meta["run"] == run
        mu, logvar = metrics.encode_means(model, digits.x_test)
        assert metrics.active_units(mu) == record["active_units"], run
        assert torch.allclose(metrics.kl_per_latent(mu, logvar), torch.tensor(record["kl_per_latent"]), atol=1e-3)
        if run == "learned_variance":
            result = collapse.evaluate(model, run, digits.x_test, digits.x_train[:10_000], seed=record["seed"])
            assert result["elbo"] == pytest.approx(record["elbo"], abs=0.05)
            assert result["calibrated_elbo"] == pytest.approx(record["calibrated_elbo"], abs=0.05)
    assert sum(p.stat().st_size for p in SHIPPED) < 8e6, "keep the shipped checkpoints small"
