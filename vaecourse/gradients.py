"""Two Monte Carlo estimators of ∇ E_{z~N(μ, σ²)}[f(z)] with respect to (μ, σ), lesson 04.

* **Reparameterization** (pathwise): write z = μ + σ·ε with ε ~ N(0, 1); then
  ∇_{μ,σ} E[f(z)] = E_ε[f'(μ + σε) · (1, ε)], so differentiate f through each sample.
* **Score function** (REINFORCE, likelihood ratio): ∇_θ E_{q_θ}[f(z)] = E_{q_θ}[f(z) ∇_θ log q_θ(z)];
  it needs only f's *values*, never its derivative, and pays for that with a larger variance.

Both return one gradient estimate *per sample*, shape (n, 2) with columns (∂/∂μ, ∂/∂σ): their mean
is the n-sample estimate and their spread measures its variance. Autograd computes the per-sample
derivatives: each sample gets its own copy of μ and σ, so ``backward`` on the sum gives them all at once.
Everything is float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

DTYPE = torch.float64
Objective = Callable[[torch.Tensor], torch.Tensor]


def _check(mu: float, sigma: float, n_samples: int) -> None:
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"need a finite mu and a standard deviation sigma > 0; got mu={mu}, sigma={sigma}")
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive whole number; got {n_samples!r}")


def _parameter_copies(mu: float, sigma: float, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n copies of μ and of σ, leaves that require grad: one pair per sample, for per-sample gradients."""
    mus = torch.full((n_samples,), float(mu), dtype=DTYPE, requires_grad=True)
    sigmas = torch.full((n_samples,), float(sigma), dtype=DTYPE, requires_grad=True)
    return mus, sigmas


def reparameterization_gradients(f: Objective, mu: float, sigma: float, n_samples: int,
                                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample pathwise estimates of ∇_{μ,σ} E[f(z)]: differentiate f(μ + σε) for ε ~ N(0, 1). Shape (n, 2)."""
    _check(mu, sigma, n_samples)
    mus, sigmas = _parameter_copies(mu, sigma, n_samples)
    eps = torch.randn(n_samples, dtype=DTYPE, generator=generator)
    z = mus + sigmas * eps                        # the sample is a differentiable function of μ and σ
    grad_mu, grad_sigma = torch.autograd.grad(f(z).sum(), (mus, sigmas))
    return torch.stack([grad_mu, grad_sigma], dim=1)


def score_function_gradients(f: Objective, mu: float, sigma: float, n_samples: int,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample REINFORCE estimates f(z) ∇_{μ,σ} log N(z; μ, σ²) of ∇_{μ,σ} E[f(z)]. Shape (n, 2).

    z is drawn without any path back to μ and σ (as ``sample()`` does); only log q(z) is differentiated.
    """
    _check(mu, sigma, n_samples)
    mus, sigmas = _parameter_copies(mu, sigma, n_samples)
    with torch.no_grad():
        z = mu + sigma * torch.randn(n_samples, dtype=DTYPE, generator=generator)
    log_q = torch.distributions.Normal(mus, sigmas).log_prob(z)
    score_mu, score_sigma = torch.autograd.grad(log_q.sum(), (mus, sigmas))  # ∇ log q(z) per sample
    return f(z).detach()[:, None] * torch.stack([score_mu, score_sigma], dim=1)


def mean_and_standard_error(per_sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The n-sample estimate (mean over samples) and its standard error (sample std / √n), per column."""
    n = per_sample.shape[0]
    if n < 2:
        raise ValueError("need at least 2 per-sample estimates to measure a standard error")
    return per_sample.mean(dim=0), per_sample.std(dim=0) / math.sqrt(n)


def variance_by_sample_size(estimator: Callable, f: Objective, mu: float, sigma: float, sample_sizes,
                            repeats: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Measured variance of the n-sample estimate for each n in ``sample_sizes``: shape (len(sizes), 2).

    For each n, ``repeats`` independent n-sample estimates are drawn and their variance taken, so the
    1/n fall-off is measured rather than assumed.
    """
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 to measure a variance; got {repeats}")
    rows = []
    for n in sample_sizes:
        estimates = estimator(f, mu, sigma, int(n) * repeats, generator).reshape(repeats, int(n), 2).mean(dim=1)
        rows.append(estimates.var(dim=0))
    return torch.stack(rows)


# --- The lesson's objective, with everything known in closed form ---

def square(z: torch.Tensor) -> torch.Tensor:
    """f(z) = z²: E[f(z)] = μ² + σ² for z ~ N(μ, σ²)."""
    return z**2


def square_exact_gradient(mu: float, sigma: float) -> torch.Tensor:
    """∇_{μ,σ} E[z²] = ∇(μ² + σ²) = (2μ, 2σ)."""
    return torch.tensor([2 * mu, 2 * sigma], dtype=DTYPE)


def square_reparameterization_variance(mu: float, sigma: float) -> torch.Tensor:
    """Exact variance of one pathwise sample for f(z) = z²: Var(2z) = 4σ² and Var(2zε) = 4(μ² + 2σ²)."""
    return torch.tensor([4 * sigma**2, 4 * (mu**2 + 2 * sigma**2)], dtype=DTYPE)


def square_score_function_variance(mu: float, sigma: float) -> torch.Tensor:
    """Exact variance of one REINFORCE sample for f(z) = z², from the moments E[ε^k] = 1, 3, 15, 105 (k = 2, 4, 6, 8).

    ∂/∂μ: z²ε/σ has second moment (μ⁴ + 18μ²σ² + 15σ⁴)/σ²; ∂/∂σ: z²(ε² − 1)/σ has (2μ⁴ + 60μ²σ² + 78σ⁴)/σ².
    Subtract the squared means (2μ)² and (2σ)².
    """
    m2, s2 = mu**2, sigma**2
    return torch.tensor([(m2**2 + 18 * m2 * s2 + 15 * s2**2) / s2 - 4 * m2,
                         (2 * m2**2 + 60 * m2 * s2 + 78 * s2**2) / s2 - 4 * s2], dtype=DTYPE)
