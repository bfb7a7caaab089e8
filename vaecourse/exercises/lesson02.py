"""Lesson 02's exercise: a Monte Carlo estimate of the ELBO on the toy linear-Gaussian model.

The answer is random, so the checker compares *sampling distributions*: it runs the learner's function
and the reference (and each known mistake) several times on the same inputs and compares the means,
with a tolerance of 5 standard errors measured from those runs. Any correct unbiased estimator passes
(sampling by hand or with torch.distributions, a closed-form KL term, ...), whatever its random stream,
and so does the exact ELBO. Two more kinds of mistake are named: an estimator that returns the same
value on every call (a seed inside: its draws repeat), and one whose spread does not shrink like
1/√n_samples (it draws a fixed number of samples whatever n_samples says).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vaecourse import toy
from vaecourse.exercises.core import (
    REPEATED_DRAWS_MESSAGE,
    Exercise,
    learner_call,
    one_thread,
    sample_count_message,
)


def mc_elbo_reference(model: toy.LinearGaussian, x: torch.Tensor, q_mean: torch.Tensor, q_std: torch.Tensor,
                      n_samples: int) -> torch.Tensor:
    q = toy.Gaussian.diagonal(q_mean, q_std)
    z = q.sample(n_samples)                        # z ~ q(z), shape (n_samples, d)
    log_likelihood = model.log_likelihood(x, z)    # log p(x|z), shape (n_samples,)
    log_prior = model.log_prior(z)                 # log p(z)
    log_q = q.log_prob(z)                          # log q(z)
    return (log_likelihood + log_prior - log_q).mean()


def _mc_elbo_parts(model, x, q_mean, q_std, n_samples, sample_from_prior=False):
    q = toy.Gaussian.diagonal(q_mean, q_std)
    z = toy.standard_normal(q.dim).sample(n_samples) if sample_from_prior else q.sample(n_samples)
    return model.log_likelihood(x, z), model.log_prior(z), q.log_prob(z)


def _mc_elbo_no_log_prior(model, x, q_mean, q_std, n_samples):
    log_likelihood, _, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return (log_likelihood - log_q).mean()


def _mc_elbo_no_entropy(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, _ = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return (log_likelihood + log_prior).mean()


def _mc_elbo_plus_log_q(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return (log_likelihood + log_prior + log_q).mean()


def _mc_elbo_prior_samples(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples, sample_from_prior=True)
    return (log_likelihood + log_prior - log_q).mean()


def _mc_elbo_log_mean_exp(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return torch.logsumexp(log_likelihood + log_prior - log_q, dim=0) - math.log(n_samples)


def _mc_elbo_sum(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return (log_likelihood + log_prior - log_q).sum()


def _mc_elbo_variance_as_std(model, x, q_mean, q_std, n_samples):
    return mc_elbo_reference(model, x, q_mean, torch.as_tensor(q_std) ** 2, n_samples)


def _mc_elbo_not_averaged(model, x, q_mean, q_std, n_samples):
    log_likelihood, log_prior, log_q = _mc_elbo_parts(model, x, q_mean, q_std, n_samples)
    return log_likelihood + log_prior - log_q


MC_ELBO_MISTAKES: dict[str, Callable] = {
    "Your estimate is missing the log p(z) term: the integrand is log p(x|z) + log p(z) − log q(z), "
    "and log p(z) (model.log_prior) is part of log p(x, z).": _mc_elbo_no_log_prior,
    "You left out the −log q(z) term (the entropy of q): without it you estimate E_q[log p(x, z)], "
    "which rewards collapsing q onto a single point.": _mc_elbo_no_entropy,
    "Sign error on log q(z): it must be subtracted (log p(x, z) − log q(z)), not added.": _mc_elbo_plus_log_q,
    "Your samples come from the prior N(0, I), not from q: draw z = q_mean + q_std · ε with ε ~ N(0, I).":
        _mc_elbo_prior_samples,
    "You averaged the ratios p(x, z)/q(z) and then took the log (log-mean-exp): that estimates log p(x) "
    "(the IWAE bound of lesson 05), not the ELBO. Average the log-ratios instead.": _mc_elbo_log_mean_exp,
    "You summed over the samples instead of averaging: the estimate is the *mean* of the log-ratios "
    "(divide by n_samples, or use .mean()).": _mc_elbo_sum,
    "You used q_std² where the standard deviation belongs: q_std is already σ, not σ².": _mc_elbo_variance_as_std,
}

MC_ELBO_RUNS = 30          # repeated calls per input to measure each estimator's spread
MC_ELBO_SAMPLES = 1000     # n_samples passed to the estimator
MC_ELBO_FEW_SAMPLES = 10   # n_samples of the second run on the first input: the spread must grow √100 = 10×
MC_ELBO_TOLERANCE = 5.0    # in standard errors


def mc_elbo_inputs() -> list[tuple]:
    """(model, x, q_mean, q_std, n_samples): the lesson's 1-D-latent model and a 2-D one, q away from the posterior."""
    lesson_model = toy.make_toy_model(latent_dim=1, data_dim=2, noise_std=1.0, seed=0)
    wide_model = toy.make_toy_model(latent_dim=2, data_dim=3, noise_std=0.8, seed=1)
    x1 = torch.tensor([1.5, -0.8], dtype=toy.DTYPE)
    x2 = torch.tensor([0.7, -1.2, 1.9], dtype=toy.DTYPE)
    n = MC_ELBO_SAMPLES
    return [
        (lesson_model, x1, torch.tensor([0.2], dtype=toy.DTYPE), torch.tensor([0.7], dtype=toy.DTYPE), n),
        (lesson_model, x1, torch.tensor([1.4], dtype=toy.DTYPE), torch.tensor([1.6], dtype=toy.DTYPE), n),
        (wide_model, x2, torch.tensor([0.3, -0.6], dtype=toy.DTYPE), torch.tensor([0.5, 1.3], dtype=toy.DTYPE), n),
    ]


def _as_number(value, n_samples: int) -> tuple[float | None, str | None]:
    """The learner's output as a float, or a message saying what is wrong with its type/shape."""
    try:
        value = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None, f"Your function returned a {type(value).__name__}; it should return one number (a tensor)."
    if value.numel() == n_samples and n_samples > 1:
        return None, (f"You returned one value per sample (shape {tuple(value.shape)}): the ELBO estimate is "
                      "their average, a single number.")
    if value.numel() != 1:
        return None, f"Your function returned shape {tuple(value.shape)}; the ELBO estimate is a single number."
    if not math.isfinite(value.item()):
        return None, f"Your function returned {value.item()}; check for log(0) or a division by zero."
    return value.item(), None


def estimator_spread(fn: Callable, args: tuple, runs: int = MC_ELBO_RUNS) -> tuple[float, float]:
    """(mean, standard deviation) of ``fn(*args)`` over ``runs`` calls: its sampling distribution."""
    values = torch.tensor([float(fn(*args)) for _ in range(runs)], dtype=torch.float64)
    return values.mean().item(), values.std().item()


_MC_ELBO_SPREADS: dict[str, list[tuple[float, float]]] = {}


def _mc_elbo_candidate_spreads() -> dict[str, list[tuple[float, float]]]:
    """Sampling distributions of the reference (key "") and of each mistake on every input (seeded, computed once)."""
    if not _MC_ELBO_SPREADS:
        with torch.random.fork_rng(), one_thread():
            torch.manual_seed(2)
            inputs = mc_elbo_inputs()
            spreads = {message: [estimator_spread(fn, args) for args in inputs]
                       for message, fn in {"": mc_elbo_reference, **MC_ELBO_MISTAKES}.items()}
        _MC_ELBO_SPREADS.update(spreads)  # all at once: a check stopped by its time limit leaves no half-filled cache
    return _MC_ELBO_SPREADS


def _same_distribution(learner: tuple[float, float], candidate: tuple[float, float], runs: int) -> bool:
    """Do the learner's runs have the candidate's mean, within MC_ELBO_TOLERANCE standard errors?"""
    (mean, std), (want, want_std) = learner, candidate
    if std <= 1e-9 * (1 + abs(mean)):  # a deterministic learner function: one draw of the estimator, or exact
        error = math.sqrt(want_std**2 + want_std**2 / runs)
    else:
        error = math.sqrt((std**2 + want_std**2) / runs)
    return abs(mean - want) <= MC_ELBO_TOLERANCE * error + 1e-9 * (1 + abs(want))



def diagnose_mc_elbo(fn: Callable) -> str | None:
    """None if ``fn`` is an unbiased Monte Carlo ELBO estimator, else a message naming the mistake."""
    with one_thread():
        return _diagnose_mc_elbo(fn)


def _learner_spread(fn: Callable, args: tuple) -> tuple[tuple[float, float] | None, str | None]:
    """((mean, std) of MC_ELBO_RUNS calls of the learner's ``fn(*args)``, None), or (None, what is wrong)."""
    values = []
    for _ in range(MC_ELBO_RUNS):
        out = learner_call(fn, args, f"with a latent of dimension {args[0].latent_dim}. It must work for "
                                     "any d (q_mean and q_std have shape (d,))", returns=None)
        value, message = _as_number(out, args[-1])
        if message:
            return None, message
        values.append(value)
    values = torch.tensor(values, dtype=torch.float64)
    return (values.mean().item(), values.std().item()), None


def _is_exact(learner: list[tuple[float, float]], inputs: list[tuple]) -> bool:
    """Is every value the exact ELBO (a closed form, no sampling)?"""
    for (mean, std), (model, x, q_mean, q_std, _) in zip(learner, inputs):
        exact = toy.exact_elbo(model, x, toy.Gaussian.diagonal(q_mean, q_std)).item()
        if std > 1e-9 * (1 + abs(mean)) or abs(mean - exact) > 1e-6 * (1 + abs(exact)):
            return False
    return True


def _diagnose_mc_elbo(fn: Callable) -> str | None:
    inputs = mc_elbo_inputs()
    spreads = _mc_elbo_candidate_spreads()
    learner = []
    for args in inputs:
        spread, message = _learner_spread(fn, args)
        if message:
            return message
        learner.append(spread)
    if _is_exact(learner, inputs):
        return None
    repeats = all(std <= 1e-9 * (1 + abs(mean)) for mean, std in learner)
    if all(_same_distribution(got, want, MC_ELBO_RUNS) for got, want in zip(learner, spreads[""])):
        if repeats:  # one draw of a right estimator, repeated: a seed inside
            return REPEATED_DRAWS_MESSAGE.format(what="estimate")
        model, x, q_mean, q_std, n = inputs[0]
        few, message = _learner_spread(fn, (model, x, q_mean, q_std, MC_ELBO_FEW_SAMPLES))
        return message or sample_count_message(few[1], learner[0][1], MC_ELBO_FEW_SAMPLES, n)
    for message in MC_ELBO_MISTAKES:
        if all(_same_distribution(got, want, MC_ELBO_RUNS) for got, want in zip(learner, spreads[message])):
            return message
    for got, want, (model, x, q_mean, q_std, _) in zip(learner, spreads[""], inputs):
        if not _same_distribution(got, want, MC_ELBO_RUNS):
            exact = toy.exact_elbo(model, x, toy.Gaussian.diagonal(q_mean, q_std)).item()
            return (f"With q_mean={q_mean.tolist()}, q_std={q_std.tolist()} your estimates average {got[0]:.3f} "
                    f"but the exact ELBO is {exact:.3f}. Check each term of log p(x|z) + log p(z) − log q(z).")
    return "Your estimates do not match the exact ELBO."  # unreachable: some input must differ


mc_elbo = Exercise(
    title="Monte Carlo ELBO",
    reference=mc_elbo_reference,
    diagnose=diagnose_mc_elbo,
    hint_text="Build q = toy.Gaussian.diagonal(q_mean, q_std); draw z = q.sample(n_samples) (shape (n, d)); "
              "the ELBO is the average over the samples of model.log_likelihood(x, z) + model.log_prior(z) "
              "− q.log_prob(z).",
)
