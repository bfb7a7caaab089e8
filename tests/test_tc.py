"""The KL decomposition (exact on a finite set), the minibatch estimates of log q(z), β-TCVAE's loss and
the shipped β-TCVAEs of lesson 09."""

import math

import pytest
import torch

from vaecourse import beta_vae, dsprites, losses, models, tc, train


def random_tables(n: int = 30, k: int = 4, dims: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    q = torch.rand((n,) + (k,) * dims, generator=generator, dtype=torch.float64) ** 3
    return q / q.flatten(1).sum(1).reshape((n,) + (1,) * dims)


def total(terms: tc.KLTerms) -> float:
    return terms.mutual_info + terms.total_correlation + terms.dimension_wise_kl


def test_discrete_terms_sum_to_the_average_kl_and_are_not_negative():
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    terms = tc.decompose_discrete(random_tables(), prior)
    assert total(terms) == pytest.approx(terms.kl, abs=1e-12)
    assert min(terms.mutual_info, terms.total_correlation, terms.dimension_wise_kl) > 1e-3
    assert terms.mutual_info <= math.log(30)


def test_discrete_terms_vanish_where_they_should():
    prior = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    one = random_tables(n=1, k=3, dims=2)
    terms = tc.decompose_discrete(one.expand(5, 3, 3), prior)  # every data point has the same posterior
    assert terms.mutual_info == pytest.approx(0, abs=1e-12)
    factorised = (prior[:, None] * prior[None, :]).expand(4, 3, 3)  # q(z|n) = p(z) for every n
    assert tc.decompose_discrete(factorised, prior).kl == pytest.approx(0, abs=1e-12)
    product = torch.einsum("i,j->ij", torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64),
                           torch.tensor([0.1, 0.1, 0.8], dtype=torch.float64))[None]
    assert tc.decompose_discrete(product, prior).total_correlation == pytest.approx(0, abs=1e-12)


def test_discrete_rejects_tables_that_are_not_distributions():
    with pytest.raises(ValueError, match="sum to 1"):
        tc.decompose_discrete(torch.ones(2, 3, 3), torch.ones(3) / 3)
    with pytest.raises(ValueError, match="same K"):
        tc.decompose_discrete(torch.ones(2, 3, 3) / 9, torch.ones(4) / 4)


def gaussian_set(n: int = 400, d: int = 4, spread: float = 1.5, seed: int = 5):
    generator = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(n, d, generator=generator, dtype=torch.float64)
    mu[:, 1] = mu[:, 0] + 0.3 * mu[:, 1]  # correlated latents, so the total correlation is not zero
    logvar = -1.0 + 0.3 * torch.randn(n, d, generator=generator, dtype=torch.float64)
    return mu, logvar


def test_gaussian_terms_sum_to_the_average_kl_to_1e_6():
    mu, logvar = gaussian_set()
    terms = tc.decompose_kl(mu.float(), logvar.float(), samples=4)
    assert terms.closed_form_kl == pytest.approx(float(losses.gaussian_kl(mu.float().double(),
                                                                          logvar.float().double()).mean()), abs=1e-9)
    assert abs(total(terms) - terms.kl) < 1e-6
    assert terms.kl == pytest.approx(terms.closed_form_kl, rel=0.02)  # sampling error only
    assert 0 < terms.mutual_info <= math.log(400) + 0.1
    assert terms.total_correlation > 0.3 and terms.dimension_wise_kl > 0


def test_one_data_point_has_no_mutual_information_and_no_total_correlation():
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[-1.0, 0.0, 0.5]])
    terms = tc.decompose_kl(mu, logvar, samples=20_000)
    assert terms.total_correlation == pytest.approx(0, abs=1e-9)  # a diagonal Gaussian is its marginals' product
    assert terms.mutual_info == pytest.approx(0, abs=1e-9)  # q(z) is q(z|n) itself
    assert terms.dimension_wise_kl == pytest.approx(terms.kl, abs=1e-9)
    assert terms.kl == pytest.approx(terms.closed_form_kl, rel=0.02)


def test_exact_log_qz_is_the_mixture_of_every_posterior_and_does_not_depend_on_chunks():
    mu, logvar = gaussian_set(n=50, d=3)
    z = torch.randn(17, 3, dtype=torch.float64)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(50, dtype=torch.float64)),
        torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), 1))
    log_qz, log_qzj = tc.exact_log_qz(z, mu, logvar, chunk=4)
    torch.testing.assert_close(log_qz, mixture.log_prob(z))
    marginal = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(50).double()),
        torch.distributions.Normal(mu[:, 1], torch.exp(0.5 * logvar[:, 1])))
    torch.testing.assert_close(log_qzj[:, 1], marginal.log_prob(z[:, 1]))
    torch.testing.assert_close(tc.exact_log_qz(z, mu, logvar, chunk=100)[0], log_qz)
    with pytest.raises(ValueError, match="shape"):
        tc.exact_log_qz(z[:, :2], mu, logvar)


def test_whole_set_as_the_batch_pins_both_estimators():
    mu, logvar = gaussian_set(n=60, d=3)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    exact, exact_j = tc.exact_log_qz(z, mu, logvar)
    weighted, weighted_prod = tc.minibatch_weighted_log_qz(z, mu, logvar, dataset_size=60)
    torch.testing.assert_close(weighted, exact - math.log(60))  # log(N·M) with M = N: one log N too many
    torch.testing.assert_close(weighted_prod, (exact_j - math.log(60)).sum(1))
    reweighted, reweighted_prod = tc.minibatch_reweighted_log_qz(z, mu, logvar, dataset_size=60)
    torch.testing.assert_close(reweighted, exact)
    torch.testing.assert_close(reweighted_prod, exact_j.sum(1))
    with pytest.raises(ValueError, match="at least 2"):
        tc.minibatch_reweighted_log_qz(z[:1], mu[:1], logvar[:1], 60)


def test_estimators_carry_gradients():
    mu, logvar = gaussian_set(n=8, d=2)
    mu.requires_grad_(True)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    for estimate in tc.ESTIMATORS.values():
        log_qz, log_prod = estimate(z, mu, logvar, 1000)
        (log_qz - log_prod).sum().backward()
        assert mu.grad is not None and torch.isfinite(mu.grad).all()
        mu.grad = None


def test_weighted_estimate_falls_by_log_m_when_posteriors_do_not_overlap():
    mu, logvar = gaussian_set(n=500, d=4, spread=20.0)  # far apart: q(z_i) is q(z_i|x_i)/N
    bias = tc.estimator_bias(mu, logvar, [4, 32, 256], repeats=3)
    for m, (mean, _) in bias["weighted (Chen et al.)"].items():
        assert mean == pytest.approx(-math.log(m), abs=0.05)
    assert all(abs(mean) < 0.05 for mean, _ in bias["reweighted"].values())
    with pytest.raises(ValueError, match="between 2"):
        tc.estimator_bias(mu, logvar, [1, 600])


def test_reweighted_bias_shrinks_as_the_batch_grows_on_overlapping_posteriors():
    mu, logvar = gaussian_set(n=400, d=3, spread=1.0)
    bias = tc.estimator_bias(mu, logvar, [4, 64, 400], repeats=10)["reweighted"]
    assert abs(bias[4][0]) > abs(bias[64][0]) > abs(bias[400][0])
    assert abs(bias[400][0]) < 1e-9  # the whole set: exact


def test_beta_tcvae_loss_is_the_vae_loss_plus_the_weighted_total_correlation():
    torch.manual_seed(0)
    model = models.ConvVAE(32)
    x = dsprites.sample(16, resolution=32).images
    torch.manual_seed(1)
    plain = tc.beta_tcvae_loss(beta=1.0)(model, x)
    torch.manual_seed(1)
    logits, mu, logvar = model(x)
    torch.testing.assert_close(plain["loss"], losses.negative_elbo(logits, x, mu, logvar)["loss"])
    torch.manual_seed(1)
    weighted = tc.beta_tcvae_loss(beta=6.0)(model, x)
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    z = models.reparameterize(mu, logvar)
    torch.testing.assert_close(weighted["loss"] - plain["loss"], 5 * tc.total_correlation(z, mu, logvar))
    weighted["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_training_with_the_tc_loss_logs_it_like_lesson_06():
    torch.manual_seed(0)
    model = models.ConvVAE(32)
    history = beta_vae.train_beta_vae(model, 6.0, steps=4, evaluations=2, batch_size=16, mig_samples=200,
                                      verbose=False, loss_fn=tc.beta_tcvae_loss(6.0))
    assert {"loss", "recon", "kl", "tc", "MIG", "train_s"} <= set(history) and len(history["tc"]) == 2


def test_checkpoint_names_and_a_missing_record(tmp_path):
    assert tc.checkpoint_path(6.0, seed=2).name == "tcvae_32px_beta6_seed2.pt"
    with pytest.raises(train.RecordError, match="train_tcvae.py --seeds 0"):
        tc.load_record(6.0, folder=tmp_path, seed=0)


@pytest.mark.parametrize("seed", beta_vae.SEEDS)
def test_the_shipped_tcvaes_have_records_with_the_kl_terms(seed):
    record = tc.load_record(tc.TCVAE_BETA, seed=seed)
    assert record["steps"] == beta_vae.STEPS and record["batch_size"] == beta_vae.BATCH_SIZE
    assert record["lr"] == beta_vae.LR and record["seed"] == seed
    terms = record["kl_terms"]
    assert abs(terms["index-code MI"] + terms["total correlation"] + terms["dimension-wise KL"] - terms["kl"]) < 1e-3
    assert terms["kl"] == pytest.approx(terms["closed-form kl"], rel=0.05)
    digest = torch.load(tc.checkpoint_path(seed=seed), weights_only=True)["weights_sha256"]
    assert record["weights_sha256"] == digest


def test_the_training_script_writes_a_checkpoint_and_a_record_like_lesson_06s(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "train_tcvae.py"
    done = subprocess.run([sys.executable, str(script), "--steps", "4", "--evaluations", "2", "--mig-samples", "200",
                           "--batch-size", "16", "--threads", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = tc.load_record(tc.TCVAE_BETA, folder=tmp_path, seed=0)
    assert record["steps"] == 4 and record["batch_size"] == 16 and "train_tcvae.py" in record["command"]
    saved = torch.load(tc.checkpoint_path(folder=tmp_path), weights_only=True)
    assert saved["weights_sha256"] == record["weights_sha256"]
    assert all(t.dtype == torch.float16 for t in saved["state_dict"].values())
