"""Lesson 02's Monte Carlo ELBO exercise: the reference passes, every known mistake is named, other correct
estimators pass, and a stub is "not attempted". Estimators that repeat their draws (a seed inside) or ignore
n_samples are named too."""

import math

import numpy as np
import pytest
import torch

from vaecourse import exercises, toy

ex = exercises.mc_elbo


def test_reference_passes(capsys):
    assert ex.check(exercises.lesson02.mc_elbo_reference)
    assert "correct" in capsys.readouterr().out


def test_stub_is_not_attempted(capsys):
    def mc_elbo(model, x, q_mean, q_std, n_samples):
        # YOUR CODE HERE
        raise NotImplementedError

    assert not ex.check(mc_elbo)
    assert "not attempted yet" in capsys.readouterr().out
    assert ex.use(mc_elbo) is exercises.lesson02.mc_elbo_reference


def one_sample_whatever_n(model, x, q_mean, q_std, n_samples):
    return exercises.lesson02.mc_elbo_reference(model, x, q_mean, q_std, 1)


def at_most_100_samples(model, x, q_mean, q_std, n_samples):
    return exercises.lesson02.mc_elbo_reference(model, x, q_mean, q_std, min(n_samples, 100))


def own_seeded_generator(model, x, q_mean, q_std, n_samples):
    generator = torch.Generator().manual_seed(123)  # the same draw on every call
    q = toy.Gaussian.diagonal(q_mean, q_std)
    z = q.sample(n_samples, generator)
    return float(np.mean((model.log_joint(x, z) - q.log_prob(z)).numpy()))


def numpy_seeded_inside(model, x, q_mean, q_std, n_samples):
    np.random.seed(0)
    return as_python_float_with_numpy_noise(model, x, q_mean, q_std, n_samples)


def torch_seeded_inside(model, x, q_mean, q_std, n_samples):
    torch.manual_seed(0)
    return exercises.lesson02.mc_elbo_reference(model, x, q_mean, q_std, n_samples)


def shifts_q_mean_in_place(model, x, q_mean, q_std, n_samples):
    q_mean += 0.0 * q_mean + 1e-3  # "harmless" in-place nudge of an input
    return exercises.lesson02.mc_elbo_reference(model, x, q_mean - 1e-3, q_std, n_samples)


def changes_the_model(model, x, q_mean, q_std, n_samples):
    model.bias -= 0.0 * model.bias + 1.0
    return exercises.lesson02.mc_elbo_reference(model, x + 1.0, q_mean, q_std, n_samples)


@pytest.mark.parametrize("wrong,phrase", [
    (exercises.lesson02._mc_elbo_no_log_prior, "missing the log p(z) term"),
    (exercises.lesson02._mc_elbo_no_entropy, "left out the −log q(z) term"),
    (exercises.lesson02._mc_elbo_plus_log_q, "Sign error on log q(z)"),
    (exercises.lesson02._mc_elbo_prior_samples, "samples come from the prior"),
    (exercises.lesson02._mc_elbo_log_mean_exp, "log-mean-exp"),
    (exercises.lesson02._mc_elbo_sum, "summed over the samples instead of averaging"),
    (exercises.lesson02._mc_elbo_variance_as_std, "q_std² where the standard deviation belongs"),
    (exercises.lesson02._mc_elbo_not_averaged, "one value per sample"),
    (one_sample_whatever_n, "ignores n_samples"),
    (at_most_100_samples, "ignores n_samples"),
    (own_seeded_generator, "same estimate on every call"),
    (numpy_seeded_inside, "same estimate on every call"),
    (torch_seeded_inside, "re-seeds PyTorch's global random generator"),
    (shifts_q_mean_in_place, "changed its input `q_mean` in place"),
    (changes_the_model, "changed its input `model.bias` in place"),
], ids=lambda v: getattr(v, "__name__", "msg"))
def test_each_known_mistake_is_named(wrong, phrase):
    status, message = ex.verdict(wrong)
    assert status == "incorrect" and phrase in message, message


def test_every_mistake_is_far_from_the_reference_on_some_input():
    """The checker's design: each mistake's estimator sits ≥ 10 standard errors from the right one somewhere."""
    spreads = exercises.lesson02._mc_elbo_candidate_spreads()
    runs = exercises.lesson02.MC_ELBO_RUNS
    for message in exercises.lesson02.MC_ELBO_MISTAKES:
        separations = [abs(m - r) / math.sqrt((s**2 + rs**2) / runs)
                       for (m, s), (r, rs) in zip(spreads[message], spreads[""])]
        assert max(separations) > 10, message


def test_reference_estimates_agree_with_the_exact_elbo():
    spreads = exercises.lesson02._mc_elbo_candidate_spreads()[""]
    for (mean, std), (model, x, q_mean, q_std, _) in zip(spreads, exercises.lesson02.mc_elbo_inputs()):
        exact = toy.exact_elbo(model, x, toy.Gaussian.diagonal(q_mean, q_std)).item()
        assert abs(mean - exact) < 4 * std / math.sqrt(exercises.lesson02.MC_ELBO_RUNS)


def with_torch_distributions(model, x, q_mean, q_std, n_samples):
    q = torch.distributions.Normal(q_mean, q_std)
    z = q.sample((n_samples,))
    return (model.log_likelihood(x, z) + model.log_prior(z) - q.log_prob(z).sum(-1)).mean()


def with_closed_form_kl(model, x, q_mean, q_std, n_samples):
    """The VAE's usual estimator: Monte Carlo reconstruction minus the closed-form KL to the prior."""
    z = q_mean + q_std * torch.randn(n_samples, len(q_mean), dtype=torch.float64)
    kl = 0.5 * (q_mean**2 + q_std**2 - 1 - torch.log(q_std**2)).sum()
    return model.log_likelihood(x, z).mean() - kl


def as_python_float_with_numpy_noise(model, x, q_mean, q_std, n_samples):
    eps = torch.from_numpy(np.random.standard_normal((n_samples, len(q_mean))))  # NumPy's global generator
    q = toy.Gaussian.diagonal(q_mean, q_std)
    z = q_mean + q_std * eps
    return float(np.mean((model.log_joint(x, z) - q.log_prob(z)).numpy()))


def with_half_the_samples(model, x, q_mean, q_std, n_samples):
    """Wasteful but unbiased, and its spread still shrinks like 1/√n_samples."""
    return exercises.lesson02.mc_elbo_reference(model, x, q_mean, q_std, max(1, n_samples // 2))


def exact_answer(model, x, q_mean, q_std, n_samples):
    return toy.exact_elbo(model, x, toy.Gaussian.diagonal(q_mean, q_std))


@pytest.mark.parametrize("right", [with_torch_distributions, with_closed_form_kl, as_python_float_with_numpy_noise,
                                   with_half_the_samples, exact_answer], ids=lambda f: f.__name__)
def test_other_correct_estimators_pass(right):
    assert ex.verdict(right)[0] == "correct", ex.verdict(right)[1]




def test_crashes_wrong_types_and_other_errors_get_clear_messages():
    def crashes_for_2d(model, x, q_mean, q_std, n_samples):
        z = q_mean + q_std * torch.randn(n_samples, dtype=torch.float64)  # (n,) instead of (n, d)
        return model.log_likelihood(x, z.unsqueeze(1)).mean()

    assert "raised" in ex.verdict(crashes_for_2d)[1]
    assert "one number" in ex.verdict(lambda *args: "elbo")[1]
    assert "single number" in ex.verdict(lambda model, x, q_mean, q_std, n: torch.zeros(3))[1]
    assert "exact ELBO is" in ex.verdict(lambda *args: torch.tensor(0.0))[1]
    assert "log(0)" in ex.verdict(lambda *args: torch.tensor(float("nan")))[1]


def test_check_is_quick_and_leaves_the_thread_count_alone():
    import time

    threads = torch.get_num_threads()
    start = time.perf_counter()
    ex.verdict(exercises.lesson02.mc_elbo_reference)
    assert time.perf_counter() - start < 10
    assert torch.get_num_threads() == threads


def test_hint_and_solution(capsys):
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "log_prior" in out and "def mc_elbo_reference" in out and ".mean()" in out
