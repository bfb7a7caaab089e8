"""Lesson 04's widgets: move μ and σ; see the samples and how both gradient estimators of ∇E[z²] spread out."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, closes_figures_on_error, live_figure

GRADIENT_MU_RANGE = (-2.0, 2.0)
GRADIENT_SIGMA_RANGE = (0.2, 2.0)
GRADIENT_SAMPLE_SIZES = (1, 10, 100)


def gradient_spread(mu: float, sigma: float, n_samples: int, n_estimates: int = 300,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """``n_estimates`` independent n-sample estimates of ∇_{μ,σ} E[z²] by each estimator: name -> (n_estimates, 2).

    Seeded, so the same ε's are reused as the sliders move and the clouds change smoothly.
    """
    from vaecourse import gradients

    (mu_low, mu_high), (sigma_low, sigma_high) = GRADIENT_MU_RANGE, GRADIENT_SIGMA_RANGE
    if not (mu_low <= mu <= mu_high and sigma_low <= sigma <= sigma_high):
        raise ControlValueError(f"the gradient widget shows μ in [{mu_low}, {mu_high}] and σ in "
                                f"[{sigma_low}, {sigma_high}]; got μ = {mu}, σ = {sigma}")
    if int(n_samples) != n_samples or n_samples < 1 or n_estimates < 2:
        raise ControlValueError(f"n_samples must be a whole number ≥ 1 and n_estimates ≥ 2; "
                                f"got {n_samples}, {n_estimates}")
    spreads = {}
    for name, estimator in (("reparameterization", gradients.reparameterization_gradients),
                            ("score function", gradients.score_function_gradients)):
        generator = torch.Generator().manual_seed(seed)
        per_sample = estimator(gradients.square, mu, sigma, int(n_samples) * n_estimates, generator)
        spreads[name] = per_sample.reshape(n_estimates, int(n_samples), 2).mean(dim=1)
    return spreads


@closes_figures_on_error
def plot_gradient_spread(mu: float, sigma: float, n_samples: int = 1,
                         n_estimates: int = 300) -> tuple[plt.Figure, dict[str, torch.Tensor]]:
    """Left: samples z ~ N(μ, σ²) and f(z) = z². Right: each estimator's gradient estimates in the
    (∂/∂μ, ∂/∂σ) plane around the exact gradient (2μ, 2σ). Returns the figure and :func:`gradient_spread`."""
    from vaecourse import gradients

    spreads = gradient_spread(mu, sigma, n_samples, n_estimates)
    exact = gradients.square_exact_gradient(mu, sigma)
    generator = torch.Generator().manual_seed(1)
    z = mu + sigma * torch.randn(2000, dtype=torch.float64, generator=generator)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    left.hist(z, bins=60, range=(-8, 8), density=True, color="C0", alpha=0.6, label="2,000 samples z")
    grid = torch.linspace(-8, 8, 400, dtype=torch.float64)
    left.plot(grid, torch.distributions.Normal(mu, sigma).log_prob(grid).exp(), color="C0", label="N(μ, σ²)")
    twin = left.twinx()
    twin.plot(grid, gradients.square(grid), color="gray", ls=":", label="f(z) = z²")
    twin.set(ylim=(0, 20), ylabel="f(z) = z²")
    left.set(xlim=(-8, 8), ylim=(0, 2.2), xlabel="z", ylabel="density", title=f"Samples of N({mu:.2f}, {sigma:.2f}²)")
    left.legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)

    for (name, estimates), color in zip(spreads.items(), ("C2", "C3")):
        std = estimates.std(dim=0)
        right.scatter(estimates[:, 0], estimates[:, 1], s=8, alpha=0.5, color=color,
                      label=f"{name}: std ({std[0]:.2f}, {std[1]:.2f})")
    right.scatter(exact[:1], exact[1:], marker="*", s=250, color="black", zorder=3, label="exact (2μ, 2σ)")
    # Limits: the central 96% of the score-function cloud (the wider one), so outliers do not hide the rest.
    wide = spreads["score function"]
    low, high = torch.quantile(wide, 0.02, dim=0), torch.quantile(wide, 0.98, dim=0)
    half = (torch.maximum((high - exact).abs(), (exact - low).abs()).clamp(min=0.5) * 1.1).tolist()
    centre = exact.tolist()
    right.set(xlim=(centre[0] - half[0], centre[0] + half[0]), ylim=(centre[1] - half[1], centre[1] + half[1]),
              xlabel="estimate of ∂E[z²]/∂μ", ylabel="estimate of ∂E[z²]/∂σ",
              title=f"{n_estimates} gradient estimates, {n_samples} sample{'s' if n_samples > 1 else ''} each")
    right.legend(loc="upper left", fontsize=8)
    return fig, spreads


def make_gradient_widget() -> widgets.Widget:
    """Sliders for μ and σ and a choice of samples per estimate, above :func:`plot_gradient_spread`."""
    style = {"description_width": "initial"}
    mu = widgets.FloatSlider(value=1.5, min=GRADIENT_MU_RANGE[0], max=GRADIENT_MU_RANGE[1], step=0.1,
                             description="μ", style=style)
    sigma = widgets.FloatSlider(value=0.5, min=GRADIENT_SIGMA_RANGE[0], max=GRADIENT_SIGMA_RANGE[1], step=0.1,
                                description="σ", style=style)
    n_samples = widgets.Dropdown(options=list(GRADIENT_SAMPLE_SIZES), value=1, description="samples per estimate",
                                 style=style)
    return widgets.VBox([widgets.HBox([mu, sigma, n_samples]),
                         live_figure(lambda mu, sigma, n_samples: plot_gradient_spread(mu, sigma, n_samples)[0],
                                     {"mu": mu, "sigma": sigma, "n_samples": n_samples})])
