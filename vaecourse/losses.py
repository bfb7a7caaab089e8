"""Losses with explicit reductions: **sum over pixels and latents, mean over the batch**.

Every function returns one value *per example* (shape ``(batch,)``) so the
reduction is visible where it happens. Averaging over pixels or latents
instead of summing silently rescales one term against the other, which is the
same as changing β (lesson 05).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) ‖ N(0, I) ) per example, summed over latents.

    Closed form (lesson 03): ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x|z) for a Bernoulli decoder, per example, summed over pixels.

    Takes logits (not probabilities) for numerical stability; ``x`` may be grey
    values in [0, 1] (the "grayscale BCE" of pytorch/examples) or binary.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sum of squared pixel errors per example (the plain autoencoder's loss)."""
    return (x_hat - x).pow(2).flatten(1).sum(dim=1)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0) -> dict[str, torch.Tensor]:
    """The (β-)VAE loss: reconstruction + β·KL, each summed per example then averaged over the batch.

    Returns a dict with the scalar ``loss`` to minimise and its parts ``recon``
    and ``kl`` (per image), the form that :func:`vaecourse.train.fit` logs.
    """
    recon = bernoulli_nll(logits, x).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


# --- Lesson 06: the β-VAE loss as a training objective for fit ---

def beta_vae_loss(beta: float = 1.0):
    """A ``fit`` loss ``(model, x) -> negative_elbo(..., beta=beta)`` for a VAE whose forward returns
    (logits, mu, logvar); β = 1 is the plain VAE, β > 1 weighs the KL more (Higgins et al., 2017)."""
    def loss_fn(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, mu, logvar = model(x)
        return negative_elbo(logits, x, mu, logvar, beta=beta)

    return loss_fn


# --- Lesson 07: Gaussian decoders, and free bits against posterior collapse ---

def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, log_sigma2: torch.Tensor | float) -> torch.Tensor:
    """−log N(x; mean, σ² I) per example, summed over pixels: ½ Σ_i [(x_i − mean_i)²/σ² + log(2πσ²)].

    ``log_sigma2`` is log σ², one number shared by every pixel (a float, or a tensor to learn it).
    With σ² fixed this is the squared error divided by 2σ², plus a constant: MSE *is* a Gaussian decoder.
    ``mean`` may carry extra leading dimensions (one per z sample): (k, N, ...) against x (N, ...) gives (k, N).
    """
    log_sigma2 = torch.as_tensor(log_sigma2, dtype=mean.dtype, device=mean.device)
    pixels = tuple(range(-(x.ndim - 1), 0))   # the dimensions of one example
    squared = (x - mean).pow(2).sum(dim=pixels)
    return 0.5 * (squared * torch.exp(-log_sigma2) + x[0].numel() * (log_sigma2 + math.log(2 * math.pi)))


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The free-bits KL term (Kingma et al., 2016) and the true KL: two scalars, nats per image.

    Each latent's KL is averaged over the batch, then clamped *below* at ``free_bits`` (λ), then summed over
    latents: Σ_j max(λ, mean_n KL_nj). Below λ a latent's KL costs nothing (its gradient is 0), so the
    optimiser has no reason to switch the latent off. Returns (the penalty to add to the loss, the unclamped
    KL to report): the penalty is not the KL, and a loss that adds it is not the ELBO.
    """
    from vaecourse.metrics import kl_per_latent  # metrics builds on this module

    per_latent = kl_per_latent(mu, logvar)
    return torch.clamp(per_latent, min=free_bits).sum(), per_latent.sum()
