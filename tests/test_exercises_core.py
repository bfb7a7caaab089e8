"""The shared checker machinery: what every exercise gets for free (private copies, the random state restored,
a time limit, gradient and NaN checks) and the quiet ``check`` result, tried on every exercise of the course
and on a new checker built only from the core."""

import math
import random
import signal
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from vaecourse import exercises
from vaecourse.exercises import core

ALL = {
    "pca_reconstruction": exercises.pca_reconstruction,
    "mc_elbo": exercises.mc_elbo,
    "batched_kl": exercises.batched_kl,
    "reparameterized_sampler": exercises.reparameterized_sampler,
    "vae_loss": exercises.vae_loss,
    "iwae_estimate": exercises.iwae_estimate,
    "mig_per_factor": exercises.mig_per_factor,
}


@pytest.fixture(scope="module", autouse=True)
def warm_caches():
    exercises.lesson02._mc_elbo_candidate_spreads()  # so that a short time limit only times the learner's code


def changes_an_input_first(reference):
    """The reference's answer, after changing the first tensor argument in place."""
    def fn(*args):
        out = reference(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        first = next(a for a in args if isinstance(a, torch.Tensor))
        with torch.no_grad():
            first.add_(1.0)
        return out

    return fn


def endless(*args):
    while True:
        pass


def reseeds_python_and_numpy(reference):
    def fn(*args):
        random.seed(1)
        np.random.seed(1)
        random.random()
        np.random.rand()
        return reference(*args)

    return fn


@pytest.mark.parametrize("name", ALL)
def test_every_checker_names_an_input_changed_in_place(name):
    ex = ALL[name]
    status, message = ex.verdict(changes_an_input_first(ex.reference))
    assert status == "incorrect" and "changed its input" in message and "in place" in message, message


@pytest.mark.parametrize("name", ALL)
def test_every_checker_stops_an_endless_loop_with_one_line(name):
    ex = replace(ALL[name], time_limit_s=0.3)
    start = time.perf_counter()
    status, message = ex.verdict(endless)
    assert time.perf_counter() - start < 3
    assert status == "incorrect" and "did not finish within the check's 0.3 s" in message and "\n" not in message


@pytest.mark.parametrize("name", ALL)
def test_every_check_leaves_the_global_random_state_alone(name):
    ex = ALL[name]

    def draws():
        return torch.rand(2).tolist(), random.random(), np.random.rand()

    torch.manual_seed(7), random.seed(7), np.random.seed(7)
    expected = draws()
    torch.manual_seed(7), random.seed(7), np.random.seed(7)
    assert ex.verdict(reseeds_python_and_numpy(ex.reference))[0] == "correct"
    assert draws() == expected
    assert torch.initial_seed() == 7


@pytest.mark.parametrize("name", ALL)
def test_every_check_leaves_the_alarm_and_the_trace_function_alone(name):
    handler, trace = signal.getsignal(signal.SIGALRM), sys.gettrace()
    ALL[name].verdict(ALL[name].reference)
    assert signal.getsignal(signal.SIGALRM) == handler and sys.gettrace() is trace
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_loop_that_swallows_the_time_limit_still_ends():
    def swallows(mu, logvar):
        while True:
            try:
                time.sleep(0.01)
            except:  # noqa: E722 - the learner's bare except is the point
                pass

    trace, start = sys.gettrace(), time.perf_counter()
    message = replace(exercises.batched_kl, time_limit_s=0.3).verdict(swallows)[1]
    assert "did not finish" in message and time.perf_counter() - start < 3
    assert sys.gettrace() is trace


def test_the_time_limit_works_outside_the_main_thread_too():
    """There (and on Windows) no SIGALRM: a trace function watches the learner's code instead."""
    results = []
    ex = replace(exercises.batched_kl, time_limit_s=0.3)
    thread = threading.Thread(target=lambda: results.append((ex.verdict(endless), ex.verdict(ex.reference))))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    (stopped, _), (status, _) = results[0]
    assert stopped == "incorrect" and status == "correct"


def test_the_time_limit_costs_nothing_when_nothing_runs_long():
    start = time.perf_counter()
    for _ in range(1000):
        with core.time_limit(10):
            pass
    assert time.perf_counter() - start < 1.0  # about 10 µs each: a check is not slowed down


def test_check_shows_nothing_as_a_cells_last_value(capsys):
    from IPython.core.formatters import DisplayFormatter

    def stub(mu, logvar):
        raise NotImplementedError

    result = exercises.batched_kl.check(stub)
    assert capsys.readouterr().out.count("\n") == 1          # one friendly line
    assert not result and repr(result) == "False"
    assert DisplayFormatter().format(result) == ({}, {})      # Jupyter echoes nothing (no "False")
    assert exercises.batched_kl.check(exercises.batched_kl.reference) and result == 0


def test_use_hands_back_a_function_that_works_on_copies():
    def right_but_in_place_for_big_batches(mu, logvar):
        if mu.shape[0] > 1000:
            mu.pow_(2)
            return 0.5 * (mu + logvar.exp() - 1 - logvar).sum(-1)
        return exercises.batched_kl.reference(mu, logvar)

    kl = exercises.batched_kl.use(right_but_in_place_for_big_batches)
    mu, logvar = torch.randn(2000, 3), torch.randn(2000, 3)
    before = mu.clone()
    assert torch.allclose(kl(mu, logvar), exercises.batched_kl.reference(before, logvar))
    assert torch.equal(mu, before) and kl.__name__ == "right_but_in_place_for_big_batches"


# --- A new checker built from the core alone gets the same guards ---

def square_inputs():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(5, generator=g, dtype=torch.float64).requires_grad_(), torch.rand(5, generator=g) + 1)]


def weighted_square(x, weight):
    return weight * x**2


square = core.Exercise(
    title="Weighted square", reference=weighted_square, hint_text="weight * x**2",
    diagnose=lambda fn: core.compare_with_mistakes(fn, weighted_square, {
        "You forgot the weight.": lambda x, weight: x**2}, square_inputs()))


@pytest.mark.parametrize("fn,phrase", [
    (lambda x, weight: x * x * weight, None),
    (lambda x, weight: torch.pow(x, 2).mul(weight), None),
    (lambda x, weight: x**2, "You forgot the weight."),
    (lambda x, weight: weight * x.detach() ** 2 + 0 * x, "No gradient reaches `x`"),
    (lambda x, weight: weight * x * x.detach(), "gradient with respect to `x` is wrong"),
    (lambda x, weight: torch.from_numpy(weight.numpy() * x.detach().numpy() ** 2), "has no gradient"),
    (lambda x, weight: weight.mul_(1.0).mul_(x**2), "changed its input `weight` in place"),
    (lambda x, weight: weight * x**2 / (x - x), "contains inf"),
    (lambda x, weight: weight * x**2 + torch.log(x), "contains NaN"),
    (lambda x, weight: (weight * x**2)[:3], "returned shape (3,)"),
    (lambda x, weight: weight * x**2 + 0.1, "values differ"),
    (lambda x, weight: torch.manual_seed(3) and weight * x**2, "re-seeds"),
    (lambda x, weight: x.tolist(), "should return a torch.Tensor"),
    (lambda x, weight: x @ weight.unsqueeze(0), "raised RuntimeError"),
], ids=lambda v: v if isinstance(v, str) else "case")
def test_a_new_checker_gets_the_guards_for_free(fn, phrase):
    status, message = square.verdict(fn)
    if phrase is None:
        assert status == "correct", message
    else:
        assert status == "incorrect" and phrase in message, message


def test_private_copies_reach_into_containers_and_keep_the_gradient():
    x = torch.ones(3, requires_grad=True)
    args = ([x, {"a": np.zeros(2)}], 4)
    copied = core.private_copy(args)
    assert copied[0][0] is not x and copied[0][1]["a"] is not args[0][1]["a"] and copied[1] == 4
    copied[0][0].sum().backward()
    assert torch.equal(x.grad, torch.ones(3))


def test_sample_count_and_normality_helpers():
    assert core.sample_count_message(1.0, 0.1, 10, 1000) is None        # shrinks 10×, as 1/√n says
    assert "ignores n" in core.sample_count_message(1.0, 0.9, 10, 1000, name="n")
    g = torch.Generator().manual_seed(0)
    assert core.standard_normal_message(torch.randn(10_000, 3, generator=g)) is None
    uniform = (torch.rand(10_000, 3, generator=g) - 0.5) * math.sqrt(12)
    assert "uniform" in core.standard_normal_message(uniform)


def test_an_in_place_step_that_breaks_backpropagation_is_named():
    def overwrites_what_backward_needs(x, weight):
        gate = torch.sigmoid(x)           # sigmoid's backward needs its output ...
        out = weight * x**2 + 0 * gate
        gate.mul_(2)                      # ... which this overwrites
        return out

    status, message = square.verdict(overwrites_what_backward_needs)
    assert status == "incorrect" and "backpropagation through your result fails" in message, message
