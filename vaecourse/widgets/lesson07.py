"""Lesson 07's widget: σ² and β sliders redraw the data's eigenvalue spectrum, the collapse threshold βσ²
and the linear VAE's predicted active latents and KL per latent: exact, instant, no training."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from vaecourse import linear_vae
from vaecourse.widgets.core import ControlValueError, closes_figures_on_error, live_figure

SIGMA2_RANGE = (1e-2, 1e3)   # the decoder's noise variance σ² on the slider (log scale), 392 included
BETA_RANGE = (0.1, 10.0)     # the KL weight β on the slider (log scale)


def check_collapse_values(sigma2: float, beta: float) -> None:
    """A clear error unless σ² and β lie in the slider ranges."""
    for name, value, (low, high) in (("σ²", sigma2, SIGMA2_RANGE), ("β", beta, BETA_RANGE)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
            raise ControlValueError(f"the collapse widget shows {name} between {low:g} and {high:g}; got {value!r}")


def collapse_numbers(eigenvalues: torch.Tensor, sigma2: float, beta: float, latent_dim: int = 20) -> dict:
    """What the linear VAE's optimum predicts for (σ², β): the threshold βσ², how many eigenvalues lie above it,
    the active latents among ``latent_dim`` (variance of the posterior mean > 0.01) and the KL per latent."""
    check_collapse_values(sigma2, beta)
    best = linear_vae.optimum(eigenvalues, sigma2, beta, latent_dim)
    return {"threshold": beta * sigma2, "above": int((torch.as_tensor(eigenvalues) > beta * sigma2).sum()),
            "active": linear_vae.predicted_active(eigenvalues, sigma2, beta, latent_dim),
            "kl_per_latent": best["kl"], "kl": float(best["kl"].sum())}


@closes_figures_on_error
def plot_collapse_spectrum(eigenvalues: torch.Tensor, sigma2: float, beta: float, latent_dim: int = 20,
                           shown: int = 60) -> plt.Figure:
    """Left: the first ``shown`` eigenvalues of the data's covariance (log scale) against the collapse threshold
    βσ², those the ``latent_dim`` latents keep in colour. Right: the predicted KL of each latent."""
    numbers = collapse_numbers(eigenvalues, sigma2, beta, latent_dim)
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)[:shown]
    index = torch.arange(1, len(lam) + 1)
    kept = (index <= latent_dim) & (lam > numbers["threshold"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.5, 1], layout="constrained")
    left.scatter(index[~kept], lam[~kept], s=14, color="lightgrey", label="collapsed (or no latent for it)")
    left.scatter(index[kept], lam[kept], s=18, color="C0", label="kept by a latent")
    left.axhline(numbers["threshold"], color="C3", lw=2, label=f"threshold βσ² = {numbers['threshold']:.3g}")
    left.axvline(latent_dim + 0.5, color="k", ls=":", lw=1, label=f"{latent_dim} latents")
    left.set_yscale("log")
    left.set_ylim(min(float(lam.min()), numbers["threshold"]) / 2, max(float(lam.max()), numbers["threshold"]) * 2)
    left.set(xlabel="i (eigen-direction, largest variance first)", ylabel="eigenvalue λᵢ (variance)",
             title=f"{numbers['above']} eigenvalues above βσ²; predicted active latents: "
                   f"{numbers['active']} of {latent_dim}")
    left.legend(fontsize=8, loc="lower left")
    right.bar(range(1, latent_dim + 1), numbers["kl_per_latent"].tolist(), color="C0")
    right.set(xlabel="latent i", ylabel="KL (nats per image)",
              ylim=(0, max(1.0, 1.1 * float(numbers["kl_per_latent"].max()))),
              title=f"predicted KL per latent ½ log(λᵢ/βσ²): {numbers['kl']:.2f} nats")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"Linear VAE at its optimum: σ² = {sigma2:.3g}, β = {beta:.3g}")
    return fig


def make_collapse_widget(eigenvalues: torch.Tensor, latent_dim: int = 20, sigma2: float = 1.0,
                         beta: float = 1.0) -> widgets.Widget:
    """σ² and β sliders (log scale) above :func:`plot_collapse_spectrum`, redrawn whenever one moves."""
    check_collapse_values(sigma2, beta)
    sliders = {
        "sigma2": widgets.FloatLogSlider(value=sigma2, base=10, min=math.log10(SIGMA2_RANGE[0]),
                                         max=math.log10(SIGMA2_RANGE[1]), step=0.05, description="σ²",
                                         readout_format=".3g", continuous_update=True),
        "beta": widgets.FloatLogSlider(value=beta, base=10, min=math.log10(BETA_RANGE[0]),
                                       max=math.log10(BETA_RANGE[1]), step=0.05, description="β",
                                       readout_format=".3g", continuous_update=True),
    }

    def draw(sigma2: float, beta: float) -> plt.Figure:
        return plot_collapse_spectrum(eigenvalues, sigma2, beta, latent_dim)

    return widgets.VBox([widgets.HBox(list(sliders.values())), live_figure(draw, sliders)])
