"""Lesson 04's exercise: the reparameterized sampler z = mu + exp(0.5·logvar) · ε, ε ~ N(0, I).

The answer is random, so nothing is compared draw by draw. The checker works with any source of ε
(torch.randn, torch.randn_like, torch.normal, rsample, its own generator):
  * structure: shape and dtype of mu, finite, not mu itself (no noise), requires grad;
  * draws differ between two calls on the same inputs (a seed inside the function is named);
  * statistics on a big batch whose rows share one (mu, logvar) per latent: ε̂ = (z − mu)/σ must be
    non-zero (z = mu is "no noise"), differ between rows and between latents, have mean 0 and standard
    deviation 1 per latent (5 standard errors) and the shape of N(0, 1) (Kolmogorov–Smirnov, so uniform
    or ±1 noise with the right two moments is named) and no repeats up to sign (antithetic pairs, reused
    blocks of noise); the known wrong σ's (logvar, exp(logvar)) and
    torch.rand's ε are recognised by the spread they give;
  * gradients, exact whatever ε was drawn: ∂z/∂mu = 1 and ∂z/∂logvar = ½σε = ½(z − mu).
The core (vaecourse.exercises.core) adds private copies of mu and logvar, the restored random state
and the time limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vaecourse import models
from vaecourse.exercises.core import (
    Exercise,
    call,
    learner_call,
    one_thread,
    repeated_draws_message,
    standard_normal_message,
)

REPARAM_BATCH = 10_000     # rows of the statistics input
REPARAM_TOLERANCE = 5.0    # in standard errors


def reparam_inputs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """"lesson": a (128, 20) batch as the MLP VAE's encoder gives; "statistics": 10,000 rows sharing one
    (mu, logvar) per latent, logvar in [−2, 1.6] so that σ, exp(logvar) and |logvar| all differ."""
    g = torch.Generator().manual_seed(4)
    lesson = (torch.randn(128, 20, generator=g), 3 * torch.rand(128, 20, generator=g) - 2)
    mu = torch.tensor([0.5, -1.0, 2.0, 0.0]).expand(REPARAM_BATCH, 4).clone()
    logvar = torch.tensor([-2.0, -0.5, 0.8, 1.6]).expand(REPARAM_BATCH, 4).clone()
    return {"lesson": lesson, "statistics": (mu, logvar)}


REPARAM_WRONG_STD: dict[str, Callable] = {
    "You used logvar itself as σ: logvar is log σ², so σ = exp(0.5·logvar).": lambda logvar: logvar.abs(),
    "You used exp(logvar) as σ, but exp(logvar) is the variance σ²: σ = exp(0.5·logvar).": lambda logvar: logvar.exp(),
}

REPARAM_MESSAGES = {
    "no noise": "Your z is exactly mu: no noise was added, so z is not a sample. Draw ε ~ N(0, I) with the shape of "
                "mu (torch.randn_like(std)) and return mu + std * eps.",
    "detached": "Your z does not require grad: it was drawn with .sample(), under torch.no_grad(), or detached, "
                "so no gradient can reach mu and logvar. Build it as mu + std * eps from the inputs themselves.",
    "same eps": "You sampled ε once for the whole batch: every row of your z uses the same ε. Draw one ε per "
                "element, with the shape of mu (torch.randn_like(std)).",
    "same eps per row": "Every latent of a row uses the same ε: draw one ε per element, with the shape of mu "
                        "(torch.randn_like(std)), not one per row.",
    "repeats": "Your ε values repeat within the batch: {share:.0%} of them equal another one up to its sign "
               "(antithetic pairs ±ε, or one block of noise reused), so the draws are not independent. Draw fresh "
               "noise for every element (torch.randn_like(std)).",
    "uniform": "Your ε looks uniform on [0, 1) (torch.rand); the trick needs ε ~ N(0, 1): torch.randn / randn_like.",
    "no mu": "Your z is not centred on mu: did you forget to add mu (z = mu + std * eps)?",
    "no grad mu": "No gradient reaches mu (∂z/∂mu is 0, not 1). torch.normal(mu, std) and Normal(mu, std).sample() "
                  "draw z with no path back to mu and logvar; draw ε ~ N(0, 1) and compute mu + std * eps instead.",
    "no grad logvar": "No gradient reaches logvar: std must be computed from logvar itself (not logvar.detach() or "
                      "a torch.normal(...) draw), so that ∂z/∂logvar = ½·std·ε.",
}


def _repeats(eps: torch.Tensor) -> str | None:
    """Independent continuous draws almost never repeat, even up to a sign: antithetic pairs and reused noise do."""
    magnitudes = eps.abs().sort(dim=0).values
    repeated = ((magnitudes[1:] - magnitudes[:-1]) <= 2e-6 * (1 + magnitudes[1:])).double().mean().item()
    return REPARAM_MESSAGES["repeats"].format(share=repeated) if repeated > 0.25 else None


def _standardised_columns(z: torch.Tensor, mu: torch.Tensor, std: torch.Tensor) -> str | None:
    """The statistics checks on ε̂ = (z − mu)/std: independence across rows and latents, then the moments."""
    eps = (z.detach().double() - mu.double()) / std.double()
    if eps.abs().max().item() <= 1e-6:
        return REPARAM_MESSAGES["no noise"]
    scale = 1e-6 * (1 + eps.abs().max().item())
    if (eps - eps[:1]).abs().max().item() <= scale:
        return REPARAM_MESSAGES["same eps"]
    if (eps - eps[:, :1]).abs().max().item() <= scale:
        return REPARAM_MESSAGES["same eps per row"]
    n = eps.shape[0]
    mean, spread = eps.mean(dim=0), eps.std(dim=0)
    std_ok = ((spread - 1).abs() <= REPARAM_TOLERANCE / math.sqrt(2 * n)).all()
    mean_ok = (mean.abs() <= REPARAM_TOLERANCE / math.sqrt(n)).all()
    if std_ok and mean_ok:
        correlation = torch.corrcoef(eps.T) - torch.eye(eps.shape[1], dtype=eps.dtype)
        if correlation.abs().max() > REPARAM_TOLERANCE / math.sqrt(n):
            return ("The ε of different latents are correlated; draw them independently "
                    "(torch.randn_like(std)).")
        return standard_normal_message(eps) or _repeats(eps)
    if (abs(mean - 0.5) < 0.05).all() and ((spread - math.sqrt(1 / 12)).abs() < 0.05).all():
        return REPARAM_MESSAGES["uniform"]
    raw_spread = (z.detach().double() - mu.double()).std(dim=0)
    logvar = 2 * std.log()
    for message, wrong_std in REPARAM_WRONG_STD.items():
        if ((raw_spread / wrong_std(logvar[0]).double() - 1).abs() <= REPARAM_TOLERANCE / math.sqrt(2 * n)).all():
            return message
    if std_ok and not mean_ok:
        centre = (z.detach().double().mean(dim=0)).tolist()
        if all(abs(c) < 0.1 for c in centre):
            return REPARAM_MESSAGES["no mu"]
        return f"The average of z − mu per latent is {[round(m, 3) for m in (mean * std[0]).tolist()]}, not 0."
    return (f"The spread of z − mu per latent is {[round(s, 3) for s in raw_spread.tolist()]}, but σ = exp(0.5·logvar) "
            f"= {[round(s, 3) for s in std[0].tolist()]}.")


def _gradient_check(fn: Callable, mu: torch.Tensor, logvar: torch.Tensor) -> str | None:
    """∂z/∂mu = 1 and ∂z/∂logvar = ½(z − mu) elementwise: exact for the trick, whatever ε was drawn."""
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    z = call(fn, mu, logvar)
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if grad_mu is None or grad_mu.abs().max() == 0:
        return REPARAM_MESSAGES["no grad mu"]
    if not torch.allclose(grad_mu, torch.ones_like(grad_mu), atol=1e-5):
        return "∂z/∂mu should be 1 for every element (z = mu + std · ε); yours is not."
    if grad_logvar is None or grad_logvar.abs().max() == 0:
        return REPARAM_MESSAGES["no grad logvar"]
    want = 0.5 * (z.detach() - mu.detach())
    if not torch.allclose(grad_logvar, want, atol=1e-4, rtol=1e-3):
        return ("∂z/∂logvar should be ½·std·ε = ½(z − mu) for every element; yours differs. "
                "Use std = exp(0.5·logvar) and z = mu + std * eps.")
    return None


def diagnose_reparameterize(fn: Callable) -> str | None:
    """None if ``fn(mu, logvar)`` is a reparameterized sampler of N(mu, exp(logvar)), else the mistake."""
    with one_thread():
        inputs = reparam_inputs()
        for mu, logvar in inputs.values():
            mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
            z = learner_call(fn, (mu, logvar), f"on mu and logvar of shape {tuple(mu.shape)} (batch, latent). "
                             "It must work on these shapes", returns="a torch.Tensor like mu")
            if z.shape != mu.shape:
                return (f"Your z has shape {tuple(z.shape)} but mu and logvar have shape {tuple(mu.shape)}: "
                        "return one sample per element, z of the same shape as mu.")
            if not torch.isfinite(z).all():
                return ("Your z contains NaN or inf: logvar can be negative, so take exp(0.5·logvar) "
                        "(never sqrt or log of logvar).")
            if z.dtype != mu.dtype:
                return (f"Your z is {z.dtype} but mu is {mu.dtype}: draw ε with the dtype (and device) of mu, "
                        "torch.randn_like(mu); the decoder expects z like mu.")
            if torch.equal(z.detach(), mu.detach()):
                return REPARAM_MESSAGES["no noise"]
            if not z.requires_grad:
                return REPARAM_MESSAGES["detached"]
        message = repeated_draws_message(fn, inputs["lesson"], "on mu and logvar of shape (128, 20)", what="z")
        if message:
            return message
        mu, logvar = inputs["statistics"]
        z = call(fn, mu.clone().requires_grad_(), logvar.clone().requires_grad_())
        message = _standardised_columns(z, mu, torch.exp(0.5 * logvar))
        if message:
            return message
        for mu, logvar in inputs.values():
            message = _gradient_check(fn, mu, logvar)
            if message:
                return message
    return None


reparameterized_sampler = Exercise(
    title="Reparameterized sampler",
    reference=models.reparameterize,
    diagnose=diagnose_reparameterize,
    hint_text="std = torch.exp(0.5 * logvar) (logvar is log σ²); eps = torch.randn_like(std), one draw per "
              "element; return mu + std * eps. No .sample(), no torch.no_grad(), no .detach().",
)
