"""Lesson 10's widgets: a threshold on the anomaly scores with its live true and false positive rates, and a
digit picker with a style slider for the conditional VAE."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, live_figure

AnomalyScores = dict[str, dict[str, torch.Tensor]]   # score name -> {"normal": (N,), an anomaly set: (M,), ...}
STYLE_LIMIT = 2.0                                   # style sliders run over ±2 steps along their direction


def _check_choice(value, choices, what: str) -> None:
    if value not in choices:
        raise ControlValueError(f"{what} {value!r} is not one of {', '.join(map(str, choices))}.")


def score_range(scores: AnomalyScores, score: str) -> tuple[float, float]:
    """The lowest and highest value of ``score`` over the normal examples and every anomaly set."""
    _check_choice(score, list(scores), "score")
    values = torch.cat([v.detach().double().cpu() for v in scores[score].values()])
    return float(values.min()), float(values.max())


def plot_anomaly_threshold(score: str, anomalies: str, threshold: float, scores: AnomalyScores) -> plt.Figure:
    """Flag every image whose ``score`` is at least ``threshold``: the two histograms (normal digits and the
    ``anomalies`` set) with the threshold, and the ROC curve with the point that threshold reaches; the true
    and false positive rates and the AUROC in the title."""
    from vaecourse import metrics

    _check_choice(score, list(scores), "score")
    sets = [name for name in scores[score] if name != "normal"]
    _check_choice(anomalies, sets, "anomaly set")
    if not math.isfinite(threshold):
        raise ControlValueError(f"the threshold must be a finite number, got {threshold}.")
    normal, odd = (scores[score][name].detach().double().cpu() for name in ("normal", anomalies))
    tpr, fpr = metrics.detection_rates(threshold, normal, odd)
    roc_fpr, roc_tpr = metrics.roc_curve(normal, odd)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.6, 1], layout="constrained")
    low, high = score_range(scores, score)
    bins = torch.linspace(low, high, 50).numpy()
    left.hist(normal.numpy(), bins=bins, density=True, alpha=0.6, color="C0", label="normal test digits")
    left.hist(odd.numpy(), bins=bins, density=True, alpha=0.6, color="C3", label=anomalies)
    left.axvline(threshold, color="black", lw=2, label=f"threshold {threshold:.0f}: flag what lies right")
    left.set(xlabel=score, ylabel="density", title="Scores: higher means more surprising")
    left.legend(fontsize=8)
    right.plot(roc_fpr.numpy(), roc_tpr.numpy(), color="C2")
    right.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    right.plot(fpr, tpr, marker="o", markersize=10, color="black", label="this threshold")
    right.set(xlabel="false positive rate (normal digits flagged)", ylabel="true positive rate (anomalies caught)",
              title=f"ROC curve, AUROC {metrics.auroc(normal, odd):.3f}", xlim=(0, 1), ylim=(0, 1.02))
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{anomalies}: {tpr:.1%} caught (true positive rate), {fpr:.1%} of normal digits flagged "
                 f"(false positive rate)")
    return fig


def make_anomaly_widget(scores: AnomalyScores, anomalies: str | None = None) -> widgets.Widget:
    """Pick a score and a set of anomalies and move the threshold: :func:`plot_anomaly_threshold` redraws with
    the rates. Choosing another score moves the slider's range to that score's values."""
    score = widgets.Dropdown(options=list(scores), value=list(scores)[0], description="score")
    sets = [name for name in scores[score.value] if name != "normal"]
    chosen = widgets.Dropdown(options=sets, value=anomalies or sets[0], description="anomalies")
    low, high = score_range(scores, score.value)
    threshold = widgets.FloatSlider(value=float(scores[score.value]["normal"].double().quantile(0.95)), min=low,
                                    max=high, step=(high - low) / 200, description="threshold",
                                    continuous_update=False, readout_format=".0f")

    def follow_score(change) -> None:
        """Put the slider over the new score's range, at the threshold that flags 5% of the normal digits."""
        new_low, new_high = score_range(scores, change["new"])
        start = float(scores[change["new"]]["normal"].double().quantile(0.95))
        with threshold.hold_trait_notifications():
            threshold.min, threshold.max = min(threshold.min, new_low), max(threshold.max, new_high)
            threshold.value = start
            threshold.min, threshold.max = new_low, new_high
            threshold.step = (new_high - new_low) / 200

    score.observe(follow_score, names="value")
    figure = live_figure(lambda score, anomalies, threshold: plot_anomaly_threshold(score, anomalies, threshold,
                                                                                    scores),
                         {"score": score, "anomalies": chosen, "threshold": threshold})
    return widgets.VBox([widgets.HBox([score, chosen]), threshold, figure])


def style_code(styles: dict[str, float], style_axes: dict[str, torch.Tensor]) -> torch.Tensor:
    """The code Σ styles[name] · style_axes[name] (one value per axis, each in ±STYLE_LIMIT), shape (1, D)."""
    if set(styles) != set(style_axes):
        raise ControlValueError(f"give one value per style axis ({', '.join(style_axes)}); "
                                f"got {', '.join(styles) or 'none'}.")
    for name, value in styles.items():
        if not (math.isfinite(value) and abs(value) <= STYLE_LIMIT):
            raise ControlValueError(f"{name} must lie in [−{STYLE_LIMIT:g}, {STYLE_LIMIT:g}] (steps along its "
                                    f"direction), got {value}.")
    return sum(value * style_axes[name].reshape(1, -1) for name, value in styles.items())


@torch.no_grad()
def plot_cvae_style(digit: int, styles: dict[str, float], model, style_axes: dict[str, torch.Tensor],
                    classifier=None) -> plt.Figure:
    """The conditional VAE's ``digit`` drawn from the style code Σ styles[name] · style_axes[name] (the
    other style directions at 0), large, with the classifier's verdict when given; beside it all ten
    digits in that same style."""
    from vaecourse import classifier as judge
    from vaecourse import cvae_mnist, plots

    _check_choice(digit, cvae_mnist.DIGITS, "digit")
    device = next(model.parameters()).device
    code = style_code(styles, style_axes).to(device)
    labels = torch.arange(10, device=device)
    images = torch.sigmoid(model.decode(code.expand(10, -1), labels))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), width_ratios=[1, 3.2], layout="constrained")
    left.imshow(images[digit].reshape(28, 28).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    left.set_xticks([])
    left.set_yticks([])
    shown = ", ".join(f"{name} {value:+.1f}" for name, value in styles.items())
    verdict = ""
    if classifier is not None:
        p = judge.predict_proba(classifier, images[digit:digit + 1])[0]
        verdict = f"\nclassifier: {int(p.argmax())} (p = {float(p.max()):.2f})"
    left.set_title(f"digit {digit}: {shown}{verdict}", fontsize=10)
    plots.image_grid(images, ncols=10, ax=right, title=f"every digit in the same style ({shown})",
                     labels=list(range(10)))
    return fig


def make_cvae_widget(model, style_axes: dict[str, torch.Tensor], classifier=None) -> widgets.Widget:
    """A digit picker and one slider per style axis above :func:`plot_cvae_style`."""
    digit = widgets.Dropdown(options=list(range(10)), value=7, description="digit")
    sliders = {name: widgets.FloatSlider(value=0.0, min=-STYLE_LIMIT, max=STYLE_LIMIT, step=0.1, description=name,
                                         continuous_update=True) for name in style_axes}

    def draw(digit: int, **styles: float) -> plt.Figure:
        return plot_cvae_style(digit, styles, model, style_axes, classifier)

    return widgets.VBox([widgets.HBox([digit, *sliders.values()]), live_figure(draw, {"digit": digit, **sliders})])
