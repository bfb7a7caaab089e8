"""Lesson 10's widgets without a browser: the anomaly threshold (rates, ROC point, slider range per score)
and the conditional VAE's digit picker and style slider."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import classifier, models, widgets  # noqa: E402


@pytest.fixture
def scores():
    normal = torch.arange(10.0)                       # 0 .. 9
    return {"−ELBO (bits)": {"normal": normal, "noisy": normal + 5.0, "blank": torch.tensor([-3.0, -2.0])},
            "corrected": {"normal": -normal, "noisy": 100.0 - normal, "blank": torch.tensor([50.0, 60.0])}}


def test_threshold_gives_the_rates_and_marks_them_on_the_roc_curve(scores):
    fig = widgets.plot_anomaly_threshold("−ELBO (bits)", "noisy", 8.0, scores)
    left, right = fig.axes
    # normal scores 0..9: 8 and 9 are flagged (20%); noisy 5..14: 8..14 are flagged (70%)
    assert "70.0% caught" in fig._suptitle.get_text() and "20.0% of normal digits flagged" in fig._suptitle.get_text()
    assert right.lines[-1].get_xydata().tolist() == [[0.2, 0.7]]
    assert left.lines[0].get_xdata()[0] == 8.0 and "threshold 8" in left.get_legend().get_texts()[-1].get_text()
    assert "AUROC 0.875" in right.get_title() and right.get_xlabel().startswith("false positive rate")
    assert left.get_xlabel() == "−ELBO (bits)" and left.get_title()
    plt.close(fig)
    fig = widgets.plot_anomaly_threshold("−ELBO (bits)", "blank", -10.0, scores)  # below everything: all flagged
    assert "100.0% caught" in fig._suptitle.get_text() and "100.0% of normal" in fig._suptitle.get_text()
    plt.close(fig)


@pytest.mark.parametrize("args, words", [
    (("nope", "noisy", 1.0), "score 'nope' is not one of"),
    (("corrected", "sprites", 1.0), "anomaly set 'sprites' is not one of noisy, blank"),
    (("corrected", "noisy", float("nan")), "finite number"),
    (("corrected", "normal", 1.0), "anomaly set 'normal'"),
])
def test_bad_choices_raise_clear_errors_before_drawing(scores, args, words):
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=words):
        widgets.plot_anomaly_threshold(*args, scores)
    assert plt.get_fignums() == figures


def test_anomaly_widget_redraws_and_moves_the_slider_to_the_chosen_score(scores, monkeypatch):
    calls = []
    original = widgets.plot_anomaly_threshold
    monkeypatch.setattr(widgets.lesson10, "plot_anomaly_threshold", lambda *a: calls.append(a[:3]) or original(*a))
    monkeypatch.setattr(widgets.core, "display", lambda fig: None)
    box = widgets.make_anomaly_widget(scores)
    score, chosen = box.children[0].children
    threshold = box.children[1]
    assert (threshold.min, threshold.max) == widgets.score_range(scores, "−ELBO (bits)") == (-3.0, 14.0)
    assert threshold.value == pytest.approx(torch.arange(10.0).quantile(0.95).item(), abs=threshold.step)
    threshold.value = 8.0
    assert calls[-1] == ("−ELBO (bits)", "noisy", pytest.approx(8.0, abs=threshold.step))
    chosen.value = "blank"
    assert calls[-1][1] == "blank"
    score.value = "corrected"
    assert (threshold.min, threshold.max) == (-9.0, 100.0)
    assert threshold.min <= threshold.value <= threshold.max and calls[-1][0] == "corrected"
    plt.close("all")


@pytest.fixture
def cvae():
    torch.manual_seed(0)
    return models.ConditionalVAE(hidden=16, latent_dim=3).eval()


def test_style_code_adds_the_chosen_steps_and_checks_them():
    axes = {"slant": torch.tensor([1.0, 0.0, 0.0]), "ink": torch.tensor([0.0, 2.0, 0.0])}
    assert widgets.style_code({"slant": 0.5, "ink": -1.0}, axes).tolist() == [[0.5, -2.0, 0.0]]
    with pytest.raises(ValueError, match="must lie in"):
        widgets.style_code({"slant": 2.5, "ink": 0.0}, axes)
    with pytest.raises(ValueError, match="must lie in"):
        widgets.style_code({"slant": float("nan"), "ink": 0.0}, axes)
    with pytest.raises(ValueError, match="one value per style axis"):
        widgets.style_code({"slant": 0.0}, axes)


def test_cvae_style_draws_the_digit_and_all_ten_in_one_style(cvae):
    axes = {"slant": torch.tensor([1.0, 0.0, 0.0])}
    fig = widgets.plot_cvae_style(3, {"slant": 1.5}, cvae, axes)
    left, right = fig.axes
    with torch.no_grad():
        expected = torch.sigmoid(cvae.decode(torch.tensor([[1.5, 0.0, 0.0]]), torch.tensor([3])))
    assert torch.allclose(torch.as_tensor(left.images[0].get_array()), expected.reshape(28, 28), atol=1e-6)
    assert "digit 3: slant +1.5" in left.get_title() and "classifier" not in left.get_title()
    assert right.images[0].get_array().shape[1] == 10 * 29 - 1 and right.get_title()     # one row of ten digits
    assert [text.get_text() for text in right.texts] == [str(d) for d in range(10)]    # each labelled below
    plt.close(fig)
    judge = classifier.DigitClassifier().eval()
    fig = widgets.plot_cvae_style(0, {"slant": -2.0}, cvae, axes, judge)
    assert "classifier: " in fig.axes[0].get_title() and "(p = " in fig.axes[0].get_title()
    plt.close(fig)


@pytest.mark.parametrize("digit, slant, words", [(10, 0.0, "digit 10 is not one of"), (3, 2.5, "must lie in"),
                                                 (3, float("nan"), "must lie in")])
def test_cvae_style_rejects_bad_values_before_drawing(cvae, digit, slant, words):
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=words):
        widgets.plot_cvae_style(digit, {"slant": slant}, cvae, {"slant": torch.ones(3)})
    assert plt.get_fignums() == figures


def test_cvae_widget_has_a_slider_per_style_axis_and_redraws(cvae, monkeypatch):
    calls = []
    original = widgets.plot_cvae_style
    monkeypatch.setattr(widgets.lesson10, "plot_cvae_style", lambda *a: calls.append(a[:2]) or original(*a))
    monkeypatch.setattr(widgets.core, "display", lambda fig: None)
    box = widgets.make_cvae_widget(cvae, {"slant": torch.ones(3), "ink": -torch.ones(3)})
    digit, slant, ink = box.children[0].children
    assert digit.options == tuple(range(10)) and (slant.min, slant.max) == (-2.0, 2.0)
    assert (slant.description, ink.description) == ("slant", "ink")
    digit.value = 2
    ink.value = -1.0
    assert calls[-1] == (2, {"slant": 0.0, "ink": -1.0})
    plt.close("all")
