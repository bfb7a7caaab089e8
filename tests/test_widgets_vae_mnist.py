"""Lesson 05's latent explorer, β trade-off explorer and latent manifold grid, without a browser."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import models, plots, widgets  # noqa: E402


@pytest.fixture
def vae2():
    torch.manual_seed(0)
    return models.MLPVAE(hidden=16, latent_dim=2).eval()


class CodeAsImage(torch.nn.Module):
    """A stand-in decoder whose 'image' shows the code: pixel logits are z₁ in the first half, z₂ in the second."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return torch.cat([z[:, :1].expand(-1, 392), z[:, 1:2].expand(-1, 392)], dim=1)


def test_latent_values_fill_the_code_and_are_checked():
    z = widgets.check_latent_values([0.5, -1.0], latent_dim=4, limit=3.0)
    assert z.tolist() == [[0.5, -1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match=r"must lie in \[−3, 3\]"):
        widgets.check_latent_values([0.0, 3.5], latent_dim=2, limit=3.0)
    with pytest.raises(ValueError, match="between 1 and 2 latent values"):
        widgets.check_latent_values([0.0, 0.0, 0.0], latent_dim=2, limit=3.0)
    with pytest.raises(ValueError, match="must lie in"):
        widgets.check_latent_values([float("nan")], latent_dim=2, limit=3.0)


def test_latent_explorer_draws_the_decoded_code_and_marks_it_on_the_map(vae2):
    codes, labels = torch.randn(50, 2), torch.arange(50) % 10
    fig = widgets.plot_latent_explorer(CodeAsImage(), [1.0, -2.0], codes, labels)
    left, right = fig.axes[:2]
    image = right.images[0].get_array()
    assert image.shape == (28, 28)
    assert image[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item())
    assert image[-1, -1] == pytest.approx(torch.sigmoid(torch.tensor(-2.0)).item())
    marker = left.lines[-1].get_xydata()[0]
    assert marker.tolist() == [1.0, -2.0] and left.get_xlabel().startswith("$z_1$") and left.get_title()
    assert left.lines[-1].get_clip_on() is False and left.get_xlim()[1] > 3.0   # the cross is never cut at z = ±3
    outside = int((codes.abs() > left.get_xlim()[1]).any(dim=1).sum())
    assert (f"{outside} of 50 codes lie outside" in left.get_xlabel()) == (outside > 0)
    plt.close(fig)
    fig = widgets.plot_latent_explorer(vae2, [0.3])  # no map: the image only
    assert len(fig.axes) == 1 and "z = (+0.30, 0, …)" in fig.axes[0].get_title()
    plt.close(fig)


def test_latent_explorer_widget_has_one_slider_per_latent(vae2):
    widget = widgets.make_latent_explorer_widget(vae2, torch.randn(20, 2), torch.arange(20) % 10)
    sliders = widget.children[0].children
    assert isinstance(widget, ipywidgets.VBox) and len(sliders) == 2
    assert all(s.min == -3.0 and s.max == 3.0 for s in sliders)
    big = models.MLPVAE(hidden=8, latent_dim=20)
    assert len(widgets.make_latent_explorer_widget(big).children[0].children) == 4
    with pytest.raises(ValueError, match="n_sliders"):
        widgets.make_latent_explorer_widget(vae2, n_sliders=3)
    plt.close("all")


def test_tradeoff_plot_marks_the_chosen_beta():
    torch.manual_seed(0)
    vaes = {beta: models.MLPVAE(hidden=8, latent_dim=3).eval() for beta in (0.5, 1.0, 4.0)}
    results = {0.5: {"recon": 80.0, "kl": 30.0}, 1.0: {"recon": 90.0, "kl": 20.0}, 4.0: {"recon": 120.0, "kl": 8.0}}
    x = torch.rand(5, 784)
    fig = widgets.plot_tradeoff(4.0, vaes, results, x)
    rate_distortion = fig.axes[0]
    assert rate_distortion.lines[-1].get_xydata().tolist() == [[8.0, 120.0]]
    assert "rate" in rate_distortion.get_xlabel() and "distortion" in rate_distortion.get_ylabel()
    assert "β = 4" in fig._suptitle.get_text() and "ELBO -128.0" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="choose one of 0.5, 1, 4"):
        widgets.plot_tradeoff(2.0, vaes, results, x)
    widget = widgets.make_tradeoff_widget(vaes, results, x)
    assert widget.children[0].value == 1.0 and len(widget.children[0].options) == 3
    plt.close("all")


def test_latent_grid_runs_over_evenly_spaced_codes_in_reading_order():
    grid = plots.latent_grid(CodeAsImage(), n=5, limit=2.0)
    assert grid.shape == (25, 784)
    z1, z2 = torch.logit(grid[:, 0]), torch.logit(grid[:, -1])
    top_left, bottom_right = 0, 24
    assert z1[top_left] == pytest.approx(-2.0, abs=1e-4) and z2[top_left] == pytest.approx(2.0, abs=1e-4)
    assert z1[bottom_right] == pytest.approx(2.0, abs=1e-4) and z2[bottom_right] == pytest.approx(-2.0, abs=1e-4)
    assert z1[2] == pytest.approx(0.0, abs=1e-5) and z1[1] == pytest.approx(-1.0, abs=1e-4)
    with pytest.raises(ValueError, match="2-D latent"):
        plots.latent_grid(models.MLPVAE(hidden=8, latent_dim=3))
    with pytest.raises(ValueError, match="n ≥ 2"):
        plots.latent_grid(CodeAsImage(), n=1)


def test_manifold_is_drawn_in_z_coordinates_beside_the_codes():
    ax = plots.show_latent_manifold(CodeAsImage(), n=5, limit=2.0)
    edge = plots.latent_extent(5, 2.0)
    assert edge == pytest.approx(2.5)                                  # cell centres at ±2, edges half a cell out
    assert ax.get_xlim() == pytest.approx((-edge, edge)) and ax.images[-1].get_extent() == pytest.approx(
        [-edge, edge, -edge, edge])
    assert ax.get_title() and ax.get_xlabel() == "$z_1$"
    codes = torch.tensor([[0.0, 0.0], [2.6, 0.0], [0.0, -3.0], [2.4, 2.4]])
    assert plots.codes_outside(codes, edge) == 2
    plt.close("all")
