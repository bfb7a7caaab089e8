"""The KL divergence, lesson 03: its two parts, a Monte Carlo estimate, and its asymmetry.

The closed form the VAE uses, KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²), is
:func:`vaecourse.losses.gaussian_kl` (in the encoder's (mu, logvar) form, summed over latents).
This module holds what the lesson needs around it: the split of that formula into a *mean
penalty* and a *variance penalty*, an unbiased Monte Carlo estimate with its standard error
(to check the closed form), and numerical KLs on a grid with the best Gaussian fit to a bimodal
density under KL(p ‖ q) and under KL(q ‖ p), which shows that the two directions differ.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, MixtureSameFamily, Normal

DTYPE = torch.float64


def kl_parts(mu, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean penalty ½μ², variance penalty ½(σ² − 1 − log σ²)) of KL(N(μ, σ²) ‖ N(0, 1)), elementwise.

    Their sum is the KL. Each part is ≥ 0 and zero only at μ = 0 (mean) or σ = 1 (variance).
    """
    mu, sigma = torch.as_tensor(mu, dtype=DTYPE), torch.as_tensor(sigma, dtype=DTYPE)
    if not (sigma > 0).all():
        raise ValueError(f"sigma is a standard deviation and must be > 0; got {sigma.tolist()}")
    variance = sigma**2
    return 0.5 * mu**2, 0.5 * (variance - 1 - torch.log(variance))


def monte_carlo_kl(q: Distribution, p: Distribution, n_samples: int) -> tuple[float, float]:
    """(estimate, standard error) of KL(q ‖ p) = E_{z~q}[log q(z) − log p(z)] from ``n_samples`` draws of q.

    ``q`` and ``p`` are ``torch.distributions`` objects whose ``log_prob`` gives one number per sample (a
    scalar ``Normal``, or ``Independent(Normal(mu, sigma), 1)`` for a vector). The standard error is the
    sample standard deviation of the log-ratios over √n: a correct closed form lies within a few of them.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to measure a standard error; got {n_samples}")
    z = q.sample((n_samples,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    return log_ratio.mean().item(), (log_ratio.std() / math.sqrt(n_samples)).item()


# --- Asymmetry: KL(p ‖ q) ≠ KL(q ‖ p), seen by fitting one Gaussian q to a two-bump p ---

def two_bumps(weights=(0.7, 0.3), means=(-2.0, 2.0), stds=(0.6, 0.6)) -> MixtureSameFamily:
    """A 1-D mixture of two Gaussians: the bimodal target p of the asymmetry figure."""
    weights, means, stds = (torch.as_tensor(v, dtype=DTYPE) for v in (weights, means, stds))
    return MixtureSameFamily(torch.distributions.Categorical(probs=weights), Normal(means, stds))


def kl_on_grid(log_p: torch.Tensor, log_q: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) = ∫ p (log p − log q) dz by the trapezoid rule on the evenly spaced grid ``z``.

    ``log_p`` and ``log_q`` are log densities on the grid (last dimension); leading dimensions broadcast,
    so many q's can be scored at once.
    """
    return torch.trapezoid(log_p.exp() * (log_p - log_q), z, dim=-1)


def best_gaussian_fit(p: Distribution, direction: str, z: torch.Tensor, means: torch.Tensor,
                      stds: torch.Tensor) -> tuple[float, float, float]:
    """The Gaussian q = N(m, s²), m in ``means`` and s in ``stds``, closest to ``p`` by grid search.

    ``direction`` is ``"forward"`` to minimise KL(p ‖ q) (q must cover wherever p has mass) or
    ``"reverse"`` to minimise KL(q ‖ p) (q must avoid wherever p has none). Returns (m, s, KL at the best).
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' (KL(p ‖ q)) or 'reverse' (KL(q ‖ p)); got {direction!r}")
    log_p = p.log_prob(z)
    log_q = Normal(means[:, None, None], stds[None, :, None]).log_prob(z)  # (means, stds, grid)
    kl = kl_on_grid(log_p, log_q, z) if direction == "forward" else kl_on_grid(log_q, log_p, z)
    best = int(torch.argmin(kl))
    i, j = divmod(best, len(stds))
    return means[i].item(), stds[j].item(), kl.flatten()[best].item()
