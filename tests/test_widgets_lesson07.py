"""Lesson 07's collapse widget: numbers, drawing, range errors and the sliders' redraws, without a browser."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import linear_vae, widgets  # noqa: E402
from vaecourse.widgets import lesson07  # noqa: E402

SPECTRUM = torch.tensor([5.1, 3.7, 2.3, 1.7, 1.1, 0.9, 0.6, 0.5, 0.3, 0.2, 0.1, 0.05], dtype=torch.float64)


def test_numbers_follow_the_collapse_rule():
    numbers = widgets.collapse_numbers(SPECTRUM, sigma2=1.0, beta=2.0, latent_dim=4)
    assert numbers["threshold"] == 2.0 and numbers["above"] == 3 and numbers["active"] == 3
    kl = numbers["kl_per_latent"]
    assert kl.shape == (4,) and kl[3] == 0 and torch.allclose(kl[:3], 0.5 * torch.log(SPECTRUM[:3] / 2.0))
    assert numbers["kl"] == pytest.approx(float(kl.sum()))
    limited = widgets.collapse_numbers(SPECTRUM, sigma2=0.01, beta=1.0, latent_dim=4)
    assert limited["above"] == 12 and limited["active"] == 4          # only 4 latents to keep 12 directions
    assert widgets.collapse_numbers(SPECTRUM, 392.0, 1.0, 10)["active"] == 0   # mean-reduced MSE: all collapse


def test_plot_shows_threshold_count_and_kl_per_latent():
    fig = widgets.plot_collapse_spectrum(SPECTRUM, sigma2=0.5, beta=1.0, latent_dim=6)
    left, right = fig.axes[:2]
    assert left.get_yscale() == "log" and left.get_xlabel() and left.get_ylabel()
    assert "predicted active latents: 6 of 6" in left.get_title() and "7 eigenvalues above" in left.get_title()
    assert [line.get_ydata()[0] for line in left.get_lines()][0] == pytest.approx(0.5)  # the threshold line
    heights = [bar.get_height() for bar in right.patches]
    assert heights == pytest.approx(linear_vae.optimum(SPECTRUM, 0.5, 1.0, 6)["kl"].tolist())
    assert right.get_ylabel() == "KL (nats per image)" and "nats" in right.get_title() and fig._suptitle
    plt.close(fig)


@pytest.mark.parametrize("sigma2,beta", [(0.0, 1.0), (1e4, 1.0), (1.0, 0.01), (1.0, 100.0), (float("nan"), 1.0),
                                         (1.0, None)])
def test_out_of_range_values_are_clear_errors(sigma2, beta):
    with pytest.raises(ValueError, match="the collapse widget shows"):
        widgets.plot_collapse_spectrum(SPECTRUM, sigma2, beta)
    assert not plt.get_fignums()


def test_a_failed_drawing_closes_its_figure(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("deliberate")

    plt.close("all")
    monkeypatch.setattr(plt.Axes, "bar", broken)
    with pytest.raises(RuntimeError, match="deliberate"):
        widgets.plot_collapse_spectrum(SPECTRUM, 1.0, 1.0, latent_dim=4)
    assert not plt.get_fignums()


def test_sliders_redraw_with_their_values(monkeypatch):
    drawn = []

    def record(eigenvalues, sigma2, beta, latent_dim):
        drawn.append((round(sigma2, 6), round(beta, 6), latent_dim))
        return plt.figure()

    monkeypatch.setattr(lesson07, "plot_collapse_spectrum", record)
    widget = widgets.make_collapse_widget(SPECTRUM, latent_dim=5)
    sigma2_slider, beta_slider = widget.children[0].children
    assert isinstance(sigma2_slider, ipywidgets.FloatLogSlider) and sigma2_slider.description == "σ²"
    assert sigma2_slider.base ** sigma2_slider.max >= 392 and sigma2_slider.base ** sigma2_slider.min <= 0.01
    sigma2_slider.value = 10.0
    beta_slider.value = 2.0
    assert drawn[0] == (1.0, 1.0, 5) and drawn[-2:] == [(10.0, 1.0, 5), (10.0, 2.0, 5)]
    widget.close()
    plt.close("all")


def test_widget_rejects_a_bad_start():
    with pytest.raises(ValueError, match="the collapse widget shows"):
        widgets.make_collapse_widget(SPECTRUM, sigma2=-1.0)
