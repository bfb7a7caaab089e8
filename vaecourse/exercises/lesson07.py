"""Lesson 07's exercise: the free-bits KL, ``free_bits_kl(mu, logvar, free_bits) -> (penalty, kl)``.

The answer is deterministic, so the checker compares values (``compare_with_mistakes``) on batches built so
that every known mistake gives a different number: some latents far above the floor λ, one whose batch mean
is above λ while many of its examples are below, and several nearly collapsed ones. Before the values it
checks the kind of mistake a value test can miss: the result's form (a pair of scalars), inputs changed in
place, λ ignored, a penalty with no gradient, and the gradient itself (0 for latents below the floor).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vaecourse import losses, metrics
from vaecourse.exercises.core import Exercise, Rejected, learner_call
from vaecourse.exercises.lesson03 import KL_MISTAKES


def _per_example(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)   # (batch, latent)


def _penalty(mu, logvar, free_bits):
    return losses.free_bits_kl(mu, logvar, free_bits)[0]


def _clamped_per_example(mu, logvar, free_bits):
    return _per_example(mu, logvar).clamp(min=free_bits).mean(dim=0).sum()


def _clamped_total(mu, logvar, free_bits):
    return _per_example(mu, logvar).sum(dim=1).mean().clamp(min=free_bits)


def _clamped_total_per_latent_floor(mu, logvar, free_bits):
    return _per_example(mu, logvar).sum(dim=1).mean().clamp(min=free_bits * mu.shape[1])


def _clamped_from_above(mu, logvar, free_bits):
    return metrics.kl_per_latent(mu, logvar).clamp(max=free_bits).sum()


def _hinge(mu, logvar, free_bits):
    return (metrics.kl_per_latent(mu, logvar) - free_bits).clamp(min=0).sum()


def _mean_over_latents(mu, logvar, free_bits):
    return metrics.kl_per_latent(mu, logvar).clamp(min=free_bits).mean()


def _summed_over_batch(mu, logvar, free_bits):
    return _per_example(mu, logvar).sum(dim=0).clamp(min=free_bits).sum()


def _not_clamped(mu, logvar, free_bits):
    return metrics.kl_per_latent(mu, logvar).sum()


PENALTY_MISTAKES: dict[str, Callable] = {
    "You clamped each example's KL before averaging over the batch. Free bits clamp each latent's KL *averaged "
    "over the batch*: a latent that carries information for some images is then not charged for the images where "
    "it carries none. Average over dim 0 first, then clamp.": _clamped_per_example,
    "You clamped the KL summed over the latents, max(λ, Σ_j KL_j): the floor must apply to *each latent* "
    "separately, Σ_j max(λ, KL_j), so that no single latent can be switched off for free.": _clamped_total,
    "You clamped the summed KL at (number of latents)·λ: the floor must apply to each latent separately, "
    "Σ_j max(λ, KL_j); a few busy latents must not pay for the collapsed ones.": _clamped_total_per_latent_floor,
    "You clamped from above (min instead of max): free bits put a *floor* under each latent's KL, "
    "torch.clamp(kl_j, min=free_bits), so a KL below λ costs λ and gets no gradient.": _clamped_from_above,
    "You subtracted λ, max(0, KL_j − λ): the gradients are right, but the value is off by λ per latent and the "
    "objective is no longer below the ELBO. Use max(λ, KL_j).": _hinge,
    "You averaged over the latents: the KL of a diagonal Gaussian is a *sum* over latents, so sum the clamped "
    "per-latent values (and average only over the batch).": _mean_over_latents,
    "You summed over the batch: each latent's KL is the batch *mean* (nats per image), so that λ means the same "
    "at any batch size.": _summed_over_batch,
    "Your penalty is the plain KL: nothing was clamped. Clamp each latent's batch-mean KL below at λ: "
    "torch.clamp(kl_per_latent, min=free_bits).sum().": _not_clamped,
}

MESSAGES = {
    "form": "Return a pair (penalty, kl) of scalar tensors: the free-bits penalty that goes into the loss and the "
            "true KL that is reported; you returned {got}.",
    "ignores": "Your function gives the same penalty for λ = {a:g} and λ = {b:g}: it ignores the free_bits argument "
               "(is the floor hard-coded?).",
    "no grad": "Your penalty has no gradient (it went through .item(), float(), NumPy, .detach() or torch.no_grad()): "
               "the model trains through it, so compute it with torch operations on mu and logvar.",
    "gradient": "Your penalty has the right value but the wrong gradient with respect to {name}: each latent whose "
                "batch-mean KL is below λ must get no gradient at all, the others the KL's own gradient.",
    "reported clamped": "Your second value is the clamped penalty, but the KL you report must be the *true* KL "
                        "(unclamped, Σ_j mean_n KL_nj): otherwise the logs and the ELBO you compute from them "
                        "flatter the model by up to λ per latent.",
    "reported swapped": "You returned (kl, penalty): the penalty comes first, the true KL second.",
    "reported": "Your second value is not the true KL of the batch, Σ_j mean_n KL_nj (nats per image, unclamped).",
}


def free_bits_inputs() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """(mu, logvar, λ) triples: a (256, 8) float32 batch whose latents have batch-mean KLs of about 2, 1, 0.5
    (with many examples below the floor), 0.17, 0.09 and three ≈ 0.01, at λ = 0.5, 0.3 and 0; a nearly
    collapsed batch (total KL below λ); and a small float64 batch that requires grad."""
    g = torch.Generator().manual_seed(7)
    scales = torch.tensor([2.0, 1.4, 1.0, 0.6, 0.4, 0.1, 0.1, 0.1])
    mu = torch.randn(256, 8, generator=g) * scales
    logvar = -torch.rand(256, 8, generator=g) * torch.tensor([1.5, 1.0, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1])
    small_mu = (torch.randn(5, 4, generator=g, dtype=torch.float64) * torch.tensor([1.5, 0.8, 0.3, 0.1],
                                                                                   dtype=torch.float64))
    small_logvar = -0.2 * torch.rand(5, 4, generator=g, dtype=torch.float64)
    return [(mu, logvar, 0.5), (mu, logvar, 0.3), (mu, logvar, 0.0), (0.05 * mu[:64], 0.05 * logvar[:64], 0.5),
            (small_mu.requires_grad_(), small_logvar.requires_grad_(), 0.4)]


def _pair(fn: Callable, args: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """The learner's (penalty, kl), or Rejected naming what is wrong with the form of the result."""
    out = learner_call(fn, args, f"on mu and logvar of shape {tuple(args[0].shape)} and free_bits = {args[2]}. "
                       "It must work on these inputs", returns=None)
    pair = tuple(out) if isinstance(out, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(t, torch.Tensor) and t.numel() == 1 for t in pair):
        got = (f"a {type(out).__name__}" if pair is None else
               f"{len(pair)} values" if len(pair) != 2 else
               "values of shapes " + ", ".join(str(tuple(t.shape)) if isinstance(t, torch.Tensor)
                                               else type(t).__name__ for t in pair))
        raise Rejected(MESSAGES["form"].format(got=got))
    return pair[0].reshape(()), pair[1].reshape(())


def _gradient_message(fn: Callable, mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> str | None:
    mu, logvar = mu.detach().clone().requires_grad_(), logvar.detach().clone().requires_grad_()
    penalty, _ = _pair(fn, (mu, logvar, free_bits))
    if not penalty.requires_grad:
        return MESSAGES["no grad"]
    got = torch.autograd.grad(penalty, (mu, logvar), allow_unused=True)
    want = torch.autograd.grad(_penalty(mu, logvar, free_bits), (mu, logvar))
    for name, g, w in zip(("mu", "logvar"), got, want):
        g = torch.zeros_like(w) if g is None else g
        if not torch.allclose(g, w, atol=1e-8, rtol=1e-5):
            return MESSAGES["gradient"].format(name=name)
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.isclose(a.detach().double(), b.detach().double(), atol=1e-5, rtol=1e-5))


def _penalty_mistake(fn: Callable, inputs: list[tuple]) -> str | None:
    """None when the learner's penalties match the reference on every input; else the known mistake that
    matches on *every* input (one input alone cannot tell all of them apart); else a mistake in the KL formula
    itself (lesson 03's list, seen in the reported KL); else whether λ is ignored; else the first difference."""
    penalties = [_pair(fn, args)[0] for args in inputs]
    want = [_penalty(*args) for args in inputs]
    if all(_close(got, w) for got, w in zip(penalties, want)):
        return None
    for message, mistake in PENALTY_MISTAKES.items():
        if all(_close(got, mistake(*args)) for got, args in zip(penalties, inputs)):
            return message
    kls = [_pair(fn, args)[1] for args in inputs]
    for message, mistake in KL_MISTAKES.items():
        if all(_close(kl, mistake(mu, logvar).mean()) for kl, (mu, logvar, _) in zip(kls, inputs)):
            return f"The KL of each latent is wrong before any clamping. {message}"
    high, low = inputs[0][2], inputs[1][2]   # one batch at two floors
    if _close(penalties[0], penalties[1]):
        return MESSAGES["ignores"].format(a=high, b=low)
    got, w, args = next((g, w, a) for g, w, a in zip(penalties, want, inputs) if not _close(g, w))
    return (f"Your penalty is {got.item():.4f} but Σ_j max(λ, mean_n KL_nj) is {w.item():.4f} for a batch of "
            f"shape {tuple(args[0].shape)} and free_bits = {args[2]}.")


def diagnose_free_bits_kl(fn: Callable) -> str | None:
    """None if ``fn(mu, logvar, free_bits)`` returns (Σ_j max(λ, mean_n KL_nj), Σ_j mean_n KL_nj), else the mistake."""
    inputs = free_bits_inputs()
    for args in inputs:
        _pair(fn, args)
    first, second = _pair(fn, inputs[0])
    want_penalty, want_kl = losses.free_bits_kl(*inputs[0])
    if _close(first, want_kl) and _close(second, want_penalty) and not _close(first, second):
        return MESSAGES["reported swapped"]
    message = _penalty_mistake(fn, inputs) or _gradient_message(fn, *inputs[-1])
    if message:
        return message
    for args in inputs:
        _, kl = _pair(fn, args)
        want_penalty, want_kl = losses.free_bits_kl(*args)
        if not _close(kl, want_kl):
            return MESSAGES["reported clamped"] if _close(kl, want_penalty) else MESSAGES["reported"]
    return None


free_bits_kl = Exercise(
    title="Free-bits KL",
    reference=losses.free_bits_kl,
    diagnose=diagnose_free_bits_kl,
    hint_text="KL per example and latent: ½(μ² + σ² − 1 − log σ²) with σ² = exp(logvar), shape (batch, latent). "
              "Average over the batch (dim 0) to get one KL per latent, clamp it below with "
              "torch.clamp(..., min=free_bits), and sum over the latents: that is the penalty. The KL to report is "
              "the same per-latent KL summed *without* the clamp. Return (penalty, kl).",
    solution_code='''def free_bits_kl(mu, logvar, free_bits):
    kl_per_example = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)   # (batch, latent)
    kl_per_latent = kl_per_example.mean(dim=0)                        # average over the batch first
    penalty = torch.clamp(kl_per_latent, min=free_bits).sum()         # floor each latent at λ, then sum
    return penalty, kl_per_latent.sum()                               # report the true KL, unclamped
''',
)
