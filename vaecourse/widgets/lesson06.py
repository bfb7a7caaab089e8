"""Lesson 06's widget: pick β from the sweep and a sprite, drag the traversal range, and see the traversals,
reconstructions and MIG/KL side by side."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, beta_dropdown, closes_figures_on_error, live_figure, model_for

TRAVERSAL_LIMITS = (0.5, 4.0)  # the traversal range ±limit the slider offers, in prior standard deviations


def check_traversal(image: int, limit: float, n_sprites: int) -> None:
    """Raise a clear ValueError unless ``image`` indexes the sprites and ``limit`` is in the slider's range."""
    if not 0 <= image < n_sprites:
        raise ControlValueError(f"image must be a sprite number from 0 to {n_sprites - 1}, got {image!r}.")
    low, high = TRAVERSAL_LIMITS
    if not low <= limit <= high:
        raise ControlValueError(f"The traversal range must be between ±{low:g} and ±{high:g}, got ±{limit!r}.")


@closes_figures_on_error
def show_beta_model(beta: float, models: dict, sprites, migs: dict[float, float], image: int = 0,
                    limit: float = 3.0) -> plt.Figure:
    """One figure for the sweep's model at ``beta``: traversals of sprite number ``image`` over ±``limit``
    (rows ordered by KL), that sprite and the five after it with their reconstructions, and the KL per
    latent, with MIG, KL and the active units in the title."""
    from vaecourse import metrics, plots

    model = model_for(beta, models)
    check_traversal(image, limit, len(sprites))
    device = next(model.parameters()).device
    images = sprites.images.to(device)
    mu, logvar = metrics.encode_means(model, images)
    kl = metrics.kl_per_latent(mu, logvar)
    active = metrics.active_mask(mu)
    shown = torch.arange(image, image + 6, device=device) % len(images)
    with torch.no_grad():
        recon = torch.sigmoid(model.decode(mu[shown]))
    fig = plt.figure(figsize=(11, 6.2), layout="constrained")
    try:
        left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
        plots.show_traversals(model, images[image:image + 1], kl, active, title=f"Traversals of sprite {image} "
                              f"(±{limit:g})", limit=limit, ax=left.subplots())
        top, bottom = right.subplots(2, 1, height_ratios=[1, 1.3])
        plots.image_grid(torch.cat([images[shown], recon]), ncols=6, ax=top,
                         title=f"Sprites {image}, {image + 1}, … (top) and their reconstructions")
        plots.show_kl_per_latent(kl, active, ax=bottom)
        fig.suptitle(f"β = {beta:g}:  MIG {migs[beta]:.2f}   KL {float(kl.sum()):.1f} nats   "
                     f"active latents {int(active.sum())}/{len(kl)}")
    except Exception:
        plt.close(fig)
        raise
    return fig


def make_beta_widget(models: dict, sprites, migs: dict[float, float], image: int = 0) -> widgets.Widget:
    """A β dropdown, a slider for which sprite is traversed (starting at ``image``) and a slider for the
    traversal range, above :func:`show_beta_model`'s figure."""
    check_traversal(image, 3.0, len(sprites))
    controls = {
        "beta": beta_dropdown(models, min(models)),
        "image": widgets.IntSlider(value=image, min=0, max=len(sprites) - 1, description="sprite",
                                   continuous_update=False),
        "limit": widgets.FloatSlider(value=3.0, min=TRAVERSAL_LIMITS[0], max=TRAVERSAL_LIMITS[1], step=0.25,
                                     description="range ±", continuous_update=False),
    }
    return widgets.VBox([widgets.HBox(list(controls.values())),
                         live_figure(lambda beta, image, limit: show_beta_model(beta, models, sprites, migs,
                                                                                image, limit), controls)])
