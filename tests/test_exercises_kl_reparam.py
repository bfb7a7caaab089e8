"""Lessons 03 and 04's exercises: the batched KL and the reparameterized sampler. The reference passes, other
correct answers pass, every known mistake is rejected with the message naming it, and a stub is "not attempted"."""

import math

import numpy as np
import pytest
import torch

from vaecourse import exercises, losses, models

kl_ex = exercises.batched_kl
sampler_ex = exercises.reparameterized_sampler


# --- Lesson 03: batched KL ---

def test_kl_reference_passes(capsys):
    assert kl_ex.check(losses.gaussian_kl)
    assert "correct" in capsys.readouterr().out


def test_kl_stub_is_not_attempted(capsys):
    def batched_kl(mu, logvar):
        # YOUR CODE HERE
        raise NotImplementedError

    assert not kl_ex.check(batched_kl)
    assert "not attempted yet" in capsys.readouterr().out
    assert kl_ex.use(batched_kl) is losses.gaussian_kl


def torch_distributions_kl(mu, logvar):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(dim=1)


def via_sigma(mu, logvar):
    sigma = torch.sqrt(torch.exp(logvar))
    return -0.5 * torch.sum(1 + torch.log(sigma**2) - mu**2 - sigma**2, dim=-1)


def per_latent_loop(mu, logvar):
    total = torch.zeros(mu.shape[0], dtype=mu.dtype)
    for j in range(mu.shape[1]):
        total = total + 0.5 * (mu[:, j] ** 2 + torch.exp(logvar[:, j]) - 1 - logvar[:, j])
    return total


def log_of_exp(mu, logvar):
    variance = torch.exp(logvar)
    return 0.5 * (mu.pow(2) + variance - 1 - torch.log(variance)).sum(dim=1)


@pytest.mark.parametrize("right", [torch_distributions_kl, via_sigma, per_latent_loop, log_of_exp],
                         ids=lambda f: f.__name__)
def test_kl_other_correct_answers_pass(right):
    assert kl_ex.verdict(right)[0] == "correct", kl_ex.verdict(right)[1]


def log_det_form(mu, logvar):
    """The multivariate textbook form ½(tr Σ + μᵀμ − k − log det Σ), with det Σ as a product: it over- or
    underflows in float32 once Σ logvar passes about ±88."""
    covariance_det = torch.prod(torch.exp(logvar), dim=-1)
    return 0.5 * ((logvar.exp() + mu**2).sum(-1) - mu.shape[-1] - torch.log(covariance_det))


def detached_logvar_inside_log(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar.detach()).sum(-1)


def mu_through_data(mu, logvar):
    return 0.5 * (mu.data**2 + logvar.exp() - 1 - logvar).sum(-1)


def centres_mu_in_place(mu, logvar):
    mu.mul_(1.0).pow_(2)
    return 0.5 * (mu + logvar.exp() - 1 - logvar).sum(-1)


def kl_with_a_seed(mu, logvar):
    torch.manual_seed(0)
    return losses.gaussian_kl(mu, logvar)


@pytest.mark.parametrize("wrong,phrase", [
    (exercises.lesson03._kl_no_half, "forgot the ½"),
    (exercises.lesson03._kl_negated, "Sign error: your KL is the negative"),
    (exercises.lesson03._kl_plus_log_variance, "Sign error on the log σ² term"),
    (exercises.lesson03._kl_plus_one, "Sign error on the constant"),
    (exercises.lesson03._kl_minus_mu_squared, "Sign error on μ²"),
    (exercises.lesson03._kl_std_for_variance, "used σ where σ² belongs"),
    (exercises.lesson03._kl_log_std_for_log_variance, "log σ = 0.5·logvar where log σ² belongs"),
    (exercises.lesson03._kl_exp_logvar_as_std, "mixed up exp(logvar) and exp(0.5·logvar)"),
    (exercises.lesson03._kl_exp_logvar_as_std_log_kept, "mixed up exp(logvar) and exp(0.5·logvar)"),
    (exercises.lesson03._kl_mean_over_latents, "averaged over the latent dimensions"),
    (exercises.lesson03._kl_not_reduced, "one value per latent"),
    (exercises.lesson03._kl_batch_reduced, "reduced over the batch too"),
    (lambda mu, logvar: losses.gaussian_kl(mu, logvar).sum(), "reduced over the batch too"),
    (exercises.lesson03._kl_summed_over_batch, "instead of the latents"),
    (exercises.lesson03._kl_no_minus_one, "left out the −1"),
    (exercises.lesson03._kl_reversed, "reverse KL"),
    (lambda mu, logvar: 0.5 * (mu**2 / logvar.exp() + 1 / logvar.exp() + logvar - 1).sum(-1), "reverse KL"),
    (log_det_form, "numerically fragile"),
    (lambda mu, logvar: 0.5 * (mu**2 + torch.exp(logvar) - 1 - torch.log(logvar)).sum(-1), "NaN"),
    (detached_logvar_inside_log, "gradient with respect to `logvar` is wrong"),
    (mu_through_data, "No gradient reaches `mu`"),
    (centres_mu_in_place, "changed its input `mu` in place"),
    (kl_with_a_seed, "re-seeds PyTorch's global random generator"),
], ids=lambda v: getattr(v, "__name__", "case"))
def test_kl_each_known_mistake_is_named(wrong, phrase):
    status, message = kl_ex.verdict(wrong)
    assert status == "incorrect" and phrase in message, message


def test_kl_mistakes_are_far_apart_on_the_lesson_batch():
    """Each mistake differs from the reference and from every other mistake, so its message is never ambiguous."""
    mu, logvar = exercises.lesson03.kl_inputs()[0]
    outputs = [losses.gaussian_kl(mu, logvar)] + [m(mu, logvar) for m in exercises.lesson03.KL_MISTAKES.values()]
    for i in range(len(outputs)):
        for j in range(i + 1, len(outputs)):
            assert (outputs[i] - outputs[j]).abs().max() > 0.1, (i, j)


def test_kl_crashes_numpy_and_other_errors_get_clear_messages():
    def only_1d(mu, logvar):
        return 0.5 * (torch.dot(mu, mu) + logvar.exp().sum() - len(mu) - logvar.sum())

    assert "raised RuntimeError" in kl_ex.verdict(only_1d)[1] and "(128, 20)" in kl_ex.verdict(only_1d)[1]

    def through_numpy(mu, logvar):
        mu, logvar = mu.detach().numpy(), logvar.detach().numpy()
        return torch.from_numpy(0.5 * (mu**2 + np.exp(logvar) - 1 - logvar).sum(axis=1))

    assert "has no gradient" in kl_ex.verdict(through_numpy)[1]
    assert "torch.Tensor" in kl_ex.verdict(lambda mu, logvar: [1.0])[1]
    assert "values differ" in kl_ex.verdict(lambda mu, logvar: mu.sum(dim=-1))[1]


def test_kl_hint_and_solution(capsys):
    kl_ex.hint()
    kl_ex.solution()
    out = capsys.readouterr().out
    assert "sum(dim=-1)" in out and "def gaussian_kl" in out


# --- Lesson 04: reparameterized sampler ---

def test_sampler_reference_passes(capsys):
    assert sampler_ex.check(models.reparameterize)
    assert "correct" in capsys.readouterr().out


def test_sampler_stub_is_not_attempted(capsys):
    def reparameterize(mu, logvar):
        # YOUR CODE HERE
        raise NotImplementedError

    assert not sampler_ex.check(reparameterize)
    assert "not attempted yet" in capsys.readouterr().out
    assert sampler_ex.use(reparameterize) is models.reparameterize


CORRECT_SAMPLERS = {
    "randn": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape),
    "randn_like": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn_like(logvar),
    "normal with size": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.normal(0.0, 1.0, size=mu.shape),
    "normal of tensors": lambda mu, logvar: mu + torch.exp(logvar / 2) * torch.normal(torch.zeros_like(mu),
                                                                                         torch.ones_like(mu)),
    "rsample": lambda mu, logvar: torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample(),
    "sqrt of variance": lambda mu, logvar: mu + torch.sqrt(logvar.exp()) * torch.randn_like(mu),
    "own generator, made once": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(
        mu.shape, generator=GENERATOR_MADE_ONCE),
    "numpy noise": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.from_numpy(
        np.random.standard_normal(tuple(mu.shape))).float(),
    "box-muller": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.sqrt(
        -2 * torch.log(1 - torch.rand_like(mu))) * torch.cos(2 * math.pi * torch.rand_like(mu)),
}
GENERATOR_MADE_ONCE = torch.Generator().manual_seed(12345)


@pytest.mark.parametrize("name", CORRECT_SAMPLERS)
def test_sampler_any_correct_source_of_noise_passes(name):
    status, message = sampler_ex.verdict(CORRECT_SAMPLERS[name])
    assert status == "correct", message


def std(logvar):
    return torch.exp(0.5 * logvar)


def with_a_seed_inside(mu, logvar):
    torch.manual_seed(0)
    return mu + std(logvar) * torch.randn_like(mu)


def numpy_seeded_inside(mu, logvar):
    np.random.seed(1)
    return mu + std(logvar) * torch.from_numpy(np.random.standard_normal(tuple(mu.shape))).float()


def antithetic_pairs(mu, logvar):
    half = torch.randn((mu.shape[0] + 1) // 2, mu.shape[1])
    return mu + std(logvar) * torch.cat([half, -half])[: mu.shape[0]]


def adds_noise_in_place(mu, logvar):
    return mu.add_(std(logvar) * torch.randn_like(mu))


@pytest.mark.parametrize("wrong,phrase", [
    (lambda mu, logvar: mu + logvar * torch.randn_like(mu), "used logvar itself as σ"),
    (lambda mu, logvar: mu + logvar.exp() * torch.randn_like(mu), "used exp(logvar) as σ"),
    (lambda mu, logvar: torch.distributions.Normal(mu, logvar.exp()).rsample(), "used exp(logvar) as σ"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(mu.shape[1]), "once for the whole batch"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(1, mu.shape[1]), "once for the whole batch"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(1), "once for the whole batch"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(mu.shape[0], 1), "Every latent of a row uses the same ε"),
    (lambda mu, logvar: (mu + std(logvar) * torch.randn_like(mu)).detach(), "does not require grad"),
    (lambda mu, logvar: torch.distributions.Normal(mu, std(logvar)).sample(), "does not require grad"),
    (lambda mu, logvar: torch.normal(mu, std(logvar)), "No gradient reaches mu"),
    (lambda mu, logvar: mu + std(logvar.detach()) * torch.randn_like(mu), "No gradient reaches logvar"),
    (lambda mu, logvar: mu + std(logvar) * torch.rand_like(mu), "uniform"),
    (lambda mu, logvar: std(logvar) * torch.randn_like(mu), "forget to add mu"),
    (lambda mu, logvar: mu + torch.sqrt(logvar) * torch.randn_like(mu), "NaN"),
    (lambda mu, logvar: (mu + std(logvar) * torch.randn_like(mu)).mean(dim=0), "shape"),
    (lambda mu, logvar: (mu + std(logvar) * torch.randn_like(mu))[:, 0], "shape"),
    (lambda mu, logvar: mu @ logvar, "raised RuntimeError"),
    (lambda mu, logvar: mu + 0 * logvar, "no noise was added"),
    (lambda mu, logvar: mu.clone(), "no noise was added"),
    (lambda mu, logvar: mu + std(logvar) * (2 * torch.rand_like(mu) - 1) * math.sqrt(3), "is uniform"),
    (lambda mu, logvar: mu + std(logvar) * (2 * torch.randint(0, 2, mu.shape).float() - 1), "two values"),
    (lambda mu, logvar: mu + std(logvar) * torch.distributions.Laplace(0.0, 0.5**0.5).sample(mu.shape),
     "is not Gaussian"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3)),
     "same z on every call"),
    (numpy_seeded_inside, "same z on every call"),
    (with_a_seed_inside, "re-seeds PyTorch's global random generator"),
    (adds_noise_in_place, "changed its input `mu` in place"),
    (lambda mu, logvar: mu + std(logvar.data) * torch.randn_like(mu), "No gradient reaches logvar"),
    (antithetic_pairs, "repeat within the batch"),
    (lambda mu, logvar: mu + std(logvar) * torch.randn(mu.shape, dtype=torch.float64), "torch.float64 but mu"),
], ids=lambda v: v if isinstance(v, str) else "case")
def test_sampler_each_known_mistake_is_named(wrong, phrase):
    status, message = sampler_ex.verdict(wrong)
    assert status == "incorrect" and phrase in message, message


def test_sampler_detached_inside_no_grad_is_named():
    def under_no_grad(mu, logvar):
        with torch.no_grad():
            return mu + std(logvar) * torch.randn_like(mu)

    assert "does not require grad" in sampler_ex.verdict(under_no_grad)[1]


def test_sampler_check_leaves_inputs_and_global_state_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(99)
    expected_next = torch.randn(3)
    torch.manual_seed(99)
    sampler_ex.verdict(models.reparameterize)
    assert torch.equal(torch.randn(3), expected_next), "the checker must not consume the learner's random stream"
    assert torch.get_num_threads() == threads


def test_sampler_hint_and_solution(capsys):
    sampler_ex.hint()
    sampler_ex.solution()
    out = capsys.readouterr().out
    assert "randn_like" in out and "def reparameterize" in out
