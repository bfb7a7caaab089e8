"""Lesson 02's widgets: move q's mean and standard deviation; see log p(x) = ELBO(q) + KL(q ‖ p(z|x))."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, closes_figures_on_error, live_figure


def elbo_gap_numbers(model, x, q_mean: float, q_std: float) -> dict[str, float]:
    """log p(x), ELBO(q) and the gap KL(q ‖ p(z|x)) for q = N(q_mean, q_std²) on the toy model's 1-D latent."""
    from vaecourse import toy

    if model.latent_dim != 1:
        raise ValueError(f"the ELBO widget draws a 1-D latent; this model has latent_dim = {model.latent_dim}")
    if not (q_std > 0 and torch.isfinite(torch.tensor([q_mean, q_std])).all()):
        raise ControlValueError(f"q needs a finite mean and a standard deviation > 0; got mean {q_mean}, std {q_std}")
    q = toy.Gaussian.diagonal([q_mean], [q_std])
    return {"log p(x)": model.log_evidence(x).item(), "ELBO": toy.exact_elbo(model, x, q).item(),
            "KL gap": toy.kl_to_posterior(model, x, q).item()}


def elbo_slider_ranges(model, x) -> tuple[tuple[float, float], tuple[float, float]]:
    """(mean range, std range) for q's sliders: both the prior N(0, 1) and the posterior well inside."""
    posterior_mean = model.posterior(x).mean.item()
    low = float(torch.floor(torch.tensor(min(posterior_mean, 0.0) - 2.5) * 2) / 2)
    high = float(torch.ceil(torch.tensor(max(posterior_mean, 0.0) + 2.5) * 2) / 2)
    return (low, high), (0.05, 2.0)


@closes_figures_on_error
def plot_elbo_gap(model, x, q_mean: float, q_std: float) -> tuple[plt.Figure, dict[str, float]]:
    """Left: the true posterior p(z|x), q and the prior. Right: bars for log p(x), ELBO(q) and KL(q ‖ p(z|x)).

    Returns the figure and the three numbers. Axis limits depend only on the model and x, so the picture
    stays still while the sliders move.
    """
    numbers = elbo_gap_numbers(model, x, q_mean, q_std)
    (low, high), (std_low, std_high) = elbo_slider_ranges(model, x)
    posterior = model.posterior(x)
    z = torch.linspace(low, high, 400, dtype=torch.float64).unsqueeze(1)
    posterior_density = posterior.log_prob(z).exp()
    q_density = torch.distributions.Normal(q_mean, q_std).log_prob(z[:, 0]).exp()
    prior_density = model.log_prior(z).exp()

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.6, 1], layout="constrained")
    left.fill_between(z[:, 0], posterior_density, alpha=0.3, color="C0", label="true posterior p(z|x)")
    left.plot(z[:, 0], q_density, color="C3", lw=2, label=f"q(z) = N({q_mean:.2f}, {q_std:.2f}²)")
    left.plot(z[:, 0], prior_density, color="gray", ls=":", label="prior p(z) = N(0, 1)")
    left.set(xlim=(low, high), ylim=(0, 2.2 * float(posterior_density.max())), xlabel="z", ylabel="density",
             title="q against the true posterior (a very narrow q is clipped)")
    left.legend(loc="upper right", fontsize=9)

    # The gap is drawn as a floating bar from the ELBO up to log p(x): the two pieces add up to the evidence.
    log_evidence, elbo, gap = numbers["log p(x)"], numbers["ELBO"], numbers["KL gap"]
    right.bar([0, 1], [log_evidence, elbo], color=["C0", "C2"])
    right.bar([2], [gap], bottom=[elbo], color="C3")
    right.axhline(0, color="black", lw=0.8)
    right.axhline(log_evidence, color="C0", ls="--", lw=1)
    for i, (value, y, below) in enumerate([(log_evidence, log_evidence, log_evidence < 0), (elbo, elbo, elbo < 0),
                                           (gap, log_evidence, False)]):
        right.annotate(f"{value:.3f}", (i, y), xytext=(0, -3 if below else 3), textcoords="offset points",
                       ha="center", va="top" if below else "bottom", fontsize=9)
    bottom = 5 * math.floor(1.15 * min(elbo, log_evidence) / 5)  # in steps of 5 nats, so the scale rarely jumps
    right.set_ylim(bottom, max(1.0, 0.1 * -bottom))
    right.set_xticks([0, 1, 2], ["log p(x)", "ELBO(q)", "KL(q ‖ p(z|x))"])
    right.set(ylabel="nats", title="log p(x) = ELBO + KL gap")
    return fig, numbers


def make_elbo_gap_widget(model, x) -> widgets.Widget:
    """Sliders for q's mean and standard deviation above :func:`plot_elbo_gap` (start: q = the prior)."""
    (low, high), (std_low, std_high) = elbo_slider_ranges(model, x)
    style = {"description_width": "initial"}
    mean = widgets.FloatSlider(value=0.0, min=low, max=high, step=0.1, description="mean of q", style=style,
                               continuous_update=True)
    std = widgets.FloatSlider(value=1.0, min=std_low, max=std_high, step=0.05, description="std of q",
                              style=style, continuous_update=True)
    return widgets.VBox([widgets.HBox([mean, std]),
                         live_figure(lambda q_mean, q_std: plot_elbo_gap(model, x, q_mean, q_std)[0],
                                     {"q_mean": mean, "q_std": std})])
