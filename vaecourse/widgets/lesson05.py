"""Lesson 05's widgets: the latent explorer (sliders decode live) and the β trade-off explorer."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, beta_dropdown, closes_figures_on_error, live_figure, model_for


def check_latent_values(z_values, latent_dim: int, limit: float) -> torch.Tensor:
    """``z_values`` (one number per slider) as a (1, latent_dim) code, the remaining latents at 0 (the prior mean)."""
    z_values = [float(v) for v in z_values]
    if not 1 <= len(z_values) <= latent_dim:
        raise ValueError(f"give between 1 and {latent_dim} latent values (the model has {latent_dim}); "
                         f"got {len(z_values)}")
    if not all(math.isfinite(v) and abs(v) <= limit for v in z_values):
        raise ControlValueError(f"latent values must lie in [−{limit:g}, {limit:g}] (where the prior puts its "
                                f"mass); got {z_values}")
    z = torch.zeros(1, latent_dim)
    z[0, :len(z_values)] = torch.tensor(z_values)
    return z


@closes_figures_on_error
def plot_latent_explorer(model, z_values, codes: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                         limit: float = 3.0) -> plt.Figure:
    """Decode the code ``z_values`` (other latents at 0) and show the image; with 2-D ``codes`` and their
    digit ``labels`` (the encoded test set) the code is also marked on the latent map beside it."""
    from vaecourse import plots

    z = check_latent_values(z_values, model.latent_dim, limit)
    device = next(model.parameters()).device
    with torch.no_grad():
        image = torch.sigmoid(model.decode(z.to(device))).reshape(28, 28).cpu().numpy()
    shown = ", ".join(f"{v:+.2f}" for v in z[0, :len(z_values)].tolist())
    if codes is None:
        fig, right = plt.subplots(figsize=(3.2, 3.4), layout="constrained")
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.2), width_ratios=[1.5, 1], layout="constrained")
        plots.scatter_codes(codes, labels, title="Encoded test digits (posterior means)", ax=left)
        left.plot(*z[0, :2].tolist(), marker="X", markersize=16, color="black", markeredgecolor="white",
                  clip_on=False)                      # the cross stays whole at the sliders' ends
        edge = 1.05 * limit
        left.set(xlim=(-edge, edge), ylim=(-edge, edge))
        outside = plots.codes_outside(codes, edge)
        if outside:
            left.set_xlabel(f"$z_1$  ({outside} of {len(codes)} codes lie outside this square)")
    right.imshow(image, cmap="gray", vmin=0, vmax=1)
    right.set_xticks([])
    right.set_yticks([])
    right.set_title(f"decode(z), z = ({shown}{', 0, …' if len(z_values) < model.latent_dim else ''})", fontsize=9)
    return fig


def make_latent_explorer_widget(model, codes: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                                n_sliders: int | None = None, limit: float = 3.0) -> widgets.Widget:
    """One slider per latent (the first ``n_sliders``, default all of a 2-D model or the first 4) above
    :func:`plot_latent_explorer`; the image is decoded again whenever a slider moves."""
    n_sliders = n_sliders or min(model.latent_dim, 4)
    if not 1 <= n_sliders <= model.latent_dim:
        raise ValueError(f"n_sliders must be between 1 and the model's latent_dim = {model.latent_dim}; "
                         f"got {n_sliders}")
    sliders = {f"z{j + 1}": widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.05, description=f"z{j + 1}",
                                                continuous_update=True) for j in range(n_sliders)}

    def draw(**values: float) -> plt.Figure:
        return plot_latent_explorer(model, [values[f"z{j + 1}"] for j in range(n_sliders)], codes, labels, limit)

    return widgets.VBox([widgets.HBox(list(sliders.values())), live_figure(draw, sliders)])


@closes_figures_on_error
def plot_tradeoff(beta: float, models: dict, results: dict, x_examples: torch.Tensor, n_samples: int = 16,
                  seed: int = 0) -> plt.Figure:
    """The β-VAE at ``beta`` among the others: where it sits on the distortion–rate plot (``results[β]`` has
    ``recon`` and ``kl``, nats per image), its reconstructions of ``x_examples`` and decoded prior samples
    (the same z for every β, so the pictures compare like with like)."""
    from vaecourse import plots

    model = model_for(beta, models)
    lacking = [b for b in sorted(set(results) | {beta}) if not {"recon", "kl"} <= set(results.get(b, {}))]
    if lacking:
        shown = ", ".join(f"{b:g}" for b in lacking)
        raise ValueError(f"results need 'recon' and 'kl' (nats per image) for every β; missing for β = {shown}")
    device = next(model.parameters()).device
    x = x_examples.to(device)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n_samples, model.latent_dim, generator=generator).to(device)
    with torch.no_grad():
        mu, _ = model.encode(x)
        recon, samples = torch.sigmoid(model.decode(mu)), torch.sigmoid(model.decode(z))
    fig = plt.figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.15])
    plots.plot_rate_distortion(results, "Rate–distortion: each β is one point", highlight=beta, ax=left.subplots())
    top, bottom = right.subplots(2, 1, height_ratios=[1, 1])
    plots.image_grid(torch.cat([x, recon]).cpu(), ncols=len(x), ax=top,
                     title="test digits (top) and their reconstructions (bottom)")
    plots.image_grid(samples.cpu(), ncols=n_samples // 2, ax=bottom, title="samples: decode(z), z ~ N(0, I)")
    fig.suptitle(f"β = {beta:g}:  distortion {results[beta]['recon']:.1f},  rate {results[beta]['kl']:.1f} nats, "
                 f"ELBO {-(results[beta]['recon'] + results[beta]['kl']):.1f}")
    return fig


def make_tradeoff_widget(models: dict, results: dict, x_examples: torch.Tensor) -> widgets.Widget:
    """A β dropdown above :func:`plot_tradeoff`: pick a model; see its reconstructions, samples and
    rate–distortion point."""
    choice = beta_dropdown(models, 1.0 if 1.0 in models else min(models))
    return widgets.VBox([choice, live_figure(lambda beta: plot_tradeoff(beta, models, results, x_examples),
                                             {"beta": choice})])
