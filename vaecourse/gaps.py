"""What the ELBO leaves out, measured: the two inference gaps, and the rate as a bound on the information in z.

**The gaps** (Cremer et al., 2018). For one image, log p(x) − ELBO(q_φ(z|x)) splits in two:

* the *approximation gap* log p(x) − ELBO(q*): even the best diagonal Gaussian q* for this image is not
  the true posterior p(z|x);
* the *amortization gap* ELBO(q*) − ELBO(q_φ): the encoder, one network for all images, does not find
  that best q* for each of them.

q* is found by optimising a free (μ, log σ²) per image, starting from the encoder's guess, with the decoder
fixed; log p(x) is estimated by the IWAE bound with k = 5000 (a lower bound, so the approximation gap
measured this way is a lower bound too).

**Rate and information.** The average KL to the prior (the rate) is *not* the information that z carries
about x; it is an upper bound on it. For a finite data set {x_1, …, x_N} and the aggregate posterior
q(z) = (1/N) Σ_n q(z|x_n), exactly:

    (1/N) Σ_n KL(q(z|x_n) ‖ p(z)) = I(n; z) + KL(q(z) ‖ p(z)),

where I(n; z) is the mutual information between the index of an image and its code (at most log N).
:func:`aggregate_kl` estimates the last term by Monte Carlo with log q(z) computed over all N images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaecourse import metrics, tc


def optimise_posteriors(model: nn.Module, x: torch.Tensor, steps: int = 300, n_samples: int = 16,
                        lr: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image of ``x``, the diagonal Gaussian q*(z) that maximises its own ELBO: (mu, logvar), (N, D).

    Adam on a free (μ, log σ²) per image, from the encoder's output, ``n_samples`` reparameterized draws per
    step, the decoder left as it is (only μ and log σ² are updated).
    """
    if steps < 1 or n_samples < 1:
        raise ValueError(f"steps and n_samples must be at least 1, got {steps} and {n_samples}.")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    with metrics.evaluating(model):
        with torch.no_grad():
            mu, logvar = model.encode(x)
        mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
        optimizer = torch.optim.Adam([mu, logvar], lr=lr)
        for _ in range(steps):
            recon, kl = metrics.posterior_elbo_terms(model, x, mu, logvar, n_samples, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            mu.grad, logvar.grad = torch.autograd.grad((recon + kl).sum(), (mu, logvar))
            optimizer.step()
    return mu.detach(), logvar.detach()


@dataclass
class InferenceGaps:
    """Nats per image, averaged over the images measured."""

    log_likelihood: float       # IWAE bound, k importance samples from the encoder's q
    elbo_optimal: float         # ELBO of q*, the best diagonal Gaussian found for each image
    elbo_encoder: float         # ELBO of the encoder's q_φ(z|x)
    images: int

    @property
    def approximation_gap(self) -> float:
        return self.log_likelihood - self.elbo_optimal

    @property
    def amortization_gap(self) -> float:
        return self.elbo_optimal - self.elbo_encoder


def inference_gaps(model: nn.Module, x: torch.Tensor, k: int = 5000, steps: int = 300,
                   n_samples: int = 100, seed: int = 0) -> InferenceGaps:
    """Split log p(x) − ELBO into the approximation and amortization gaps on the images ``x`` (binary).

    Both ELBOs are scored with ``n_samples`` fresh draws (not those the optimisation saw)."""
    mu_star, logvar_star = optimise_posteriors(model, x, steps=steps, seed=seed)
    generator = torch.Generator(device=x.device).manual_seed(seed + 1)
    with metrics.evaluating(model), torch.no_grad():
        mu, logvar = model.encode(x)
        elbo_encoder = -sum(metrics.posterior_elbo_terms(model, x, mu, logvar, n_samples, generator=generator))
        elbo_optimal = -sum(metrics.posterior_elbo_terms(model, x, mu_star, logvar_star, n_samples,
                                                         generator=generator))
    log_likelihood = metrics.iwae_bound(model, x, k=k, seed=seed)
    return InferenceGaps(float(log_likelihood.mean()), float(elbo_optimal.mean()), float(elbo_encoder.mean()),
                         len(x))


@torch.no_grad()
def aggregate_kl(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 10_000, seed: int = 0,
                 chunk: int = 500) -> float:
    """KL(q(z) ‖ N(0, I)) of the aggregate posterior q(z) = (1/N) Σ_n N(z; mu_n, diag(exp(logvar_n))), in nats.

    Monte Carlo over about ``n_samples`` draws z ~ q(z), stratified: the same number of draws
    z ~ q(z|x_n) for every image n (at least one), so no noise comes from which images happen to be drawn.
    log q(z) is computed exactly over all N posteriors (log-sum-exp), ``chunk`` draws at a time.
    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both be (N, latent_dim), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    mu, logvar = mu.double(), logvar.double()
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    index = torch.arange(len(mu), device=mu.device).repeat_interleave(max(1, n_samples // len(mu)))
    eps = torch.randn((len(index), mu.shape[1]), generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu[index] + torch.exp(0.5 * logvar[index]) * eps
    log_q, _ = tc.exact_log_qz(z, mu, logvar, chunk)   # log q(z) over all N posteriors, as in lesson 09
    log_p = tc.gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(dim=1)
    return float((log_q - log_p).mean())


def rate_and_information(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 10_000,
                         seed: int = 0) -> dict[str, float]:
    """The rate (average KL to the prior), the aggregate KL and their difference I(n; z), nats per image."""
    rate = float(metrics.kl_per_latent(mu, logvar).sum())
    kl_aggregate = aggregate_kl(mu, logvar, n_samples, seed)
    return {"rate": rate, "aggregate_kl": kl_aggregate, "information": rate - kl_aggregate,
            "information_limit": math.log(len(mu))}
