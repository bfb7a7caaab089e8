"""Lesson 03's exercise: KL( N(mu, diag(exp(logvar))) ‖ N(0, I) ) for a batch, from the encoder's (mu, logvar).

The answer is deterministic, so the checker compares values (compare_with_mistakes) after naming the
shape mistakes (no reduction over the latents, or the batch reduced too). compare_with_mistakes also
compares the gradients with respect to mu and logvar (a VAE trains through the KL) and names NaN or inf:
one input has |logvar| up to 20 (latents very sure or very unsure of themselves), where forms such as
log(prod(exp(logvar))) (the log-determinant of the covariance) overflow while the textbook forms stay finite.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vaecourse import losses
from vaecourse.exercises.core import (
    Exercise,
    compare_with_mistakes,
    learner_call,
)


def _kl_terms(mu, variance, log_variance, half=0.5, sign=1.0):
    return sign * half * (mu.pow(2) + variance - 1.0 - log_variance)


def _kl_no_half(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar, half=1.0).sum(dim=-1)


def _kl_negated(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar, sign=-1.0).sum(dim=-1)


def _kl_plus_log_variance(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 + logvar).sum(dim=-1)


def _kl_plus_one(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() + 1.0 - logvar).sum(dim=-1)


def _kl_no_minus_one(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(dim=-1)


def _kl_reversed(mu, logvar):
    """KL( N(0, I) ‖ q ): the arguments of the KL swapped."""
    return 0.5 * ((1.0 + mu.pow(2)) / logvar.exp() - 1.0 + logvar).sum(dim=-1)


def _kl_minus_mu_squared(mu, logvar):
    return 0.5 * (-mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def _kl_std_for_variance(mu, logvar):
    return _kl_terms(mu, (0.5 * logvar).exp(), logvar).sum(dim=-1)


def _kl_log_std_for_log_variance(mu, logvar):
    return _kl_terms(mu, logvar.exp(), 0.5 * logvar).sum(dim=-1)


def _kl_exp_logvar_as_std(mu, logvar):
    std = logvar.exp()  # wrong: exp(logvar) is σ², not σ
    return _kl_terms(mu, std**2, torch.log(std**2)).sum(dim=-1)


def _kl_exp_logvar_as_std_log_kept(mu, logvar):
    std = logvar.exp()
    return _kl_terms(mu, std**2, logvar).sum(dim=-1)


def _kl_mean_over_latents(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar).mean(dim=-1)


def _kl_not_reduced(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar)


def _kl_batch_reduced(mu, logvar):
    return losses.gaussian_kl(mu, logvar).mean()


def _kl_summed_over_batch(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar).sum(dim=0)


KL_MISTAKES: dict[str, Callable] = {
    "You forgot the ½: KL = ½ Σ (μ² + σ² − 1 − log σ²); your values are twice the right ones.": _kl_no_half,
    "Sign error: your KL is the negative of the right one (a KL is never negative). The popular form "
    "−½ Σ (1 + logvar − μ² − exp(logvar)) has its minus sign *outside* the sum.": _kl_negated,
    "Sign error on the log σ² term: it is subtracted, ½ Σ (μ² + σ² − 1 − logvar), not added.": _kl_plus_log_variance,
    "Sign error on the constant: it is −1 per latent, ½ Σ (μ² + σ² − 1 − log σ²).": _kl_plus_one,
    "You left out the −1: KL = ½ Σ (μ² + σ² − 1 − log σ²) has a −1 per latent, so that q = N(0, I) costs "
    "exactly 0.": _kl_no_minus_one,
    "You computed the reverse KL, KL( N(0, I) ‖ q ) (with 1/σ² and μ²/σ² terms): the VAE's KL is "
    "KL( q ‖ N(0, I) ) = ½ Σ (μ² + σ² − 1 − log σ²). The KL is not symmetric.": _kl_reversed,
    "Sign error on μ²: the mean penalty ½μ² is added; moving the mean away from 0 must cost KL.":
        _kl_minus_mu_squared,
    "You used σ where σ² belongs: the variance term is σ² = exp(logvar), not σ = exp(0.5·logvar).":
        _kl_std_for_variance,
    "You used log σ = 0.5·logvar where log σ² belongs: logvar already *is* log σ², subtract it as it is.":
        _kl_log_std_for_log_variance,
    "You mixed up exp(logvar) and exp(0.5·logvar): you took σ = exp(logvar) (and squared it), but exp(logvar) "
    "is already the variance σ²; σ = exp(0.5·logvar).": _kl_exp_logvar_as_std,
    "You mixed up exp(logvar) and exp(0.5·logvar): your σ² term is exp(logvar)² = exp(2·logvar), but the "
    "variance σ² is exp(logvar) itself (σ = exp(0.5·logvar)).": _kl_exp_logvar_as_std_log_kept,
    "You averaged over the latent dimensions: the KL of a diagonal Gaussian is the *sum* of the per-latent KLs "
    "(.sum(dim=-1)). A mean divides the KL by the number of latents, which silently changes β.":
        _kl_mean_over_latents,
}

KL_SHAPE_MISTAKES = {
    "no reduction": "You returned one value per latent, shape {got}: sum over the latent dimension "
                    "(.sum(dim=-1)) to get one KL per example, shape {want}.",
    "batch reduced": "You reduced over the batch too (a single number): return one KL per example, shape {want}; "
                     "the loss averages over the batch later (losses.negative_elbo).",
    "wrong dim": "You reduced over the batch (dim 0) instead of the latents, shape {got}: use .sum(dim=-1) "
                 "(or dim=1) to get one KL per example, shape {want}.",
}


def kl_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mu, logvar) like an encoder's: a (128, 20) float32 batch (the MLP VAE's latent size), a small
    float64 one that requires grad (its gradients are compared) and a float32 one with |logvar| up to 20.
    logvar spans [−3, 1] in the first, so σ, σ², exp(logvar)² all differ."""
    g = torch.Generator().manual_seed(3)
    mu = 1.5 * torch.randn(128, 20, generator=g)
    logvar = 4 * torch.rand(128, 20, generator=g) - 3
    small_mu = torch.randn(6, 3, generator=g, dtype=torch.float64).requires_grad_()
    small_logvar = (2 * torch.rand(6, 3, generator=g, dtype=torch.float64) - 1.5).requires_grad_()
    wide_mu = 3 * torch.randn(16, 20, generator=g)
    wide_logvar = 40 * torch.rand(16, 20, generator=g) - 20
    wide_logvar[0], wide_logvar[1] = -20.0, 20.0  # every latent very sure, and every latent very unsure
    return [(mu, logvar), (small_mu, small_logvar), (wide_mu, wide_logvar)]


def diagnose_batched_kl(fn: Callable) -> str | None:
    """None if ``fn(mu, logvar)`` is the batched KL to N(0, I), else a message naming the mistake."""
    inputs = kl_inputs()
    for mu, logvar in inputs:
        out = learner_call(fn, (mu, logvar), f"on mu and logvar of shape {tuple(mu.shape)} (batch, latent). "
                           "It must work on these shapes", returns="a torch.Tensor of shape (batch,)")
        (batch, latent), want = mu.shape, (mu.shape[0],)
        if out.shape == mu.shape:
            return KL_SHAPE_MISTAKES["no reduction"].format(got=tuple(out.shape), want=want)
        if out.numel() == 1:
            return KL_SHAPE_MISTAKES["batch reduced"].format(want=want)
        if out.shape == (latent,):
            return KL_SHAPE_MISTAKES["wrong dim"].format(got=tuple(out.shape), want=want)
        if out.shape != want:
            return (f"Your function returned shape {tuple(out.shape)} for mu and logvar of shape {(batch, latent)}; "
                    f"the KL has one value per example, shape {want}.")
    return compare_with_mistakes(fn, losses.gaussian_kl, KL_MISTAKES, inputs, atol=1e-4, rtol=1e-4)


batched_kl = Exercise(
    title="Batched Gaussian KL",
    reference=losses.gaussian_kl,
    diagnose=diagnose_batched_kl,
    hint_text="logvar is log σ², so σ² = torch.exp(logvar) and log σ² = logvar. Compute "
              "½ (μ² + σ² − 1 − log σ²) elementwise, shape (batch, latent), then .sum(dim=-1).",
)
