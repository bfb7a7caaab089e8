"""The widgets' shared core (issue 13): a NaN or rejected control value is one line in place of the figure,
never a traceback, and a drawing that fails leaves no figure open."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import models, widgets  # noqa: E402
from vaecourse.widgets import core  # noqa: E402


@pytest.fixture(autouse=True)
def no_figures_before_or_after():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a figure was left open"


def last_line(capsys) -> str:
    """The last line printed (outside a kernel, clear_output writes terminal codes before it)."""
    return capsys.readouterr().out.strip().splitlines()[-1].split("\r")[-1]


def test_a_nan_slider_value_is_rejected_with_a_message(capsys):
    drawn = []
    slider = ipywidgets.FloatSlider(value=0.5, min=-3, max=3, description="μ of q")

    def draw(mu):
        drawn.append(mu)
        return plt.figure()

    core.live_figure(draw, {"mu": slider})
    slider.value = float("nan")            # a slider set from code accepts NaN (it clamps only numbers)
    assert drawn == [0.5]                  # the drawing never sees NaN
    assert last_line(capsys) == "⚠ μ of q is NaN, not a number: set it to a value on the slider."


def test_a_value_the_drawing_rejects_is_one_line_and_closes_its_figure(capsys):
    slider = ipywidgets.FloatSlider(value=1.0, min=-3, max=3)

    def draw(mu):
        fig = plt.figure()
        if mu < 0:
            raise core.ControlValueError(f"μ must be ≥ 0; got {mu}")
        if mu > 2:
            raise ValueError("a bug, not a rejected value")
        return fig

    core.live_figure(draw, {"mu": slider})
    slider.value = -1.0
    assert last_line(capsys) == "⚠ μ must be ≥ 0; got -1.0"
    with pytest.raises(ValueError, match="a bug"):   # a bug keeps its traceback (the browser test sees it)
        slider.value = 2.5


def test_other_errors_still_raise_but_close_their_figures():
    @core.closes_figures_on_error
    def broken():
        plt.figure()
        raise KeyError("a bug")

    keep = plt.figure()
    with pytest.raises(KeyError):
        broken()
    assert plt.get_fignums() == [keep.number]
    plt.close(keep)


@pytest.mark.parametrize("make", [
    lambda: widgets.make_kl_widget(),
    lambda: widgets.make_gradient_widget(),
    lambda: widgets.make_latent_explorer_widget(models.MLPVAE(hidden=8, latent_dim=2)),
])
def test_every_lesson_slider_rejects_nan(make, capsys):
    widget = make()
    slider = widget.children[0].children[0]
    slider.value = float("nan")
    assert "is NaN, not a number" in capsys.readouterr().out
    plt.close("all")


def test_plot_tradeoff_checks_its_results_and_leaves_no_figure_open():
    torch.manual_seed(0)
    vaes = {beta: models.MLPVAE(hidden=8, latent_dim=3).eval() for beta in (1.0, 4.0)}
    results = {1.0: {"recon": 90.0, "kl": 20.0}}
    with pytest.raises(ValueError, match="missing for β = 4"):
        widgets.plot_tradeoff(4.0, vaes, results, torch.rand(5, 784))
    with pytest.raises(ValueError, match="not in the sweep"):
        widgets.plot_tradeoff(float("nan"), vaes, results, torch.rand(5, 784))
