"""Lesson 07's exercise: the free-bits KL. The reference passes, other correct answers pass, every known
mistake is rejected with the message naming it, kinds of mistake (in place, detached, λ ignored, wrong form,
wrong gradient) are caught, and a stub is "not attempted"."""

import numpy as np
import pytest
import torch

from vaecourse import exercises, losses, metrics

ex = exercises.free_bits_kl
lesson07 = exercises.lesson07


def test_reference_passes_and_a_stub_is_not_attempted(capsys):
    def free_bits_kl(mu, logvar, free_bits):
        # YOUR CODE HERE
        raise NotImplementedError

    assert ex.check(losses.free_bits_kl) and "correct" in capsys.readouterr().out
    assert not ex.check(free_bits_kl) and "not attempted yet" in capsys.readouterr().out
    assert ex.use(free_bits_kl) is losses.free_bits_kl


def with_maximum(mu, logvar, free_bits):
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
                                           torch.distributions.Normal(0.0, 1.0)).mean(dim=0)
    return torch.maximum(kl, torch.full_like(kl, free_bits)).sum(), kl.sum()


def with_relu(mu, logvar, free_bits):
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean(0)
    return (free_bits + torch.relu(kl - free_bits)).sum(), kl.sum()


def with_where_and_a_list(mu, logvar, free_bits):
    kl = metrics.kl_per_latent(mu, logvar)
    return [torch.where(kl > free_bits, kl, torch.tensor(free_bits, dtype=kl.dtype)).sum(), kl.sum().detach()]


@pytest.mark.parametrize("right", [with_maximum, with_relu, with_where_and_a_list], ids=lambda f: f.__name__)
def test_other_correct_answers_pass(right):
    assert ex.verdict(right) == ("correct", "✅ Free-bits KL: correct!")


@pytest.mark.parametrize("mistake,phrase", [
    (lesson07._clamped_per_example, "clamped each example's KL before averaging"),
    (lesson07._clamped_total, "clamped the KL summed over the latents"),
    (lesson07._clamped_total_per_latent_floor, "clamped the summed KL at (number of latents)·λ"),
    (lesson07._clamped_from_above, "clamped from above"),
    (lesson07._hinge, "subtracted λ"),
    (lesson07._mean_over_latents, "averaged over the latents"),
    (lesson07._summed_over_batch, "summed over the batch"),
    (lesson07._not_clamped, "nothing was clamped"),
], ids=lambda v: getattr(v, "__name__", "phrase"))
def test_each_known_mistake_is_named(mistake, phrase):
    def answer(mu, logvar, free_bits):
        return mistake(mu, logvar, free_bits), metrics.kl_per_latent(mu, logvar).sum()

    status, message = ex.verdict(answer)
    assert status == "incorrect" and phrase in message, message


def test_mistakes_differ_from_the_reference_and_from_each_other_somewhere():
    """Each mistake's penalties over the checker's inputs form a vector unlike the reference's and every other
    mistake's, so the message that names a mistake is never ambiguous."""
    inputs = lesson07.free_bits_inputs()
    rows = [[float(lesson07._penalty(*a).detach()) for a in inputs]]
    rows += [[float(m(*a).detach()) for a in inputs] for m in lesson07.PENALTY_MISTAKES.values()]
    values = torch.tensor(rows, dtype=torch.float64)
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            assert (values[i] - values[j]).abs().max() > 0.05, (i, j)


def test_a_wrong_kl_formula_is_named_with_lesson_03s_message():
    def no_half(mu, logvar, free_bits):
        per_latent = (mu.pow(2) + logvar.exp() - 1 - logvar).mean(dim=0)
        return per_latent.clamp(min=free_bits).sum(), per_latent.sum()

    status, message = ex.verdict(no_half)
    assert status == "incorrect" and "wrong before any clamping" in message and "forgot the ½" in message, message


def test_an_unrecognised_answer_gets_the_numbers():
    status, message = ex.verdict(lambda mu, logvar, lam: (losses.free_bits_kl(mu, logvar, lam)[0] + 0.3,
                                                          losses.free_bits_kl(mu, logvar, lam)[1]))
    assert status == "incorrect" and "Your penalty is" in message and "free_bits = 0.5" in message, message


def test_reporting_the_clamped_value_as_the_kl_is_named():
    def reports_penalty(mu, logvar, free_bits):
        penalty, _ = losses.free_bits_kl(mu, logvar, free_bits)
        return penalty, penalty

    status, message = ex.verdict(reports_penalty)
    assert status == "incorrect" and "the KL you report must be the *true* KL" in message, message


def test_swapped_pair_and_a_wrong_reported_kl_are_named():
    swapped = ex.verdict(lambda mu, logvar, lam: losses.free_bits_kl(mu, logvar, lam)[::-1])
    assert "You returned (kl, penalty)" in swapped[1]
    wrong_kl = ex.verdict(lambda mu, logvar, lam: (losses.free_bits_kl(mu, logvar, lam)[0],
                                                   metrics.kl_per_latent(mu, logvar).mean()))
    assert wrong_kl[0] == "incorrect" and "not the true KL" in wrong_kl[1]


@pytest.mark.parametrize("answer,phrase", [
    (lambda mu, logvar, lam: losses.free_bits_kl(mu, logvar, lam)[0], "Return a pair (penalty, kl)"),
    (lambda mu, logvar, lam: (*losses.free_bits_kl(mu, logvar, lam), 0), "Return a pair (penalty, kl)"),
    (lambda mu, logvar, lam: (metrics.kl_per_latent(mu, logvar).clamp(min=lam), metrics.kl_per_latent(mu, logvar)),
     "values of shapes"),
    (lambda mu, logvar, lam: tuple(float(t) for t in losses.free_bits_kl(mu, logvar, lam)), "values of shapes"),
], ids=["one tensor", "three values", "per latent, not summed", "python floats"])
def test_wrong_forms_are_named(answer, phrase):
    status, message = ex.verdict(answer)
    assert status == "incorrect" and phrase in message, message


def test_an_ignored_free_bits_argument_is_caught():
    status, message = ex.verdict(lambda mu, logvar, lam: losses.free_bits_kl(mu, logvar, 0.5))
    assert status == "incorrect" and "ignores the free_bits argument" in message, message


def test_inputs_changed_in_place_are_caught():
    def squares_in_place(mu, logvar, free_bits):
        kl = 0.5 * (mu.pow_(2) + logvar.exp() - 1 - logvar)
        per_latent = kl.mean(dim=0)
        return per_latent.clamp(min=free_bits).sum(), per_latent.sum()

    status, message = ex.verdict(squares_in_place)
    assert status == "incorrect" and "changed its input `mu` in place" in message, message


@pytest.mark.parametrize("answer", [
    lambda mu, logvar, lam: tuple(t.detach() for t in losses.free_bits_kl(mu, logvar, lam)),
    lambda mu, logvar, lam: tuple(torch.tensor(t.item()) for t in losses.free_bits_kl(mu, logvar, lam)),
    lambda mu, logvar, lam: tuple(torch.from_numpy(np.asarray(t.detach().numpy()))
                                  for t in losses.free_bits_kl(mu, logvar, lam)),
], ids=["detach", "item", "numpy"])
def test_a_penalty_without_gradient_is_caught(answer):
    status, message = ex.verdict(answer)
    assert status == "incorrect" and "no gradient" in message, message


def test_right_values_with_a_wrong_gradient_are_caught():
    def logvar_detached(mu, logvar, free_bits):
        return losses.free_bits_kl(mu, logvar.detach(), free_bits)

    def gradient_below_the_floor(mu, logvar, free_bits):
        kl = metrics.kl_per_latent(mu, logvar)
        below = (kl < free_bits).to(kl.dtype)
        return (kl.clamp(min=free_bits) + below * (kl - kl.detach())).sum(), kl.sum()

    for answer, name in ((logvar_detached, "logvar"), (gradient_below_the_floor, "mu")):
        status, message = ex.verdict(answer)
        assert status == "incorrect" and f"wrong gradient with respect to {name}" in message, message


def test_a_crash_is_reported_with_the_inputs():
    status, message = ex.verdict(lambda mu, logvar, lam: torch.dot(mu, logvar))
    assert status == "incorrect" and "raised RuntimeError" in message and "free_bits = 0.5" in message


def test_hint_and_solution_print(capsys):
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "torch.clamp" in out and "def free_bits_kl" in out


def test_the_solution_shown_is_correct():
    namespace = {"torch": torch}
    exec(ex.solution_code, namespace)
    assert ex.verdict(namespace["free_bits_kl"])[0] == "correct"
