"""What the KL term contains: the average KL to the prior split into three parts, and β-TCVAE (lesson 09).

With data points n = 1 … N drawn uniformly, encoder posteriors q(z|n) and the *aggregate posterior*
q(z) = (1/N) Σₙ q(z|n), the average KL to the prior p(z) = ∏ⱼ p(zⱼ) splits exactly into
(Hoffman & Johnson 2016; Chen et al. 2018)

    (1/N) Σₙ KL(q(z|n) ‖ p(z)) = I(n; z)                    index-code mutual information
                               + KL(q(z) ‖ ∏ⱼ q(zⱼ))         total correlation
                               + Σⱼ KL(q(zⱼ) ‖ p(zⱼ))        dimension-wise KL

because the log-ratios inside the expectations telescope:
log q(z|n)/p(z) = log q(z|n)/q(z) + log q(z)/∏ⱼq(zⱼ) + Σⱼ log q(zⱼ)/p(zⱼ).

This module computes the three terms exactly on a finite, discrete table (:func:`decompose_discrete`)
and, for Gaussian posteriors over a finite set of images, with the aggregate posterior summed over the
whole set and the expectations over z sampled (:func:`decompose_kl`); it estimates log q(z) from a
minibatch as Chen et al. do (minibatch weighted sampling, :func:`minibatch_weighted_log_qz`) and with
weights that make q(z) unbiased (:func:`minibatch_reweighted_log_qz`); and it gives β-TCVAE's loss
(:func:`beta_tcvae_loss`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from vaecourse import beta_vae, dsprites, losses, metrics, models, train

LOG_2PI = math.log(2 * math.pi)
TCVAE_BETA = 6.0  # the weight on the total correlation of the shipped β-TCVAEs (Chen et al. used 6 on dSprites)


@dataclass
class KLTerms:
    """The average KL to the prior and its three parts, in nats per data point."""
    kl: float
    mutual_info: float
    total_correlation: float
    dimension_wise_kl: float
    closed_form_kl: float | None = None  # for Gaussian posteriors: the exact average KL, without sampling error

    def parts(self) -> dict[str, float]:
        """The three parts by name, in the order of the decomposition."""
        return {"index-code MI": self.mutual_info, "total correlation": self.total_correlation,
                "dimension-wise KL": self.dimension_wise_kl}


def _kl_sum(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Σ p log(p/q) over all entries, with 0 log 0 = 0."""
    p, q = torch.broadcast_tensors(p, q)
    terms = torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p))
    return terms.sum()


def decompose_discrete(q_z_given_n: torch.Tensor, prior: torch.Tensor) -> KLTerms:
    """Each term of the decomposition from its own definition, for discrete latents.

    ``q_z_given_n`` has shape (N, K, …, K), one table per data point over D latents of K values each
    (every table sums to 1); ``prior`` has shape (K,), the same p(zⱼ) for every latent. Every term is a
    finite sum, so the identity KL = MI + TC + dimension-wise KL holds to float precision.
    """
    if q_z_given_n.ndim < 2 or prior.ndim != 1 or any(k != len(prior) for k in q_z_given_n.shape[1:]):
        raise ValueError("q_z_given_n must have shape (N, K, ..., K) and prior shape (K,), with the same K.")
    if not torch.allclose(q_z_given_n.flatten(1).sum(1), torch.ones(len(q_z_given_n), dtype=q_z_given_n.dtype)):
        raise ValueError("each q(z|n) table must sum to 1 (divide each by its sum).")
    q = q_z_given_n.double()
    n, dims = len(q), q.ndim - 1
    log_prior = prior.double().log()
    joint_prior = sum(log_prior.reshape([-1 if i == j else 1 for i in range(dims)]) for j in range(dims)).exp()
    q_z = q.mean(0)
    marginals = [q_z.sum(dim=tuple(i for i in range(dims) if i != j)) for j in range(dims)]
    product = torch.ones_like(q_z)
    for j, m in enumerate(marginals):
        product = product * m.reshape([-1 if i == j else 1 for i in range(dims)])
    return KLTerms(kl=float(_kl_sum(q, joint_prior) / n),
                   mutual_info=float(_kl_sum(q, q_z) / n),
                   total_correlation=float(_kl_sum(q_z, product)),
                   dimension_wise_kl=float(sum(_kl_sum(m, prior.double()) for m in marginals)))


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, exp(logvar)) elementwise (per latent, not summed), broadcasting its arguments."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i,j | x_n) for every sample i, data point n and latent j: shape (M, N, D) from z (M, D)
    and mu, logvar (N, D)."""
    return gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])


def _check_codes(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> None:
    if z.ndim != 2 or mu.ndim != 2 or mu.shape != logvar.shape or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z must have shape (M, D) and mu, logvar the same shape (N, D); got z {tuple(z.shape)}, "
                         f"mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)}.")


def exact_log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                 chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """log q(zᵢ) and log q(zᵢⱼ) per latent under the aggregate posterior of the *whole* finite set:
    q(z) = (1/N) Σₙ q(z|n), a log-sum-exp over all N rows of (mu, logvar). Shapes (M,) and (M, D).
    Computed ``chunk`` samples at a time, so an (M, N, D) array never has to fit in memory at once."""
    _check_codes(z, mu, logvar)
    log_n = math.log(len(mu))
    joint, marginal = [], []
    for rows in z.split(chunk):
        log_q = pairwise_log_density(rows, mu, logvar)
        joint.append(torch.logsumexp(log_q.sum(2), dim=1) - log_n)
        marginal.append(torch.logsumexp(log_q, dim=1) - log_n)
    return torch.cat(joint), torch.cat(marginal)


def decompose_kl(mu: torch.Tensor, logvar: torch.Tensor, samples: int = 2, seed: int = 0) -> KLTerms:
    """The three terms for Gaussian posteriors N(mu[n], exp(logvar[n])) of a finite set of N data points.

    ``samples`` draws z ~ q(z|n) per data point; at each draw the three log-ratios are evaluated with q(z)
    and q(zⱼ) the exact mixtures over all N posteriors, and averaged. Per draw they telescope to
    log q(z|n) − log p(z), so MI + TC + dimension-wise KL equals ``kl``, the average KL on the same draws,
    to float precision (float64). ``closed_form_kl`` is the exact average KL, from which ``kl`` differs
    by sampling error only.
    """
    _check_codes(mu, mu, logvar)
    mu, logvar = mu.detach().double(), logvar.detach().double()
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    noise = torch.randn((samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    z = (mu + torch.exp(0.5 * logvar) * noise).reshape(-1, mu.shape[1])
    log_qz, log_qzj = exact_log_qz(z, mu, logvar)
    log_q_given_n = gaussian_log_density(z, mu.repeat(samples, 1), logvar.repeat(samples, 1)).sum(1)
    log_p = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    log_prod_qzj = log_qzj.sum(1)
    return KLTerms(kl=float((log_q_given_n - log_p).mean()),
                   mutual_info=float((log_q_given_n - log_qz).mean()),
                   total_correlation=float((log_qz - log_prod_qzj).mean()),
                   dimension_wise_kl=float((log_prod_qzj - log_p).mean()),
                   closed_form_kl=float(losses.gaussian_kl(mu, logvar).mean()))


def minibatch_weighted_log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                              dataset_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Chen et al.'s minibatch weighted sampling: log q(zᵢ) and log ∏ⱼ q(zᵢⱼ), each of shape (M,).

    zᵢ is a draw from row i's posterior, and the batch of M rows (mu, logvar) stands in for the N data
    points: log q(zᵢ) ≈ logsumexp_k [Σⱼ log q(zᵢⱼ|x_k)] − log(N·M), and each marginal log q(zᵢⱼ) ≈
    logsumexp_k [log q(zᵢⱼ|x_k)] − log(N·M), summed over j afterwards. Differentiable.
    """
    _check_codes(z, mu, logvar)
    log_q = pairwise_log_density(z, mu, logvar)
    log_weight = math.log(dataset_size * len(mu))
    log_qz = torch.logsumexp(log_q.sum(2), dim=1) - log_weight
    log_prod_qzj = (torch.logsumexp(log_q, dim=1) - log_weight).sum(1)
    return log_qz, log_prod_qzj


def minibatch_reweighted_log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                                dataset_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`minibatch_weighted_log_qz`, but sample i's own posterior weighs 1/N and the M − 1 others
    (N − 1)/(N(M − 1)) each: for a batch drawn without replacement that makes the estimate of q(zᵢ)
    (not of its log) unbiased, so the bias left is Jensen's, which shrinks as the batch grows."""
    _check_codes(z, mu, logvar)
    m, n = len(mu), dataset_size
    if m < 2:
        raise ValueError("the reweighted estimate needs a batch of at least 2.")
    log_w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), dtype=z.dtype, device=z.device)
    log_w.fill_diagonal_(-math.log(n))
    log_q = pairwise_log_density(z, mu, logvar)
    log_qz = torch.logsumexp(log_q.sum(2) + log_w, dim=1)
    log_prod_qzj = torch.logsumexp(log_q + log_w[:, :, None], dim=1).sum(1)
    return log_qz, log_prod_qzj


ESTIMATORS = {"weighted (Chen et al.)": minibatch_weighted_log_qz, "reweighted": minibatch_reweighted_log_qz}


@torch.no_grad()
def estimator_bias(mu: torch.Tensor, logvar: torch.Tensor, batch_sizes: list[int], repeats: int = 20,
                   seed: int = 0) -> dict[str, dict[int, tuple[float, float]]]:
    """How far each minibatch estimate of log q(z) lies from the exact value on the finite set (mu, logvar).

    For each batch size M, ``repeats`` batches of M distinct rows are drawn, one z per row from its
    posterior, and each estimator (with N = the set's size) is compared with :func:`exact_log_qz`.
    Returns ``{estimator: {M: (mean error, spread)}}`` in nats, the spread being the standard deviation
    of the per-sample error.
    """
    n = len(mu)
    if any(not 2 <= m <= n for m in batch_sizes):
        raise ValueError(f"batch sizes must lie between 2 and the set's size {n}; got {batch_sizes}.")
    mu, logvar = mu.double(), logvar.double()
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    errors: dict[str, dict[int, list[torch.Tensor]]] = {name: {m: [] for m in batch_sizes} for name in ESTIMATORS}
    for m in batch_sizes:
        for _ in range(repeats):
            rows = torch.randperm(n, generator=generator, device=mu.device)[:m]
            noise = torch.randn(m, mu.shape[1], generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu[rows] + torch.exp(0.5 * logvar[rows]) * noise
            exact, _ = exact_log_qz(z, mu, logvar)
            for name, estimate in ESTIMATORS.items():
                errors[name][m].append(estimate(z, mu[rows], logvar[rows], n)[0] - exact)
    return {name: {m: (float(torch.cat(e).mean()), float(torch.cat(e).std())) for m, e in by_m.items()}
            for name, by_m in errors.items()}


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                      dataset_size: int = dsprites.NUM_IMAGES) -> torch.Tensor:
    """The minibatch estimate of the total correlation, mean over the batch of log q(z) − log ∏ⱼ q(zⱼ)
    with :func:`minibatch_weighted_log_qz`: Chen et al.'s estimator, biased by an amount that depends on how
    much the batch's posteriors overlap (lesson 09 measures it), and the one their β-TCVAE trains with."""
    log_qz, log_prod_qzj = minibatch_weighted_log_qz(z, mu, logvar, dataset_size)
    return (log_qz - log_prod_qzj).mean()


def beta_tcvae_loss(beta: float = TCVAE_BETA, dataset_size: int = dsprites.NUM_IMAGES):
    """A ``fit`` loss for β-TCVAE (Chen et al. 2018): reconstruction + MI + β·TC + dimension-wise KL.

    Written as reconstruction + KL + (β − 1)·TC, with the KL in closed form and TC estimated on the
    minibatch (:func:`total_correlation`): in expectation the same objective as Chen et al.'s, with the
    KL's sampling noise removed (disentanglement_lib writes it the same way). β = 1 is the plain VAE.
    The logged ``tc`` is the reweighted estimate (:func:`minibatch_reweighted_log_qz`): the weighted one's
    value contains a constant (D − 1)·log(N·M), about 165 nats at batch 128. The reweighted one is still biased
    (it can come out negative).
    """
    def loss_fn(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = model.encode(x)
        z = models.reparameterize(mu, logvar)
        recon = losses.bernoulli_nll(model.decode(z), x).mean()
        kl = losses.gaussian_kl(mu, logvar).mean()
        tc = total_correlation(z, mu, logvar, dataset_size)
        with torch.no_grad():  # logged: the reweighted estimate (see the docstring)
            log_qz, log_prod_qzj = minibatch_reweighted_log_qz(z, mu, logvar, dataset_size)
        return {"loss": recon + kl + (beta - 1) * tc, "recon": recon, "kl": kl, "tc": (log_qz - log_prod_qzj).mean()}

    return loss_fn


# --- The shipped β-TCVAEs: trained by scripts/train_tcvae.py exactly like lesson 06's β-VAEs ---

DECOMPOSITION_IMAGES = 2000  # sprites the KL is decomposed on: q(z) is the mixture of their 2,000 posteriors
RECORD_KEYS = beta_vae.RECORD_KEYS + ("kl_terms",)


def checkpoint_path(beta: float = TCVAE_BETA, resolution: int = 32, folder: Path = train.CHECKPOINTS, *,
                    seed: int = 0) -> Path:
    """Where the β-TCVAE for ``beta`` and ``seed`` lives, e.g. ``data/checkpoints/tcvae_32px_beta6_seed1.pt``."""
    return Path(folder) / f"tcvae_{resolution}px_beta{beta:g}_seed{seed}.pt"


@torch.no_grad()
def sprite_kl_terms(model: models.ConvVAE, n_images: int = DECOMPOSITION_IMAGES, seed: int = 2) -> KLTerms:
    """The three terms of ``model``'s average KL on ``n_images`` fresh sprites (a finite set of its own)."""
    device = next(model.parameters()).device
    sprites = dsprites.sample(n_images, resolution=model.resolution, seed=seed, device=device)
    mu, logvar = metrics.encode_means(model, sprites.images)
    return decompose_kl(mu, logvar)


def evaluate(model: models.ConvVAE) -> dict:
    """Lesson 06's evaluation (:func:`vaecourse.beta_vae.evaluate`) plus the KL's three terms."""
    terms = sprite_kl_terms(model)
    return {**beta_vae.evaluate(model), "kl_terms": {name: round(v, 4) for name, v in
                                                    [("kl", terms.kl), *terms.parts().items(),
                                                     ("closed-form kl", terms.closed_form_kl)]}}


def load_record(beta: float = TCVAE_BETA, resolution: int = 32, folder: Path = train.CHECKPOINTS, *,
                seed: int = 0) -> dict:
    """The record beside a shipped β-TCVAE; a missing or damaged one is a ``train.RecordError``."""
    return train.load_record(checkpoint_path(beta, resolution, folder, seed=seed),
                             f"run scripts/train_tcvae.py --seeds {seed} to make it", RECORD_KEYS)
