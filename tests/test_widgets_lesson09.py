"""Lesson 09's widget (traversals, the KL's three parts, MIG against reconstruction), without a browser."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import dsprites, models, tc, widgets  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    nets, results = {}, {}
    for i, key in enumerate([("β-VAE", 4.0, 0), ("β-VAE", 4.0, 1), ("β-TCVAE", 6.0, 0)]):
        nets[key] = models.ConvVAE(32).eval()
        terms = tc.KLTerms(kl=3.0 + i, mutual_info=1.0 + i, total_correlation=0.5, dimension_wise_kl=1.5)
        results[key] = {"kl_terms": terms, "kl_per_latent": [0.3 * (i + 1)] * 10, "active": [True] * 10,
                        "mig": 0.1 * (i + 1), "recon": 30.0 + i}
    return nets, results, dsprites.sample(1, resolution=32).images


def test_the_figure_shows_traversals_the_three_terms_and_every_model(trained):
    nets, results, sprite = trained
    fig = widgets.show_tc_model("β-TCVAE", 6.0, 0, nets, results, sprite, limit=2.0)
    traversals, bars, scatter = fig.axes
    assert "±2" in traversals.get_title() and len(traversals.get_yticklabels()) == 10
    assert [p.get_height() for p in bars.patches] == pytest.approx([3.0, 0.5, 1.5])
    assert [t.get_text() for t in bars.get_xticklabels()] == ["index-code MI", "total correlation",
                                                             "dimension-wise KL"]
    points = [tuple(c.get_offsets()[0]) for c in scatter.collections]
    assert (32.0, pytest.approx(0.3)) in [(x, pytest.approx(y)) for x, y in points]
    assert "β-TCVAE, β = 6, seed 0" in fig._suptitle.get_text() and "MIG 0.30" in fig._suptitle.get_text()
    assert scatter.get_xlabel() and scatter.get_ylabel() == "MIG" and bars.get_title()
    plt.close(fig)


def test_a_model_that_was_not_trained_and_a_range_out_of_bounds_are_named(trained):
    nets, results, sprite = trained
    before = plt.get_fignums()
    with pytest.raises(widgets.core.ControlValueError, match="no β-TCVAE with β = 4.0 and seed 0; the models are"):
        widgets.show_tc_model("β-TCVAE", 4.0, 0, nets, results, sprite)
    with pytest.raises(widgets.core.ControlValueError, match="traversal range must be between"):
        widgets.show_tc_model("β-VAE", 4.0, 1, nets, results, sprite, limit=9.0)
    assert plt.get_fignums() == before


def test_the_widget_offers_every_kind_beta_and_seed(trained):
    nets, results, sprite = trained
    box = widgets.make_tc_widget(nets, results, sprite)
    controls = box.children[0].children
    assert set(controls[0].options) == {"β-VAE", "β-TCVAE"} and [v for _, v in controls[1].options] == [4.0, 6.0]
    assert list(controls[2].options) == [0, 1] and isinstance(box.children[1], ipywidgets.Output)
    with pytest.raises(ValueError, match="traversal range"):
        widgets.make_tc_widget(nets, results, sprite, limit=0.1)
