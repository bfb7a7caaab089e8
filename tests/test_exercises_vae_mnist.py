"""Lesson 05's exercises: the VAE loss with the right reductions and the IWAE bound. The references pass, other
correct forms pass, every known mistake is named, and so are fragile, detached and in-place answers."""

import math

import pytest
import torch
import torch.nn.functional as F

from vaecourse import exercises, losses, metrics

loss_ex = exercises.vae_loss
iwae_ex = exercises.iwae_estimate
lesson05 = exercises.lesson05


def kl_per_image(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1)


# --- The VAE loss ---

def test_loss_reference_passes_and_agrees_with_the_package(capsys):
    assert loss_ex.check(lesson05.vae_loss_reference)
    assert "correct" in capsys.readouterr().out
    for logits, x, mu, logvar in lesson05.vae_loss_inputs():
        assert torch.allclose(lesson05.vae_loss_reference(logits, x, mu, logvar),
                              losses.negative_elbo(logits, x, mu, logvar)["loss"])


def test_loss_stub_is_not_attempted(capsys):
    def vae_loss(logits, x, mu, logvar):
        # YOUR CODE HERE
        raise NotImplementedError

    assert not loss_ex.check(vae_loss)
    assert "not attempted yet" in capsys.readouterr().out
    assert loss_ex.use(vae_loss) is lesson05.vae_loss_reference


def with_the_package(logits, x, mu, logvar):
    return losses.negative_elbo(logits, x, mu, logvar)["loss"]


def with_torch_distributions(logits, x, mu, logvar):
    log_px = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(dim=1)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(dim=1)
    return (kl - log_px).mean()


def with_logsigmoid(logits, x, mu, logvar):
    log_px = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=1)
    return (kl_per_image(mu, logvar) - log_px).mean()


def summed_then_divided(logits, x, mu, logvar):
    batch = logits.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return (reconstruction - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / batch


def stable_by_hand(logits, x, mu, logvar):
    bce = logits.clamp(min=0) - logits * x + torch.log1p(torch.exp(-logits.abs()))
    return (bce.sum(dim=1) + kl_per_image(mu, logvar)).mean()


def pytorch_defaults(logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits, x) + 0.5 * torch.mean(mu**2 + logvar.exp() - 1 - logvar)


def double_sigmoid_decoder(logits, x, mu, logvar):
    probabilities = torch.sigmoid(logits)                        # a decoder that ends in a sigmoid ...
    bce = F.binary_cross_entropy_with_logits(probabilities, x, reduction="none")  # ... then "with logits"
    return (bce.sum(1) + kl_per_image(mu, logvar)).mean()


def by_hand_from_probabilities(logits, x, mu, logvar):
    p = torch.sigmoid(logits)
    log_px = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1)
    return (kl_per_image(mu, logvar) - log_px).mean()


def detached_kl(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    return (bce + kl_per_image(mu, logvar).detach()).mean()


def logvar_through_data(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    return (bce + 0.5 * (mu**2 + logvar.data.exp() - 1 - logvar).sum(1)).mean()


def sigmoid_in_place(logits, x, mu, logvar):
    p = logits.sigmoid_()
    bce = F.binary_cross_entropy(p, x, reduction="none").sum(1)
    return (bce + kl_per_image(mu, logvar)).mean()


def endless(logits, x, mu, logvar):
    while True:
        pass


@pytest.mark.parametrize("wrong,phrase", [
    (pytorch_defaults, "PyTorch's default reduction='mean'"),
    (lambda logits, x, mu, logvar: with_logsigmoid(logits, x, mu, logvar) * logits.shape[0], "summed over the batch"),
    (double_sigmoid_decoder, "applied the sigmoid twice"),
    (by_hand_from_probabilities, "NaN for confident ones"),
    (lambda logits, x, mu, logvar: -with_logsigmoid(logits, x, mu, logvar), "the ELBO itself"),
    (lambda logits, x, mu, logvar: with_logsigmoid(logits, x, mu, logvar) - 2 * kl_per_image(mu, logvar).mean(),
     "subtracted the KL"),
    (lambda logits, x, mu, logvar: with_logsigmoid(logits, x, mu, logvar) + kl_per_image(mu, logvar).mean(),
     "forgot the ½"),
    (detached_kl, "No gradient reaches `mu`"),
    (logvar_through_data, "gradient with respect to `logvar` is wrong"),
    (sigmoid_in_place, "changed its input `logits` in place"),
    (lambda logits, x, mu, logvar: torch.tensor(with_logsigmoid(logits, x, mu, logvar).item()), "has no gradient"),
    (lambda logits, x, mu, logvar: F.binary_cross_entropy(logits, x), "between 0 and 1"),
], ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "case"))
def test_loss_other_wrong_answers_are_named(wrong, phrase):
    status, message = loss_ex.verdict(wrong)
    assert status == "incorrect" and phrase in message, message


def test_loss_log_with_an_epsilon_is_rejected_on_confident_logits():
    def epsilon_in_the_log(logits, x, mu, logvar):
        p = torch.sigmoid(logits)
        log_px = (x * torch.log(p + 1e-7) + (1 - x) * torch.log(1 - p + 1e-7)).sum(dim=1)
        return (kl_per_image(mu, logvar) - log_px).mean()

    status, message = loss_ex.verdict(epsilon_in_the_log)
    assert status == "incorrect" and "values differ" in message and "logits in [-30, 30]" in message, message


def test_loss_mistakes_are_far_apart():
    """Each mistake differs from the reference and from every other mistake on some input, so no message is
    ambiguous."""
    inputs = lesson05.vae_loss_inputs()
    candidates = [lesson05.vae_loss_reference, *lesson05.VAE_LOSS_MISTAKES.values()]
    with torch.no_grad():
        outputs = [[f(*args) for args in inputs] for f in candidates]
    for i in range(len(candidates)):
        for j in range(i + 1, len(candidates)):
            assert any(a.shape != b.shape or not torch.allclose(a.double(), b.double(), rtol=1e-3, equal_nan=True)
                       for a, b in zip(outputs[i], outputs[j])), (i, j)


def test_loss_hint_and_solution(capsys):
    loss_ex.hint()
    loss_ex.solution()
    out = capsys.readouterr().out
    assert "reduction='none'" in out and "def vae_loss_reference" in out and ".mean()" in out


# --- The IWAE bound ---

def test_iwae_reference_passes(capsys):
    assert iwae_ex.check(metrics.iwae_from_log_weights)
    assert "correct" in capsys.readouterr().out


def test_iwae_stub_is_not_attempted():
    def iwae_bound(log_w):
        raise NotImplementedError

    assert iwae_ex.verdict(iwae_bound)[0] == "not attempted"
    assert iwae_ex.use(iwae_bound) is metrics.iwae_from_log_weights


def max_trick_by_hand(log_w):
    top = log_w.max(dim=0, keepdim=True).values
    return (top + torch.log(torch.exp(log_w - top).mean(dim=0, keepdim=True))).squeeze(0)


def with_log_mean_exp_of_float64(log_w):
    k = log_w.shape[0]
    return (torch.logsumexp(log_w.double(), dim=0) - math.log(k)).to(log_w.dtype)


def with_torch_special(log_w):
    return torch.special.logsumexp(log_w, 0) - torch.log(torch.tensor(float(log_w.shape[0]), dtype=log_w.dtype))


CORRECT = [(loss_ex, f) for f in (with_the_package, with_torch_distributions, with_logsigmoid, summed_then_divided,
                                  stable_by_hand)]
CORRECT += [(iwae_ex, f) for f in (max_trick_by_hand, with_log_mean_exp_of_float64, with_torch_special)]
KNOWN = [(loss_ex, wrong, m) for m, wrong in lesson05.VAE_LOSS_MISTAKES.items()]
KNOWN += [(iwae_ex, wrong, m) for m, wrong in lesson05.IWAE_MISTAKES.items()]


@pytest.mark.parametrize("ex,right", CORRECT, ids=lambda v: getattr(v, "__name__", ""))
def test_other_correct_forms_pass(ex, right):
    assert ex.verdict(right)[0] == "correct", ex.verdict(right)[1]


@pytest.mark.parametrize("ex,wrong,message", KNOWN, ids=lambda v: getattr(v, "__name__", ""))
def test_each_known_mistake_is_named(ex, wrong, message):
    status, said = ex.verdict(wrong)
    assert status == "incorrect" and said.endswith(message), said


def log_of_summed_weights_over_k(log_w):
    return torch.log(torch.exp(log_w).sum(dim=0) / log_w.shape[0])


def detached_max(log_w):
    top = log_w.max(dim=0).values
    return top.detach() + torch.logsumexp(log_w - top.detach(), dim=0) - math.log(log_w.shape[0]) + 0 * top


def exponentiates_in_place(log_w):
    w = log_w.exp_()
    return torch.log(w.mean(dim=0))


@pytest.mark.parametrize("wrong,phrase", [
    (log_of_summed_weights_over_k, "exponentiated the log-weights directly"),
    (lambda log_w: torch.logsumexp(log_w, dim=0), "forgot the −log k"),
    (lambda log_w: log_w.mean(dim=0), "That is the ELBO"),
    (lambda log_w: torch.logsumexp(log_w.detach(), dim=0) - math.log(len(log_w)), "has no gradient"),
    (lambda log_w: torch.logsumexp(log_w, dim=0).detach() - math.log(len(log_w)) + 0 * log_w.sum(0),
     "No gradient reaches `log_w`"),
    (exponentiates_in_place, "changed its input `log_w` in place"),
], ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "case"))
def test_iwae_other_wrong_answers_are_named(wrong, phrase):
    status, message = iwae_ex.verdict(wrong)
    assert status == "incorrect" and phrase in message, message


def test_iwae_detached_max_is_still_right():
    """Detaching the max is a common, correct optimisation: the gradient does not depend on it."""
    assert iwae_ex.verdict(detached_max)[0] == "correct", iwae_ex.verdict(detached_max)[1]


def test_iwae_realistic_input_is_where_the_naive_form_fails():
    (log_w,) = lesson05.iwae_inputs()[1]
    assert log_w.dtype == torch.float32 and log_w.max() < -80
    assert torch.isinf(lesson05._iwae_naive(log_w)).float().mean() > 0.5   # exp underflows to 0 for most images
    assert torch.isfinite(metrics.iwae_from_log_weights(log_w)).all()


def test_iwae_hint_and_solution(capsys):
    iwae_ex.hint()
    iwae_ex.solution()
    out = capsys.readouterr().out
    assert "logsumexp" in out and "def iwae_from_log_weights" in out
