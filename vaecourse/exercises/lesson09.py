"""Lesson 09's exercise: Chen et al.'s minibatch estimate of log q(z) and log ∏ⱼ q(zⱼ), with log-sum-exp.

The learner writes ``minibatch_log_qz(z, mu, logvar, dataset_size)`` returning the pair
``(log_qz, log_prod_qzj)``, each of shape (M,), like :func:`vaecourse.tc.minibatch_weighted_log_qz`.
The checker stacks the pair and compares it (values, then gradients with respect to z, mu and logvar)
with the reference and with the usual mistakes: the log(N·M) weight missing or in part, the log of a sum
of densities computed naively (it underflows on the last input, where every log-density is near −10⁴),
a sum or mean of log-densities in place of the log of their mean, the latents summed before the
log-sum-exp of the marginals, the log-sum-exp over the wrong index. A wrong answer that is none of these
is then tested for an argument whose value does not change its result; in-place changes and detached
results are named by the shared core.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vaecourse import tc
from vaecourse.exercises.core import (
    Exercise,
    Rejected,
    argument_names,
    compare_with_mistakes,
    learner_call,
    shape_text,
)


def _inputs() -> list[tuple]:
    """(z, mu, logvar, dataset_size): a small float64 batch whose inputs require grad (gradients are
    compared), a float32 batch shaped like lesson 09's (128 sprites, 10 latents, N = 737,280), and a float32
    batch of sharp, distant posteriors where exp of a log-density underflows to 0."""
    g = torch.Generator().manual_seed(9)
    small = [torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    small[2] = 0.5 * small[2] - 1.0
    small = [t.requires_grad_() for t in small]
    mu = 1.5 * torch.randn(128, 10, generator=g)
    logvar = -2.0 + 0.5 * torch.randn(128, 10, generator=g)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(128, 10, generator=g)
    sharp_mu = 50 * torch.randn(16, 5, generator=g)
    sharp_logvar = torch.full((16, 5), -8.0)
    sharp_z = sharp_mu + torch.exp(0.5 * sharp_logvar) * torch.randn(16, 5, generator=g) + 0.5
    return [(*small, 1000), (z, mu, logvar, 737_280), (sharp_z, sharp_mu, sharp_logvar, 5000)]


def _log_q(z, mu, logvar):
    return tc.pairwise_log_density(z, mu, logvar)  # (M, M, D): sample i under posterior k, latent j


def _with_weight(log_weight: Callable[[int, int], float], sum_first: bool = False, per_latent: bool = True):
    """The log-sum-exp estimate with another weight, or with the latents summed before the marginals' LSE."""
    def estimate(z, mu, logvar, dataset_size):
        log_q, w = _log_q(z, mu, logvar), log_weight(dataset_size, len(mu))
        log_qz = torch.logsumexp(log_q.sum(2), dim=1) - w
        if sum_first:
            log_prod = torch.logsumexp(log_q.sum(2), dim=1) - (z.shape[1] * w if per_latent else w)
        else:
            log_prod = (torch.logsumexp(log_q, dim=1) - (w if per_latent else 0)).sum(1) - (0 if per_latent else w)
        return torch.stack([log_qz, log_prod], dim=-1)
    return estimate


def _reduced(reduce: Callable[[torch.Tensor, int], torch.Tensor], with_weight: bool = True):
    """log q estimated by ``reduce`` over the batch index in place of the log-sum-exp."""
    def estimate(z, mu, logvar, dataset_size):
        log_q = _log_q(z, mu, logvar)
        w = math.log(dataset_size * len(mu)) if with_weight else 0.0
        return torch.stack([reduce(log_q.sum(2), 1) - w, (reduce(log_q, 1) - w).sum(1)], dim=-1)
    return estimate


def _naive_log_sum_exp(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.log(torch.exp(x).sum(dim))


def _wrong_axis(z, mu, logvar, dataset_size):
    log_q, w = _log_q(z, mu, logvar), math.log(dataset_size * len(mu))
    return torch.stack([torch.logsumexp(log_q.sum(2), dim=0) - w, (torch.logsumexp(log_q, dim=0) - w).sum(1)], dim=-1)


def _own_posterior_only(z, mu, logvar, dataset_size):
    own = tc.gaussian_log_density(z, mu, logvar)
    w = math.log(dataset_size * len(mu))
    return torch.stack([own.sum(1) - w, (own - w).sum(1)], dim=-1)


def _std_for_logvar(z, mu, logvar, dataset_size):
    return _reference(z, mu, 2 * logvar, dataset_size)


def _no_two_pi(z, mu, logvar, dataset_size):
    shift = 0.5 * math.log(2 * math.pi) * z.shape[1]
    return _reference(z, mu, logvar, dataset_size) + shift


def _reference(z, mu, logvar, dataset_size):
    return torch.stack(tc.minibatch_weighted_log_qz(z, mu, logvar, dataset_size), dim=-1)


MISTAKES: dict[str, Callable] = {
    "You left out the log(N·M) weight: subtract log(dataset_size · batch size) from each log-sum-exp "
    "(Chen et al.'s minibatch weighted sampling), for log q(z) and for each marginal log q(zⱼ).":
        _with_weight(lambda n, m: 0.0),
    "You subtracted log M only (a mean over the batch): Chen et al.'s weight is 1/(N·M), so subtract "
    "log(dataset_size · M).": _with_weight(lambda n, m: math.log(m)),
    "You subtracted log N only: Chen et al.'s weight is 1/(N·M), so subtract log(dataset_size · M).":
        _with_weight(lambda n, m: math.log(n)),
    "You subtracted the log(N·M) weight once for the whole product: each marginal log q(zⱼ) is its own "
    "estimate, so subtract it once per latent before summing over j.": _with_weight(lambda n, m: math.log(n * m),
                                                                                    per_latent=False),
    "You summed over the latent dimensions before the log-sum-exp of the marginals, which gives log q(z) "
    "again: take the log-sum-exp over the batch for each latent j separately (dim=1 of the (M, M, D) "
    "log-densities), subtract the weight, and only then sum over j.": _with_weight(lambda n, m: math.log(n * m),
                                                                                    sum_first=True),
    "You summed over the latent dimensions before the log-sum-exp of the marginals: take the log-sum-exp "
    "over the batch for each latent j separately, subtract log(N·M), and only then sum over j.":
        _with_weight(lambda n, m: math.log(n * m), sum_first=True, per_latent=False),
    "You computed log(sum(exp(...))) directly: right on mild inputs, but every density underflows to 0 "
    "when the log-densities are near −10⁴ (sharp posteriors), and log 0 = −inf. Use torch.logsumexp.":
        _reduced(_naive_log_sum_exp),
    "You averaged the log-densities (a mean of logs) instead of taking the log of the mean density: "
    "log q(z) needs a log-sum-exp over the batch, which Jensen's inequality says is larger.":
        _reduced(lambda x, dim: x.mean(dim)),
    "You summed the log-densities (a sum of logs, the log of a product) instead of taking the log of a sum "
    "of densities: use torch.logsumexp over the batch.": _reduced(lambda x, dim: x.sum(dim)),
    "You averaged the log-densities and left out the weight: log q(z) is the log of the weighted *sum* of "
    "densities, torch.logsumexp(..., dim=1) − log(N·M).": _reduced(lambda x, dim: x.mean(dim), with_weight=False),
    "Your log-sum-exp runs over the wrong index: for sample zᵢ sum over the posteriors k of the batch "
    "(log q(zᵢ|x_k) in row i, dim=1), not over the samples (dim=0).": _wrong_axis,
    "You used only each sample's own posterior q(zᵢ|xᵢ): the estimate of q(zᵢ) averages the densities of "
    "zᵢ under *every* posterior of the batch (a log-sum-exp over k).": _own_posterior_only,
    "Your Gaussian density treats logvar as log σ: logvar is log σ², so the variance is exp(logvar).":
        _std_for_logvar,
    "Your Gaussian log-density lacks its constant −½ log 2π per latent.": _no_two_pi,
}


def _as_pair(fn: Callable) -> Callable:
    """``fn`` with its pair (log_qz, log_prod_qzj) stacked into one (M, 2) tensor, shapes checked in words."""
    def log_qz_and_product(z, mu, logvar, dataset_size):
        out = fn(z, mu, logvar, dataset_size)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
            raise Rejected(f"Your function returned {type(out).__name__}; it should return two tensors, "
                           "(log_qz, log_prod_qzj), each of shape (M,).")
        m = len(z)
        for name, t in zip(("log_qz", "log_prod_qzj"), out):
            if t.shape == z.shape:
                raise Rejected(f"Your {name} has shape {tuple(t.shape)}, one value per latent: sum over the "
                               f"latents (after the log-sum-exp, for the marginals) to get shape ({m},).")
            if t.shape != (m,):
                raise Rejected(f"Your {name} has shape {tuple(t.shape)}; it should have shape ({m},), one value "
                               f"per sample, for inputs of shape {shape_text((z, mu, logvar))}.")
        return torch.stack(list(out), dim=-1)
    return log_qz_and_product


def _changed(args: tuple, index: int) -> tuple:
    """``args`` with argument ``index`` moved: z and mu shifted, logvar raised, the data set 10× larger."""
    moved = list(args)
    with torch.no_grad():
        moved[index] = args[index] * 10 if index == 3 else args[index].detach() + torch.linspace(
            0.3, 0.9, args[index].shape[1], dtype=args[index].dtype)
    return tuple(moved)


def ignored_argument_message(fn: Callable, args: tuple) -> str | None:
    """Name the first argument that the reference depends on but ``fn``'s result does not."""
    where = f"on inputs of shape {shape_text(args)}"
    base = learner_call(fn, args, where).detach()
    for index, name in enumerate(argument_names(fn, len(args))):
        moved = _changed(args, index)
        want_moved = not torch.allclose(_reference(*moved), _reference(*args).detach())
        if want_moved and torch.allclose(learner_call(fn, moved, where).detach(), base, equal_nan=True):
            return (f"Your function ignores its argument `{name}`: changing it does not change your result, "
                    "but log q(z) depends on it. Use every argument (no values fixed inside the function).")
    return None


def diagnose_minibatch_log_qz(fn: Callable) -> str | None:
    """None if ``fn`` is Chen et al.'s minibatch weighted estimate, else a message naming the mistake."""
    stacked = _as_pair(fn)
    inputs = _inputs()
    message = compare_with_mistakes(stacked, _reference, MISTAKES, inputs, atol=1e-4, rtol=1e-5)
    if message is None or message in MISTAKES:
        return message
    return ignored_argument_message(stacked, inputs[1]) or message


minibatch_log_qz = Exercise(
    title="Minibatch estimate of log q(z)",
    reference=tc.minibatch_weighted_log_qz,
    diagnose=diagnose_minibatch_log_qz,
    hint_text="log_q = tc.pairwise_log_density(z, mu, logvar) has shape (M, M, D): sample i under posterior k, "
              "latent j. log q(zᵢ) ≈ torch.logsumexp(log_q.sum(2), dim=1) − log(N·M); each marginal "
              "log q(zᵢⱼ) ≈ torch.logsumexp(log_q, dim=1) − log(N·M), and log ∏ⱼ q(zᵢⱼ) is their sum over j.",
)
