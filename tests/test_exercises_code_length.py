"""Lesson 10's exercise, the code length in bits: the reference and other right answers pass, each known
mistake is rejected with a message naming it, and so are the kinds of mistake no example shows (caught by
the shared core: in-place changes, results cut off from the gradient, re-seeding)."""

import math

import numpy as np
import pytest
import torch

from vaecourse import compression
from vaecourse import exercises as ex


def stub(elbo):
    # YOUR CODE HERE
    raise NotImplementedError


def test_reference_passes_and_stub_is_not_attempted():
    assert ex.code_length.verdict(compression.code_length_bits)[0] == "correct"
    status, message = ex.code_length.verdict(stub)
    assert status == "not attempted" and "not attempted yet" in message
    assert ex.code_length.use(stub) is compression.code_length_bits


@pytest.mark.parametrize("answer", [
    lambda elbo: -elbo / math.log(2),
    lambda elbo: -torch.log2(torch.exp(torch.ones(())) ) * elbo,        # −elbo · log₂ e
    lambda elbo: elbo.neg().div(math.log(2)),
    lambda elbo: elbo.abs() / math.log(2),                               # ELBOs of binary images are ≤ 0
    lambda elbo: -elbo * math.log2(math.e),
])
def test_other_correct_answers_pass(answer):
    assert ex.code_length.verdict(answer)[0] == "correct"


@pytest.mark.parametrize("message, mistake", list(ex.lesson10.CODE_LENGTH_MISTAKES.items()),
                         ids=lambda v: getattr(v, "__name__", ""))
def test_each_known_mistake_gets_its_own_message(message, mistake):
    status, verdict = ex.code_length.verdict(mistake)
    assert status == "incorrect" and verdict.endswith(message), verdict


def test_the_messages_name_units_reductions_and_sign():
    messages = " ".join(ex.lesson10.CODE_LENGTH_MISTAKES)
    for words in ("still in nats", "ln 10", "Sign error", "bits per *pixel*", "per image", "averaged over the images"):
        assert words in messages


def in_place(elbo):
    elbo.neg_()
    return elbo.div_(math.log(2))


def in_place_then_right(elbo):
    result = -elbo / math.log(2)
    elbo.zero_()
    return result


def through_numpy(elbo):
    return torch.from_numpy(-elbo.detach().numpy() / np.log(2))


def detached(elbo):
    return (-elbo / math.log(2)).detach()


def reseeds(elbo):
    torch.manual_seed(0)
    return -elbo / math.log(2)


def returns_a_float(elbo):
    return float((-elbo / math.log(2)).mean())


def ignores_its_input(elbo):
    return torch.full((64,), 140.0)


@pytest.mark.parametrize("mistake, words", [
    (in_place, "changed its input `elbo` in place"),
    (in_place_then_right, "changed its input `elbo` in place"),
    (through_numpy, "has no gradient"),
    (detached, "has no gradient"),
    (reseeds, "re-seeds"),
    (returns_a_float, "returned a float"),
    (ignores_its_input, "shape"),
])
def test_kinds_of_mistake_are_caught(mistake, words):
    status, message = ex.code_length.verdict(mistake)
    assert status == "incorrect" and words in message, message


def test_a_crash_is_reported_in_words():
    status, message = ex.code_length.verdict(lambda elbo: elbo.nonexistent())
    assert status == "incorrect" and "raised AttributeError" in message


def test_hint_and_solution_print(capsys):
    ex.code_length.hint()
    ex.code_length.solution()
    out = capsys.readouterr().out
    assert "ln 2" in out and "def code_length_bits" in out
