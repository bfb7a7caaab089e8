"""Exercises with ``check``, ``hint`` and ``solution``, in the style of Kaggle's learntools.

Each exercise knows its reference answer and the *known mistakes* learners
make (a missing ½, a wrong sign, a mean where a sum belongs, ...). ``check``
runs the learner's function on the lesson's inputs and compares it with the
reference and with each mistake, so a wrong answer gets a message that names
the mistake rather than a bare "wrong".

A learner who has not attempted an exercise (the function still raises
``NotImplementedError``) sees "not attempted yet"; the lesson goes on with
the reference version via ``exercise.use(fn)``.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from vaecourse import losses, metrics, models, toy


class NotAttempted(Exception):
    """The learner's function is still the ``raise NotImplementedError`` stub."""


def call(fn: Callable, *args):
    """Call the learner's ``fn``; a stub (``NotImplementedError``, ``None``, ``...``) raises NotAttempted."""
    try:
        out = fn(*args)
    except NotImplementedError:
        raise NotAttempted from None
    if out is None or out is Ellipsis:
        raise NotAttempted
    return out


class Rejected(Exception):
    """The learner's function crashed or returned the wrong kind of thing; the text says what to fix."""


def learner_call(fn: Callable, args: Sequence, where: str, returns: str | None = "a torch.Tensor"):
    """Call the learner's ``fn(*args)``; a crash (or a result that is not ``returns``) raises Rejected.

    ``where`` completes "Your function raised X: ... {where}." so the message names the inputs.
    """
    try:
        out = call(fn, *args)
    except NotAttempted:
        raise
    except Exception as error:  # noqa: BLE001 - report any learner error in words
        raise Rejected(f"Your function raised {type(error).__name__}: {error} {where}.") from None
    if returns is not None and not isinstance(out, torch.Tensor):
        raise Rejected(f"Your function returned a {type(out).__name__}; it should return {returns}.")
    return out


def shape_text(args: Sequence) -> str:
    return ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def compare_with_mistakes(fn: Callable, reference: Callable, mistakes: dict[str, Callable],
                          inputs: Sequence[tuple], atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Diagnose ``fn`` by comparing it with ``reference`` and each known mistake on ``inputs``.

    Returns ``None`` when ``fn`` matches the reference on every input, else a
    message: the first mistake whose output ``fn`` reproduces, or a generic
    description of the difference (shape or largest error).
    """
    for args in inputs:
        got = learner_call(fn, args, f"on inputs of shape {shape_text(args)}. It must work on these shapes")
        want = reference(*args)
        if got.shape == want.shape and torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol):
            continue
        for message, mistake in mistakes.items():
            wrong = mistake(*args)
            if got.shape == wrong.shape and torch.allclose(got.double(), wrong.double(), atol=atol, rtol=rtol):
                return message
        if got.shape != want.shape:
            return (f"Your function returned shape {tuple(got.shape)} but {tuple(want.shape)} was expected "
                    f"for inputs of shape {shape_text(args)}.")
        error = (got.double() - want.double()).abs().max().item()
        return f"The shape is right but the values differ from the expected ones by up to {error:.3g}."
    return None


@dataclass
class Exercise:
    """One exercise: ``check(fn)``, ``hint()``, ``solution()`` and ``use(fn)``.

    ``diagnose(fn)`` returns ``None`` for a right answer, else the message
    naming the mistake; it raises :class:`NotAttempted` for an untouched stub.
    """

    title: str
    reference: Callable
    diagnose: Callable[[Callable], str | None]
    hint_text: str
    solution_code: str = ""
    done: bool = field(default=False, init=False)

    def verdict(self, fn: Callable) -> tuple[str, str]:
        """(status, message) with status one of ``"correct"``, ``"incorrect"``, ``"not attempted"``."""
        try:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                message = self.diagnose(fn)
        except NotAttempted:
            return "not attempted", (f"⏳ {self.title}: not attempted yet. "
                                     "Fill in the function, then run this cell again.")
        except Rejected as rejection:
            message = str(rejection)
        if message is None:
            return "correct", f"✅ {self.title}: correct!"
        return "incorrect", f"❌ {self.title}: {message}"

    def check(self, fn: Callable) -> bool:
        """Print a friendly verdict; return True only when ``fn`` is right."""
        status, message = self.verdict(fn)
        print(message)
        self.done = status == "correct"
        return self.done

    def hint(self) -> None:
        print(f"💡 Hint: {self.hint_text}")

    def solution(self) -> None:
        code = self.solution_code or textwrap.dedent(inspect.getsource(self.reference))
        print(f"Solution ({self.title}):\n\n{code}")

    def use(self, fn: Callable) -> Callable:
        """The learner's ``fn`` if it is right, else the reference (so later cells always run)."""
        status, _ = self.verdict(fn)
        if status == "correct":
            return fn
        print(f"(Using the course's reference version of '{self.title}' for the rest of the lesson.)")
        return self.reference


# ---------------------------------------------------------------------------
# Lesson 01: reconstruct data from its top-k principal components.

def _pca_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(1)
    mixing = torch.randn(6, 12, generator=g)
    x = torch.randn(200, 6, generator=g) @ mixing * torch.linspace(3, 0.3, 12) + 2.0
    return [(x, 3), (x[:50], 1)]


def _pca_no_centering(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh[:k].T
    return x @ v @ v.T


def _pca_mean_not_added_back(x, k):
    mean, components = models.pca(x, k)
    return (x - mean) @ components.T @ components


def _pca_smallest_components(x, k):
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    v = vh[-k:].T
    return (x - mean) @ v @ v.T + mean


def _pca_codes_only(x, k):
    mean, components = models.pca(x, k)
    return (x - mean) @ components.T


pca_reconstruction = Exercise(
    title="PCA reconstruction",
    reference=models.pca_reconstruct,
    diagnose=lambda fn: compare_with_mistakes(fn, models.pca_reconstruct, {
        "You did not subtract the mean before projecting: PCA's subspace passes through the data's mean, "
        "so centre x first (x - x.mean(0)).": _pca_no_centering,
        "You projected the centred data but forgot to add the mean back at the end.": _pca_mean_not_added_back,
        "You kept the k components with the *smallest* singular values; the top-k come first in torch.linalg.svd.":
            _pca_smallest_components,
        "You returned the k-dimensional codes; the exercise asks for the reconstruction in the original "
        "space (codes @ components + mean).": _pca_codes_only,
    }, _pca_inputs(), atol=1e-3, rtol=1e-3),
    hint_text="Centre x with its mean, take the first k rows of Vᵀ from torch.linalg.svd(x_centred, "
              "full_matrices=False), project onto them and map back: (xc @ V_k) @ V_kᵀ + mean.",
)


# ---------------------------------------------------------------------------
# Lesson 02: a Monte Carlo estimate of the ELBO on the toy linear-Gaussian model.
#
# The answer is random, so the checker compares *sampling distributions*: it runs the learner's function
# and the reference (and each known mistake) several times on the same inputs and compares the means,
# with a tolerance of 5 standard errors measured from those runs. Any correct unbiased estimator passes
# (sampling by hand or with torch.distributions, a closed-form KL term, ...), whatever its random stream.

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
        with torch.random.fork_rng():
            torch.manual_seed(2)
            inputs = mc_elbo_inputs()
            for message, fn in {"": mc_elbo_reference, **MC_ELBO_MISTAKES}.items():
                _MC_ELBO_SPREADS[message] = [estimator_spread(fn, args) for args in inputs]
    return _MC_ELBO_SPREADS


def _same_distribution(learner: tuple[float, float], candidate: tuple[float, float], runs: int) -> bool:
    """Do the learner's runs have the candidate's mean, within MC_ELBO_TOLERANCE standard errors?"""
    (mean, std), (want, want_std) = learner, candidate
    if std <= 1e-9 * (1 + abs(mean)):  # a deterministic learner function: one draw of the estimator, or exact
        error = math.sqrt(want_std**2 + want_std**2 / runs)
    else:
        error = math.sqrt((std**2 + want_std**2) / runs)
    return abs(mean - want) <= MC_ELBO_TOLERANCE * error + 1e-9 * (1 + abs(want))


@contextmanager
def one_thread():
    """Run tiny tensor code on one CPU thread: on a busy machine, waking BLAS threads costs ~100× the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def diagnose_mc_elbo(fn: Callable) -> str | None:
    """None if ``fn`` is an unbiased Monte Carlo ELBO estimator, else a message naming the mistake."""
    with one_thread():
        return _diagnose_mc_elbo(fn)


def _diagnose_mc_elbo(fn: Callable) -> str | None:
    inputs = mc_elbo_inputs()
    spreads = _mc_elbo_candidate_spreads()
    learner = []
    for args in inputs:
        values = []
        for _ in range(MC_ELBO_RUNS):
            out = learner_call(fn, args, f"with a latent of dimension {args[0].latent_dim}. It must work for "
                                         "any d (q_mean and q_std have shape (d,))", returns=None)
            value, message = _as_number(out, args[-1])
            if message:
                return message
            values.append(value)
        values = torch.tensor(values, dtype=torch.float64)
        learner.append((values.mean().item(), values.std().item()))
    if all(_same_distribution(got, want, MC_ELBO_RUNS) for got, want in zip(learner, spreads[""])):
        return None
    for message, _ in MC_ELBO_MISTAKES.items():
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


# ---------------------------------------------------------------------------
# Lesson 06: the mutual information gap per factor, from the mutual-information matrix.

def _mig_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(6)
    entropy = torch.tensor([1.1, 1.8, 3.7, 3.5, 3.5], dtype=torch.float64)
    mutual_info = torch.rand(10, 5, generator=g, dtype=torch.float64) * entropy * 0.6
    return [(mutual_info, entropy), (mutual_info[:4, :3] * 0.5, entropy[:3])]


def _mig_not_normalised(mutual_info, entropy):
    top = mutual_info.sort(dim=0, descending=True).values
    return top[0] - top[1]


def _mig_no_gap(mutual_info, entropy):
    return mutual_info.max(dim=0).values / entropy


def _mig_minus_mean(mutual_info, entropy):
    top = mutual_info.sort(dim=0, descending=True).values
    return (top[0] - top[1:].mean(dim=0)) / entropy


def _mig_ascending(mutual_info, entropy):
    top = mutual_info.sort(dim=0).values
    return (top[0] - top[1]) / entropy


def _mig_averaged(mutual_info, entropy):
    return metrics.mig_per_factor(mutual_info, entropy).mean()


mig_per_factor = Exercise(
    title="Mutual information gap",
    reference=metrics.mig_per_factor,
    diagnose=lambda fn: compare_with_mistakes(fn, metrics.mig_per_factor, {
        "You did not divide by the factor's entropy H(v_k): the gap must be a fraction of what there is to know "
        "about the factor, so that factors with many values do not count more.": _mig_not_normalised,
        "You returned the largest mutual information (over H) without subtracting the second largest: "
        "the *gap* is what rewards a factor living in one latent only.": _mig_no_gap,
        "You subtracted the mean of the other latents; MIG subtracts the *second largest* one.": _mig_minus_mean,
        "You sorted in ascending order, so you took the gap between the two *smallest* values: "
        "use descending=True (or topk).": _mig_ascending,
        "You averaged over the factors already; return one gap per factor (shape (K,)): MIG is their mean, "
        "taken afterwards.": _mig_averaged,
    }, _mig_inputs(), atol=1e-9, rtol=1e-7),
    hint_text="Sort each column of mutual_info (one column per factor) in descending order, "
              "mutual_info.sort(dim=0, descending=True).values; subtract row 1 from row 0 and divide by entropy.",
)


# ---------------------------------------------------------------------------
# Lesson 03: KL( N(mu, diag(exp(logvar))) ‖ N(0, I) ) for a batch, from the encoder's (mu, logvar).
#
# The answer is deterministic, so the checker compares values (compare_with_mistakes) after naming the
# shape mistakes (no reduction over the latents, or the batch reduced too) and checking the result can be
# differentiated (a VAE trains through it).

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
    """(mu, logvar) like an encoder's: a (128, 20) float32 batch (the MLP VAE's latent size) and a small
    float64 one that requires grad. logvar spans [−3, 1], so σ, σ², exp(logvar)² all differ."""
    g = torch.Generator().manual_seed(3)
    mu = 1.5 * torch.randn(128, 20, generator=g)
    logvar = 4 * torch.rand(128, 20, generator=g) - 3
    small_mu = torch.randn(6, 3, generator=g, dtype=torch.float64).requires_grad_()
    small_logvar = (2 * torch.rand(6, 3, generator=g, dtype=torch.float64) - 1.5).requires_grad_()
    return [(mu, logvar), (small_mu, small_logvar)]


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
        if mu.requires_grad and not out.requires_grad:
            return ("Your result has no gradient (it went through NumPy, .item(), .detach() or torch.no_grad()): "
                    "the VAE trains through this KL, so compute it with torch operations on mu and logvar.")
    return compare_with_mistakes(fn, losses.gaussian_kl, KL_MISTAKES, inputs, atol=1e-4, rtol=1e-4)


batched_kl = Exercise(
    title="Batched Gaussian KL",
    reference=losses.gaussian_kl,
    diagnose=diagnose_batched_kl,
    hint_text="logvar is log σ², so σ² = torch.exp(logvar) and log σ² = logvar. Compute "
              "½ (μ² + σ² − 1 − log σ²) elementwise, shape (batch, latent), then .sum(dim=-1).",
)


# ---------------------------------------------------------------------------
# Lesson 04: the reparameterized sampler z = mu + exp(0.5·logvar) · ε, ε ~ N(0, I).
#
# The answer is random, so nothing is compared draw by draw. The checker works with any source of ε
# (torch.randn, torch.randn_like, torch.normal, rsample, its own generator):
#   * structure: shape of mu, finite, requires grad;
#   * statistics on a big batch whose rows share one (mu, logvar) per latent: ε̂ = (z − mu)/σ must differ
#     between rows and between latents, have mean 0 and standard deviation 1 per latent (5 standard errors);
#     the known wrong σ's (logvar, exp(logvar)) and a uniform ε are recognised by the spread they give;
#   * gradients, exact whatever ε was drawn: ∂z/∂mu = 1 and ∂z/∂logvar = ½σε = ½(z − mu).

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
    "detached": "Your z does not require grad: it was drawn with .sample(), under torch.no_grad(), or detached, "
                "so no gradient can reach mu and logvar. Build it as mu + std * eps from the inputs themselves.",
    "same eps": "You sampled ε once for the whole batch: every row of your z uses the same ε. Draw one ε per "
                "element, with the shape of mu (torch.randn_like(std)).",
    "same eps per row": "Every latent of a row uses the same ε: draw one ε per element, with the shape of mu "
                        "(torch.randn_like(std)), not one per row.",
    "uniform": "Your ε looks uniform on [0, 1) (torch.rand); the trick needs ε ~ N(0, 1): torch.randn / randn_like.",
    "no mu": "Your z is not centred on mu: did you forget to add mu (z = mu + std * eps)?",
    "no grad mu": "No gradient reaches mu (∂z/∂mu is 0, not 1). torch.normal(mu, std) and Normal(mu, std).sample() "
                  "draw z with no path back to mu and logvar; draw ε ~ N(0, 1) and compute mu + std * eps instead.",
    "no grad logvar": "No gradient reaches logvar: std must be computed from logvar itself (not logvar.detach() or "
                      "a torch.normal(...) draw), so that ∂z/∂logvar = ½·std·ε.",
}


def _standardised_columns(z: torch.Tensor, mu: torch.Tensor, std: torch.Tensor) -> str | None:
    """The statistics checks on ε̂ = (z − mu)/std: independence across rows and latents, then the moments."""
    eps = (z.detach().double() - mu.double()) / std.double()
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
        return None
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
            if not z.requires_grad:
                return REPARAM_MESSAGES["detached"]
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
