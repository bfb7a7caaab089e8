"""Lesson 06's widgets: pick β from the sweep, see its traversals, reconstructions and MIG/KL side by side."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import beta_dropdown, closes_figures_on_error, live_figure, model_for


@closes_figures_on_error
def show_beta_model(beta: float, models: dict, sprites, migs: dict[float, float]) -> plt.Figure:
    """One figure for the sweep's model at ``beta``: traversals (rows ordered by KL), reconstructions of
    a few ``sprites``, and the KL per latent, with MIG, KL and the active units in the title."""
    from vaecourse import metrics, plots

    model = model_for(beta, models)
    device = next(model.parameters()).device
    images = sprites.images.to(device)
    mu, logvar = metrics.encode_means(model, images)
    kl = metrics.kl_per_latent(mu, logvar)
    active = metrics.active_mask(mu)
    with torch.no_grad():
        recon = torch.sigmoid(model.decode(mu[:6]))
    fig = plt.figure(figsize=(11, 6.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
    plots.show_traversals(model, images[:1], kl, active, title="Traversals (±3)", ax=left.subplots())
    top, bottom = right.subplots(2, 1, height_ratios=[1, 1.3])
    plots.image_grid(torch.cat([images[:6], recon]), ncols=6, ax=top,
                     title="Sprites (top) and reconstructions")
    plots.show_kl_per_latent(kl, active, ax=bottom)
    fig.suptitle(f"β = {beta:g}:  MIG {migs[beta]:.2f}   KL {float(kl.sum()):.1f} nats   "
                 f"active latents {int(active.sum())}/{len(kl)}")
    return fig


def make_beta_widget(models: dict, sprites, migs: dict[float, float]) -> widgets.Widget:
    """A β dropdown (the sweep's models) above :func:`show_beta_model`'s figure."""
    choice = beta_dropdown(models, min(models))
    return widgets.VBox([choice, live_figure(lambda beta: show_beta_model(beta, models, sprites, migs),
                                             {"beta": choice})])
