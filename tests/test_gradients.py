"""Lesson 04's gradient estimators (vaecourse.gradients): unbiased, with the variances derived in the lesson."""

import math

import pytest
import torch

from vaecourse import gradients

ESTIMATORS = [gradients.reparameterization_gradients, gradients.score_function_gradients]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mu,sigma", [(1.5, 0.5), (0.0, 1.0), (-1.0, 1.7)])
def test_unbiased_for_the_square(estimator, mu, sigma):
    per_sample = estimator(gradients.square, mu, sigma, 100_000, torch.Generator().manual_seed(0))
    assert per_sample.shape == (100_000, 2) and per_sample.dtype == torch.float64
    mean, standard_error = gradients.mean_and_standard_error(per_sample)
    assert ((mean - gradients.square_exact_gradient(mu, sigma)).abs() < 4 * standard_error).all()


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda f: f.__name__)
def test_unbiased_for_another_objective(estimator):
    """f(z) = sin z: E[sin z] = sin μ e^{−σ²/2}, so ∇ = (cos μ, −σ sin μ) e^{−σ²/2}."""
    mu, sigma = 0.7, 0.9
    exact = torch.tensor([math.cos(mu), -sigma * math.sin(mu)], dtype=torch.float64) * math.exp(-sigma**2 / 2)
    mean, standard_error = gradients.mean_and_standard_error(
        estimator(torch.sin, mu, sigma, 100_000, torch.Generator().manual_seed(1)))
    assert ((mean - exact).abs() < 4 * standard_error).all()


def test_per_sample_values_follow_the_formulas():
    mu, sigma, n = 1.2, 0.7, 50
    generator = torch.Generator().manual_seed(3)
    eps = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    z = mu + sigma * eps
    pathwise = gradients.reparameterization_gradients(gradients.square, mu, sigma, n, generator)
    assert torch.allclose(pathwise, torch.stack([2 * z, 2 * z * eps], dim=1))
    score = gradients.score_function_gradients(gradients.square, mu, sigma, n, torch.Generator().manual_seed(3))
    expected = z[:, None] ** 2 * torch.stack([(z - mu) / sigma**2, ((z - mu) ** 2 - sigma**2) / sigma**3], dim=1)
    assert torch.allclose(score, expected)


@pytest.mark.parametrize("mu,sigma", [(1.5, 0.5), (0.0, 1.0)])
def test_exact_variances_match_measurement(mu, sigma):
    generator = torch.Generator().manual_seed(2)
    for estimator, exact in ((gradients.reparameterization_gradients, gradients.square_reparameterization_variance),
                             (gradients.score_function_gradients, gradients.square_score_function_variance)):
        measured = estimator(gradients.square, mu, sigma, 400_000, generator).var(dim=0)
        assert torch.allclose(measured, exact(mu, sigma), rtol=0.1), estimator.__name__


def test_score_function_has_larger_variance_in_the_lesson_setting():
    ratio = gradients.square_score_function_variance(1.5, 0.5) / gradients.square_reparameterization_variance(1.5, 0.5)
    assert (ratio > 10).all()


def test_variance_by_sample_size_falls_as_one_over_n():
    sizes = [1, 10, 100]
    variances = gradients.variance_by_sample_size(gradients.reparameterization_gradients, gradients.square, 1.0, 1.0,
                                                  sizes, 2000, torch.Generator().manual_seed(4))
    assert variances.shape == (3, 2)
    exact = gradients.square_reparameterization_variance(1.0, 1.0)
    for i, n in enumerate(sizes):
        assert torch.allclose(variances[i], exact / n, rtol=0.15)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="sigma > 0"):
        gradients.reparameterization_gradients(gradients.square, 0.0, -1.0, 10)
    with pytest.raises(ValueError, match="n_samples"):
        gradients.score_function_gradients(gradients.square, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="repeats"):
        gradients.variance_by_sample_size(gradients.reparameterization_gradients, gradients.square, 0.0, 1.0, [1], 1)
    with pytest.raises(ValueError, match="at least 2"):
        gradients.mean_and_standard_error(torch.zeros(1, 2))
