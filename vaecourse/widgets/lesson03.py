"""Lesson 03's widgets: move μ and σ of q = N(μ, σ²); see q against the prior N(0, 1) and KL(q ‖ p) in its two parts."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, closes_figures_on_error, live_figure

KL_MU_RANGE = (-3.0, 3.0)
KL_SIGMA_RANGE = (0.1, 3.0)
KL_AXIS_TOP = 8.0  # nats: above the largest KL on the sliders' ranges (≈ 7.4 at μ = ±3, σ = 3), so the bars stay still


def kl_numbers(mu: float, sigma: float) -> dict[str, float]:
    """KL(N(μ, σ²) ‖ N(0, 1)) and its two parts, the mean penalty ½μ² and the variance penalty ½(σ² − 1 − log σ²)."""
    from vaecourse import kl

    (mu_low, mu_high), (sigma_low, sigma_high) = KL_MU_RANGE, KL_SIGMA_RANGE
    if not (mu_low <= mu <= mu_high and sigma_low <= sigma <= sigma_high):
        raise ControlValueError(f"the KL widget shows μ in [{mu_low}, {mu_high}] and σ in [{sigma_low}, {sigma_high}]; "
                                f"got μ = {mu}, σ = {sigma}")
    mean_penalty, variance_penalty = (part.item() for part in kl.kl_parts(mu, sigma))
    return {"KL": mean_penalty + variance_penalty, "mean penalty": mean_penalty, "variance penalty": variance_penalty}


@closes_figures_on_error
def plot_kl(mu: float, sigma: float) -> tuple[plt.Figure, dict[str, float]]:
    """Left: q = N(μ, σ²) and the prior p = N(0, 1). Right: KL(q ‖ p) as a stack of its two parts, beside them.

    Returns the figure and :func:`kl_numbers`. The z axis and the KL axis are fixed, so only the curves move.
    """
    numbers = kl_numbers(mu, sigma)
    z = torch.linspace(-6, 6, 600, dtype=torch.float64)
    q_density = torch.distributions.Normal(float(mu), float(sigma)).log_prob(z).exp()
    prior_density = torch.distributions.Normal(0.0, 1.0).log_prob(z).exp()

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.6, 1], layout="constrained")
    left.fill_between(z, prior_density, alpha=0.25, color="gray", label="prior p(z) = N(0, 1)")
    left.plot(z, q_density, color="C3", lw=2, label=f"q(z) = N({mu:.2f}, {sigma:.2f}²)")
    left.set(xlim=(-6, 6), ylim=(0, 1.1 * max(float(prior_density.max()), float(q_density.max()))),
             xlabel="z", ylabel="density", title="The two densities")
    left.legend(loc="upper right", fontsize=9)

    mean_penalty, variance_penalty, total = numbers["mean penalty"], numbers["variance penalty"], numbers["KL"]
    right.bar([0], [mean_penalty], color="C0")
    right.bar([1], [variance_penalty], color="C1")
    right.bar([2], [mean_penalty], color="C0", label="mean penalty ½μ²")
    right.bar([2], [variance_penalty], bottom=[mean_penalty], color="C1", label="variance penalty ½(σ² − 1 − log σ²)")
    for i, value in enumerate([mean_penalty, variance_penalty, total]):
        right.annotate(f"{value:.3f}", (i, value), xytext=(0, 3), textcoords="offset points", ha="center",
                       va="bottom", fontsize=9)
    right.set_xticks([0, 1, 2], ["mean\npenalty", "variance\npenalty", "KL(q ‖ p)"])
    right.set(ylim=(0, KL_AXIS_TOP), ylabel="nats", title=f"KL(q ‖ p) = {total:.3f} nats")
    right.legend(loc="upper left", fontsize=8)
    return fig, numbers


def make_kl_widget() -> widgets.Widget:
    """Sliders for μ and σ of q above :func:`plot_kl` (start: μ = 1, σ = 0.5)."""
    style = {"description_width": "initial"}
    mu = widgets.FloatSlider(value=1.0, min=KL_MU_RANGE[0], max=KL_MU_RANGE[1], step=0.05, description="μ of q",
                             style=style)
    sigma = widgets.FloatSlider(value=0.5, min=KL_SIGMA_RANGE[0], max=KL_SIGMA_RANGE[1], step=0.05,
                                description="σ of q", style=style)
    return widgets.VBox([widgets.HBox([mu, sigma]),
                         live_figure(lambda mu, sigma: plot_kl(mu, sigma)[0], {"mu": mu, "sigma": sigma})])
