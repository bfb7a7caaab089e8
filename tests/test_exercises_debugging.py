"""Lesson 08's exercises: "Which bug is it?" and "Fix the training step". The right answers pass, every known
wrong answer is rejected with a message naming its mistake, and an untouched stub is "not attempted"."""

import pytest
import torch
import torch.nn.functional as F

from vaecourse import bugs
from vaecourse import exercises as ex
from vaecourse.exercises import lesson08

# --- Which bug is it? ---


def test_the_right_answers_pass_in_any_spelling():
    assert ex.which_bug.verdict(lesson08.mystery_answers())[0] == "correct"
    relaxed = {letter.lower(): (None if bug == "none" else f" {bug.upper()} ")
               for letter, bug in lesson08.mystery_answers().items()}
    assert ex.which_bug.verdict(relaxed)[0] == "correct"


def test_the_stub_is_not_attempted():
    assert ex.which_bug.verdict({letter: ... for letter in lesson08.MYSTERY_BUGS})[0] == "not attempted"


@pytest.mark.parametrize("letter", list(lesson08.MYSTERY_BUGS))
def test_each_wrong_answer_is_named_with_a_hint_that_does_not_give_it_away(letter):
    answers = lesson08.mystery_answers()
    truth = lesson08.MYSTERY_BUGS[letter]
    answers[letter] = "kl_wrong_sign" if truth != "kl_wrong_sign" else "none"
    status, message = ex.which_bug.verdict(answers)
    hint = lesson08.LOOK_AT[truth]
    assert status == "incorrect" and f"{letter}: not {answers[letter]}. {hint}" in message
    assert f"{len(answers) - 1} of {len(answers)} right" in message
    assert truth is None or truth not in hint


def test_every_bug_of_the_script_has_a_hint():
    assert set(lesson08.LOOK_AT) == {None, *bugs.BUGS}


@pytest.mark.parametrize("answers, words", [
    ({"A": "logvar_as_std"}, "Still to name: B, C, D, E"),
    ({"A": "logvar_as_sigma"}, "is not a bug of the script"),
    ({"F": "no_eval"}, "There is no mystery run F"),
    ({"A": 3}, "must be a bug's name"),
    (["logvar_as_std"], "Answer with a dict"),
])
def test_malformed_answers_say_what_to_do(answers, words):
    status, message = ex.which_bug.verdict(answers)
    assert status == "incorrect" and words in message


# --- Fix the training step ---

def make_step(*, zero_grad=True, sigmoid=False, pixel_sum=True, kl_sign=-1.0, kl_per_image=True, descend=True):
    """The fixed step with switches that put the tutorial's mistakes back one at a time."""
    def step(model, optimizer, x):
        if zero_grad:
            optimizer.zero_grad()
        logits, mu, logvar = model(x)
        out = torch.sigmoid(logits) if sigmoid else logits
        recon = (F.binary_cross_entropy_with_logits(out, x, reduction="sum") / len(x) if pixel_sum
                 else F.binary_cross_entropy_with_logits(out, x))
        kl = kl_sign * 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = recon + (kl / len(x) if kl_per_image else kl)
        (loss if descend else -loss).backward()
        optimizer.step()
        return loss
    return step


def test_the_reference_and_another_correct_step_pass():
    assert ex.fix_the_step.verdict(lesson08.fixed_train_step)[0] == "correct"
    assert ex.fix_the_step.verdict(make_step())[0] == "correct"


def test_the_tutorial_step_is_rejected_with_all_its_mistakes():
    status, message = ex.fix_the_step.verdict(lesson08.tutorial_train_step)
    assert status == "incorrect" and "5 problem(s)" in message
    for name in ("decoder_output", "recon_value", "batch_reduction", "kl_value", "zero_grad"):
        assert f"• {name}:" in message


@pytest.mark.parametrize("switch, finding, words", [
    ({"sigmoid": True}, "decoder_output", "sigmoid applied twice"),
    ({"pixel_sum": False}, "recon_value", "averaged over the 784 pixels"),
    ({"kl_sign": 1.0}, "kl_value", "Sign error"),
    ({"kl_per_image": False}, "batch_reduction", "the KL by 2.00"),
    ({"zero_grad": False}, "zero_grad", "optimizer.zero_grad()"),
    ({"descend": False}, "step_direction", "uphill"),
])
def test_each_mistake_alone_is_named(switch, finding, words):
    status, message = ex.fix_the_step.verdict(make_step(**switch))
    assert status == "incorrect" and "1 problem(s)" in message and f"• {finding}:" in message and words in message


def test_stub_crash_silence_and_a_private_optimizer_are_answered_in_words():
    def stub(model, optimizer, x):
        raise NotImplementedError

    def crashes(model, optimizer, x):
        return model(x)[0].sum() + undefined_name  # noqa: F821

    def silent(model, optimizer, x):
        make_step()(model, optimizer, x)

    def own_optimizer(model, optimizer, x):
        return make_step()(model, torch.optim.Adam(model.parameters()), x)

    assert ex.fix_the_step.verdict(stub)[0] == "not attempted"
    assert "raised NameError" in ex.fix_the_step.verdict(crashes)[1]
    assert "returns nothing" in ex.fix_the_step.verdict(silent)[1]
    assert "never called optimizer.step()" in ex.fix_the_step.verdict(own_optimizer)[1]


def test_a_step_that_passes_diagnose_must_still_reach_the_elbo_level(monkeypatch):
    monkeypatch.setattr(lesson08, "ELBO_LEVEL", 0.0)   # no VAE reaches an ELBO of 0 nats
    monkeypatch.setattr(lesson08, "FIX_STEPS", 20)     # (so a short run shows the message)
    status, message = ex.fix_the_step.verdict(lesson08.fixed_train_step)
    assert status == "incorrect" and "after 20 steps" in message and "below 0" in message
