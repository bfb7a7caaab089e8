"""Losses with explicit reductions: **sum over pixels and latents, mean over the batch**.

Every function returns one value *per example* (shape ``(batch,)``) so the
reduction is visible where it happens. Averaging over pixels or latents
instead of summing silently rescales one term against the other, which is the
same as changing β (lesson 05).
"""

from __future__ import annotations

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
