"""Lessons 03 and 04's widgets: the drawing functions, their numbers and their range errors, without a browser."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import gradients, losses, widgets  # noqa: E402


def test_kl_numbers_are_the_two_penalties_and_their_sum():
    numbers = widgets.kl_numbers(1.0, 0.5)
    assert numbers["mean penalty"] == pytest.approx(0.5)
    assert numbers["variance penalty"] == pytest.approx(0.5 * (0.25 - 1 - torch.log(torch.tensor(0.25)).item()))
    expected = losses.gaussian_kl(torch.tensor([[1.0]], dtype=torch.float64),
                                  torch.log(torch.tensor([[0.25]], dtype=torch.float64))).item()
    assert numbers["KL"] == pytest.approx(expected)
    assert widgets.kl_numbers(0.0, 1.0)["KL"] == 0


def test_kl_plot_has_titled_labelled_axes_and_room_for_every_kl_on_the_sliders():
    fig, numbers = widgets.plot_kl(-1.5, 2.0)
    left, right = fig.axes[:2]
    assert left.get_xlabel() == "z" and left.get_ylabel() == "density" and left.get_title()
    assert right.get_ylabel() == "nats" and f"{numbers['KL']:.3f}" in right.get_title()
    plt.close(fig)
    corners = [widgets.kl_numbers(m, s)["KL"] for m in widgets.KL_MU_RANGE for s in widgets.KL_SIGMA_RANGE]
    assert max(corners) < widgets.KL_AXIS_TOP


@pytest.mark.parametrize("mu,sigma", [(0.0, 0.0), (0.0, -1.0), (5.0, 1.0), (float("nan"), 1.0)])
def test_kl_out_of_range_is_a_clear_error(mu, sigma):
    with pytest.raises(ValueError, match="the KL widget shows"):
        widgets.kl_numbers(mu, sigma)


def test_gradient_spread_is_seeded_and_centred_on_the_exact_gradient():
    spreads = widgets.gradient_spread(1.5, 0.5, 10, n_estimates=400)
    assert set(spreads) == {"reparameterization", "score function"}
    again = widgets.gradient_spread(1.5, 0.5, 10, n_estimates=400)
    exact = gradients.square_exact_gradient(1.5, 0.5)
    for name, estimates in spreads.items():
        assert estimates.shape == (400, 2) and torch.equal(estimates, again[name])
        standard_error = estimates.std(dim=0) / 20
        assert ((estimates.mean(dim=0) - exact).abs() < 4 * standard_error).all()
    assert (spreads["score function"].std(dim=0) > 2 * spreads["reparameterization"].std(dim=0)).all()


def test_gradient_plot_has_titled_labelled_axes():
    fig, spreads = widgets.plot_gradient_spread(-1.0, 1.2, n_samples=10, n_estimates=100)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 2 and all(ax.get_xlabel() for ax in titled)
    assert "10 samples each" in titled[1].get_title()
    plt.close(fig)


@pytest.mark.parametrize("args", [(3.0, 1.0, 1), (0.0, 0.1, 1), (0.0, 1.0, 0), (0.0, 1.0, 2.5)])
def test_gradient_widget_bad_values_are_clear_errors(args):
    with pytest.raises(ValueError):
        widgets.gradient_spread(*args)


def test_widget_builders_return_widgets():
    for make in (widgets.make_kl_widget, widgets.make_gradient_widget):
        widget = make()
        assert isinstance(widget, ipywidgets.Widget)
        widget.close()
    plt.close("all")
