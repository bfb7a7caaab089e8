"""Lesson 02's ELBO-gap widget: the drawing function, its numbers and its slider ranges, without a browser."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import toy, widgets  # noqa: E402


@pytest.fixture
def model():
    return toy.make_toy_model(latent_dim=1, data_dim=2, noise_std=1.0, seed=0)


@pytest.fixture
def x():
    return torch.tensor([1.5, -0.8], dtype=torch.float64)


def test_plot_returns_figure_and_the_three_numbers(model, x):
    fig, numbers = widgets.plot_elbo_gap(model, x, 0.0, 1.0)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    assert set(numbers) == {"log p(x)", "ELBO", "KL gap"}
    assert abs(numbers["log p(x)"] - (numbers["ELBO"] + numbers["KL gap"])) < 1e-10
    assert numbers["KL gap"] > 1  # the prior is far from this x's posterior
    assert all(ax.get_title() for ax in fig.axes) and fig.axes[0].get_xlabel() == "z"
    plt.close(fig)


def test_gap_closes_at_the_posterior(model, x):
    posterior = model.posterior(x)
    numbers = widgets.elbo_gap_numbers(model, x, posterior.mean.item(), posterior.cov.sqrt().item())
    assert abs(numbers["KL gap"]) < 1e-12 and abs(numbers["ELBO"] - numbers["log p(x)"]) < 1e-12


def test_slider_ranges_contain_prior_and_posterior(model, x):
    (low, high), (std_low, std_high) = widgets.elbo_slider_ranges(model, x)
    posterior = model.posterior(x)
    assert low < min(0.0, posterior.mean.item()) - 2 and high > max(0.0, posterior.mean.item()) + 2
    assert 0 < std_low < posterior.cov.sqrt().item() < 1.0 < std_high


def test_widget_has_two_sliders_and_redraws_when_they_move(model, x, monkeypatch):
    calls = []
    original = widgets.plot_elbo_gap
    monkeypatch.setattr(widgets.lesson02, "plot_elbo_gap", lambda *a: calls.append(a[2:]) or original(*a))
    monkeypatch.setattr(widgets.core, "display", lambda fig: None)
    box = widgets.make_elbo_gap_widget(model, x)
    mean, std = box.children[0].children
    assert (mean.value, std.value) == (0.0, 1.0) and mean.min < 0 < mean.max
    mean.value = 1.5
    std.value = 0.5
    assert calls[0] == (0.0, 1.0) and calls[-1] == (1.5, 0.5)


@pytest.mark.parametrize("mean,std,phrase", [(0.0, 0.0, "standard deviation > 0"), (0.0, -1.0, "> 0"),
                                             (float("nan"), 1.0, "finite mean")])
def test_bad_values_raise_clear_errors(model, x, mean, std, phrase):
    with pytest.raises(ValueError, match=phrase):
        widgets.plot_elbo_gap(model, x, mean, std)


def test_only_a_1d_latent_can_be_drawn():
    model = toy.make_toy_model(latent_dim=2, data_dim=3)
    with pytest.raises(ValueError, match="1-D latent"):
        widgets.elbo_gap_numbers(model, torch.zeros(3), 0.0, 1.0)
