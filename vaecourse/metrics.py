"""Numbers that judge a trained VAE beyond its loss: how many latents it uses and how disentangled they are.

Each section belongs to the lesson that introduces it; every metric takes plain tensors (encoder
outputs, factor labels) so it can be tested without training a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from vaecourse import losses


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the ``with`` block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)

# --- Lesson 06: KL per latent, active units and the mutual information gap (MIG) ---


def kl_per_latent(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( q(z_j|x) ‖ N(0, 1) ) for each latent j, averaged over the batch: shape (latent_dim,).

    The entries add up to the batch mean of :func:`vaecourse.losses.gaussian_kl`. A latent the model
    does not use sits at the prior for every x, so its KL is about 0.
    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both be (N, latent_dim), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    # gaussian_kl sums over the last dimension: give each latent a dimension of its own.
    return losses.gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0)


def latent_activity(mu: torch.Tensor) -> torch.Tensor:
    """Variance over the data of each latent's posterior mean, Cov_x(E_q[z_j|x]) (Burda et al., 2016)."""
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"mu must be (N, latent_dim) with N ≥ 2 encoded examples, got {tuple(mu.shape)}.")
    return mu.double().var(dim=0).float()


def active_mask(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Which latents are *active*: their posterior mean varies with x by more than ``threshold``
    (variance; Burda et al., 2016). Inactive latents carry no information about x."""
    return latent_activity(mu) > threshold


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """How many latents are active (see :func:`active_mask`)."""
    return int(active_mask(mu, threshold).sum())


def discretize(codes: torch.Tensor, n_bins: int = 20) -> torch.Tensor:
    """Each column of ``codes`` (N, D) cut into ``n_bins`` equal-width bins between its min and max.

    Returns bin numbers 1 .. n_bins (long), exactly as disentanglement_lib's histogram discretizer:
    ``np.digitize(x, np.histogram(x, n_bins)[1][:-1])`` (a constant column falls in one bin).
    """
    if codes.ndim != 2:
        raise ValueError("codes must be (N, D): one row per example, one column per code dimension; "
                         f"got {tuple(codes.shape)}.")
    codes = codes.detach().double().cpu()
    low, high = codes.min(dim=0).values, codes.max(dim=0).values
    constant = low == high
    low, high = torch.where(constant, low - 0.5, low), torch.where(constant, high + 0.5, high)
    columns = []
    for j in range(codes.shape[1]):
        left_edges = torch.linspace(float(low[j]), float(high[j]), n_bins + 1, dtype=torch.float64)[:-1]
        columns.append(torch.bucketize(codes[:, j].contiguous(), left_edges, right=True))
    return torch.stack(columns, dim=1)


def discrete_mutual_info(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mutual information I(a; b) in nats between two discrete label vectors, from their joint histogram
    (the plug-in estimate, as ``sklearn.metrics.mutual_info_score``)."""
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D label vectors of the same length, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}.")
    _, a = torch.unique(a.cpu(), return_inverse=True)
    _, b = torch.unique(b.cpu(), return_inverse=True)
    n_b = int(b.max()) + 1
    joint = torch.bincount(a * n_b + b, minlength=(int(a.max()) + 1) * n_b).reshape(-1, n_b).double()
    p_ab = joint / joint.sum()
    p_a, p_b = p_ab.sum(dim=1, keepdim=True), p_ab.sum(dim=0, keepdim=True)
    nonzero = p_ab > 0
    mi = (p_ab[nonzero] * (p_ab[nonzero].log() - (p_a * p_b)[nonzero].log())).sum()
    return max(float(mi), 0.0)


@dataclass
class MIG:
    """The mutual information gap and what it is made of: ``score`` (the mean of ``per_factor``),
    ``per_factor`` (K,), the ``mutual_info`` matrix (D codes × K factors, nats) and ``entropy`` (K,)."""

    score: float
    per_factor: torch.Tensor
    mutual_info: torch.Tensor
    entropy: torch.Tensor


def mig_per_factor(mutual_info: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
    """For each factor k, the gap between the two code dimensions that know most about it, as a
    fraction of all there is to know: (largest − second largest of I(z_j; v_k) over j) / H(v_k).

    ``mutual_info`` is (D codes, K factors), ``entropy`` is (K,); returns (K,). MIG is the mean.
    """
    top_two = mutual_info.topk(2, dim=0).values
    return (top_two[0] - top_two[1]) / entropy


def mutual_info_matrix(codes: torch.Tensor, factors: torch.Tensor,
                       n_bins: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """I(code_j; factor_k) for every code dimension j and factor k, (D, K) in nats, with each code
    dimension :func:`discretize`-d into ``n_bins`` bins; and each factor's entropy H(factor_k) = I(v_k; v_k), (K,)."""
    binned = discretize(codes, n_bins)
    factors = factors.detach().cpu()
    mutual_info = torch.tensor([[discrete_mutual_info(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                                for j in range(binned.shape[1])], dtype=torch.float64)
    entropy = torch.tensor([discrete_mutual_info(factors[:, k], factors[:, k]) for k in range(factors.shape[1])],
                           dtype=torch.float64)
    return mutual_info, entropy


def mutual_information_gap(codes: torch.Tensor, factors: torch.Tensor, n_bins: int = 20) -> MIG:
    """MIG (Chen et al., 2018) as disentanglement_lib computes it.

    ``codes`` (N, D) are the encoder means, ``factors`` (N, K) the ground-truth factor labels. Each code
    dimension is discretised into ``n_bins`` equal-width bins; for each factor k the gap between the
    largest and second-largest I(code_j; factor_k) is divided by H(factor_k); MIG is the mean over
    factors. 1 means every factor is captured by exactly one code dimension, 0 that none is (or that
    two dimensions share it equally).
    """
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, D) and factors (N, K) must have one row per example; got "
                         f"{tuple(codes.shape)} and {tuple(factors.shape)}.")
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions (it compares the best with the second best).")
    mutual_info, entropy = mutual_info_matrix(codes, factors, n_bins)
    per_factor = mig_per_factor(mutual_info, entropy)
    return MIG(float(per_factor.mean()), per_factor, mutual_info, entropy)


@torch.no_grad()
def encode_means(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's (mu, logvar) for many images, in batches, with the model in eval mode."""
    device = next(model.parameters()).device
    with evaluating(model):
        outputs = [model.encode(images[i:i + batch_size].to(device)) for i in range(0, len(images), batch_size)]
    return torch.cat([mu for mu, _ in outputs]), torch.cat([logvar for _, logvar in outputs])


def sprites_mig(model: nn.Module, n_samples: int = 10_000, seed: int = 1, n_bins: int = 20) -> MIG:
    """MIG of a model trained on the dSprites-style generator, on ``n_samples`` fresh random sprites
    (10,000 as in disentanglement_lib) at the model's ``resolution``, using the encoder means."""
    from vaecourse import dsprites

    device = next(model.parameters()).device
    sprites = dsprites.sample(n_samples, resolution=model.resolution, seed=seed, device=device)
    mu, _ = encode_means(model, sprites.images)
    return mutual_information_gap(mu, sprites.indices, n_bins)


# --- Lesson 05: the test ELBO (z sampled from q, not z = μ) and the IWAE bound on log p(x) ---

LOG_2PI = math.log(2 * math.pi)
LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) of a Bernoulli decoder, summed over pixels: Σ x·ℓ − softplus(ℓ) for logits ℓ.

    ``logits`` may carry extra leading dimensions (one per z sample): shape (k, N, ...) against ``x``
    (N, ...) gives (k, N), without copying ``x`` k times. Equals ``-losses.bernoulli_nll``.
    """
    logits = logits.flatten(logits.ndim - x.ndim + 1)   # (..., N, pixels)
    return torch.einsum("...np,np->...n", logits, x.flatten(1)) - nn.functional.softplus(logits).sum(-1)


def gaussian_log_likelihood(sigma2: float) -> LogLikelihood:
    """log p(x|z) of a Gaussian decoder N(sigmoid(logits), σ² I), summed over pixels, for :func:`elbo_estimate`
    and :func:`iwae_bound`: like :func:`bernoulli_log_likelihood`, logits (k, N, ...) against x (N, ...) give (k, N)."""
    try:
        log_sigma2 = math.log(float(sigma2))
    except (TypeError, ValueError):
        raise ValueError(f"the decoder variance σ² must be a positive number, got {sigma2!r}") from None
    if not math.isfinite(log_sigma2):
        raise ValueError(f"the decoder variance σ² must be a positive, finite number, got {sigma2!r}")
    return lambda logits, x: -losses.gaussian_nll(torch.sigmoid(logits), x, log_sigma2)


def negative_squared_error(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−Σ (x − sigmoid(logits))² over pixels, shaped like a log-likelihood so that :func:`elbo_estimate`'s
    ``recon`` is the expected squared error per image at z ~ q(z|x): logits (k, N, ...), x (N, ...) -> (k, N)."""
    pixels = tuple(range(-(x.ndim - 1), 0))
    return -(x - torch.sigmoid(logits)).pow(2).sum(dim=pixels)


def _check_batch(model: nn.Module, x: torch.Tensor, n_samples: int) -> None:
    if n_samples < 1:
        raise ValueError(f"the number of z samples must be at least 1, got {n_samples}")
    device = next(model.parameters()).device
    if x.device != device:
        raise ValueError(f"x is on {x.device} but the model is on {device}: move x with x.to(device).")


def _decode_samples(model: nn.Module, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                    generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n_samples`` z = μ + σε per row of (mu, logvar) and decode them all in one call:
    (ε, z, decoded), with a leading sample dimension (n_samples, N, ...)."""
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    decoded = model.decode(z.flatten(0, 1))
    return eps, z, decoded.reshape(n_samples, len(mu), *decoded.shape[1:])


def log_importance_weights(model: nn.Module, x: torch.Tensor, n_samples: int,
                           log_likelihood: LogLikelihood = bernoulli_log_likelihood,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) − log q(z|x) for ``n_samples`` draws z ~ q(z|x) per image: (n_samples, N).

    The model needs ``encode(x) -> (mu, logvar)`` and ``decode(z)``; ``log_likelihood(decoded, x)``
    scores the decoder's output (Bernoulli logits by default). The mean of log w over z is a Monte Carlo
    ELBO, and log of the mean of w is the IWAE bound (:func:`iwae_bound`).
    """
    _check_batch(model, x, n_samples)
    mu, logvar = model.encode(x)
    eps, z, decoded = _decode_samples(model, mu, logvar, n_samples, generator)
    log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)   # log N(z; μ, σ²), with (z − μ)/σ = ε
    log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)          # log N(z; 0, I)
    return log_likelihood(decoded, x) + log_prior - log_q


def iwae_from_log_weights(log_w: torch.Tensor) -> torch.Tensor:
    """log( (1/k) Σ_i w_i ) per image from log weights of shape (k, N), computed stably with logsumexp."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def _sample_chunks(k: int, rows_per_image: int) -> list[int]:
    size = max(1, min(k, rows_per_image))
    return [size] * (k // size) + ([k % size] if k % size else [])


@torch.no_grad()
def sampled_log_weights(model: nn.Module, x: torch.Tensor, k: int, batch_size: int = 100, max_rows: int = 20_000,
                        log_likelihood: LogLikelihood = bernoulli_log_likelihood, seed: int = 0) -> torch.Tensor:
    """:func:`log_importance_weights` for many images and many samples with bounded memory: (k, N).

    Images go ``batch_size`` at a time and samples in chunks of at most ``max_rows`` decoded rows, so only
    the k × N log weights are ever kept, whatever k is. Seeded: the same call gives the same numbers.
    """
    if k < 1:
        raise ValueError(f"k (importance samples per image) must be at least 1, got {k}")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    columns = []
    with evaluating(model):
        for xb in x.split(batch_size):
            chunks = _sample_chunks(k, max_rows // len(xb))
            columns.append(torch.cat([log_importance_weights(model, xb, n, log_likelihood, generator)
                                      for n in chunks]))
    return torch.cat(columns, dim=1)


def iwae_bound(model: nn.Module, x: torch.Tensor, k: int = 5000, batch_size: int = 100, max_rows: int = 20_000,
               log_likelihood: LogLikelihood = bernoulli_log_likelihood, seed: int = 0) -> torch.Tensor:
    """The importance-weighted bound log p̂_k(x) = log (1/k) Σ_i p(x, z_i)/q(z_i|x), z_i ~ q(z|x), per image: (N,).

    It is ≤ log p(x) on average, equals the ELBO's estimate at k = 1 and rises towards log p(x) as k grows
    (Burda et al., 2016, use k = 5000). Memory stays bounded (see :func:`sampled_log_weights`).
    """
    return iwae_from_log_weights(sampled_log_weights(model, x, k, batch_size, max_rows, log_likelihood, seed))


def posterior_elbo_terms(model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                         n_samples: int = 10, log_likelihood: LogLikelihood = bernoulli_log_likelihood,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two ELBO terms of images ``x`` under the posteriors q(z|x) = N(mu, diag(exp(logvar))), per image:
    (E_q[−log p(x|z)] from ``n_samples`` draws z ~ q, KL(q ‖ N(0, I)) in closed form), each of shape (N,).

    The posteriors need not be the encoder's: lesson 05 also scores posteriors optimised for each image.
    Differentiable (no ``no_grad``), so it can be optimised."""
    _, _, decoded = _decode_samples(model, mu, logvar, n_samples, generator)
    return -log_likelihood(decoded, x).mean(0), losses.gaussian_kl(mu, logvar)


@torch.no_grad()
def elbo_terms_per_image(model: nn.Module, x: torch.Tensor, n_samples: int = 10, batch_size: int = 500,
                         log_likelihood: LogLikelihood = bernoulli_log_likelihood,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The two ELBO terms of every image of ``x``: (E_q[−log p(x|z)], KL(q(z|x) ‖ N(0, I))), each (N,), nats.

    The reconstruction term averages ``n_samples`` draws z ~ q(z|x) (not the z = μ shortcut, which flatters
    the model); the KL is in closed form. Image i's ELBO is −(recon[i] + kl[i]). Seeded, in eval mode.
    """
    _check_batch(model, x, n_samples)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    recon, kl = [], []
    with evaluating(model):
        for xb in x.split(batch_size):
            mu, logvar = model.encode(xb)
            terms = posterior_elbo_terms(model, xb, mu, logvar, n_samples, log_likelihood, generator)
            recon.append(terms[0])
            kl.append(terms[1])
    return torch.cat(recon), torch.cat(kl)


def elbo_estimate(model: nn.Module, x: torch.Tensor, n_samples: int = 10, batch_size: int = 500,
                  log_likelihood: LogLikelihood = bernoulli_log_likelihood, seed: int = 0) -> dict[str, float]:
    """The ELBO of ``x`` (nats per image, averaged over images) with its two terms, honestly estimated
    (:func:`elbo_terms_per_image`): ``elbo`` = −(``recon`` + ``kl``)."""
    recon, kl = elbo_terms_per_image(model, x, n_samples, batch_size, log_likelihood, seed)
    recon_mean, kl_mean = float(recon.mean()), float(kl.mean())
    return {"elbo": -(recon_mean + kl_mean), "recon": recon_mean, "kl": kl_mean}


# --- Lessons 01 and 05: holes in a code space ---

def fraction_in_holes(codes: torch.Tensor, random_codes: torch.Tensor, quantile: float = 0.95) -> tuple[float, float]:
    """How many of ``random_codes`` fall in a *hole* of the code space, and the distance that defines one.

    A point is in a hole when its distance to the nearest real code (a row of ``codes``, (N, D)) is larger
    than what ``quantile`` of the real codes have to their own nearest neighbour. Returns
    (fraction of ``random_codes`` in holes, that threshold distance).
    """
    if codes.ndim != 2 or random_codes.ndim != 2 or codes.shape[1] != random_codes.shape[1] or len(codes) < 2:
        raise ValueError(f"codes (N ≥ 2, D) and random_codes (M, D) must have the same D; got {tuple(codes.shape)} "
                         f"and {tuple(random_codes.shape)}.")
    codes, random_codes = codes.detach().double().cpu(), random_codes.detach().double().cpu()
    nearest = torch.cat([_nearest_distance(chunk, codes, exclude_self=True, offset=i)
                         for i, chunk in _chunks(codes)])
    threshold = float(nearest.quantile(quantile))
    random_gap = torch.cat([_nearest_distance(chunk, codes) for _, chunk in _chunks(random_codes)])
    return float((random_gap > threshold).double().mean()), threshold


def _chunks(x: torch.Tensor, size: int = 2000):
    return ((i, x[i:i + size]) for i in range(0, len(x), size))


def _nearest_distance(points: torch.Tensor, codes: torch.Tensor, exclude_self: bool = False, offset: int = 0):
    """Distance from each of ``points`` to its nearest row of ``codes`` (not itself when ``exclude_self``:
    ``points`` are then ``codes[offset:offset + len(points)]``)."""
    distances = torch.cdist(points, codes)
    if exclude_self:
        rows = torch.arange(len(points))
        distances[rows, rows + offset] = float("inf")
    return distances.min(dim=1).values


# --- Lesson 10: how well a score separates anomalies from normal examples ---

def _scores(scores: torch.Tensor, name: str) -> torch.Tensor:
    scores = torch.as_tensor(scores).detach().double().cpu()
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor of scores, one per example; got shape "
                         f"{tuple(scores.shape)}.")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} contain NaN or infinite values: fix the score before ranking by it.")
    return scores


def auroc(normal_scores: torch.Tensor, anomaly_scores: torch.Tensor) -> float:
    """Area under the ROC curve of a score that should be *higher* for anomalies.

    It is the probability that a random anomaly scores higher than a random normal example, ties counting
    half: the Mann–Whitney U statistic divided by n_normal · n_anomaly, computed from the ranks of all scores
    (tied scores share their average rank). 1 separates perfectly, 0.5 is chance, and below 0.5 the score
    points the wrong way: the anomalies look *more* normal than the normal examples.
    """
    normal, anomaly = _scores(normal_scores, "normal_scores"), _scores(anomaly_scores, "anomaly_scores")
    _, position, counts = torch.unique(torch.cat([normal, anomaly]), return_inverse=True, return_counts=True)
    last_rank = counts.cumsum(0).double()                   # ranks 1..n; a group of ties ends at last_rank
    ranks = (last_rank - (counts - 1) / 2)[position]        # each score's rank, averaged over its ties
    n, m = len(normal), len(anomaly)
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (n * m))


def detection_rates(threshold: float, normal_scores: torch.Tensor, anomaly_scores: torch.Tensor) -> tuple[float, float]:
    """(true positive rate, false positive rate) when every example scoring ``threshold`` or more is flagged:
    the fraction of anomalies caught and the fraction of normal examples wrongly flagged."""
    normal, anomaly = _scores(normal_scores, "normal_scores"), _scores(anomaly_scores, "anomaly_scores")
    return float((anomaly >= threshold).double().mean()), float((normal >= threshold).double().mean())


def roc_curve(normal_scores: torch.Tensor, anomaly_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(false positive rates, true positive rates) of :func:`detection_rates` at every distinct score used as
    the threshold, from the highest down, starting at (0, 0) and ending at (1, 1). The area under this curve
    (trapezoids) is :func:`auroc`."""
    normal, anomaly = _scores(normal_scores, "normal_scores"), _scores(anomaly_scores, "anomaly_scores")
    thresholds = torch.unique(torch.cat([normal, anomaly])).flip(0)
    at_least = [len(s) - torch.searchsorted(s.sort().values, thresholds) for s in (normal, anomaly)]
    fpr, tpr = (count.double() / len(s) for count, s in zip(at_least, (normal, anomaly)))
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])
