"""Lesson 09's widget: pick a trained model (β-VAE or β-TCVAE, its β and training seed) and see its latent
traversals, the three parts of its KL as bars, and its MIG and reconstruction against every other model's."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from vaecourse.widgets.core import ControlValueError, closes_figures_on_error, live_figure
from vaecourse.widgets.lesson06 import TRAVERSAL_LIMITS

Key = tuple[str, float, int]  # (kind, β, seed), e.g. ("β-TCVAE", 6.0, 1)


def model_key(kind: str, beta: float, seed: int, models: dict[Key, object]) -> Key:
    """The key of the model asked for, or a :class:`ControlValueError` that lists the models there are."""
    key = (kind, beta, seed)
    if key not in models:
        there = "; ".join(f"{k} β = {b:g} seed {s}" for k, b, s in sorted(models))
        raise ControlValueError(f"There is no {kind} with β = {beta!r} and seed {seed!r}; the models are: {there}.")
    return key


def _check_limit(limit: float) -> None:
    low, high = TRAVERSAL_LIMITS
    if not low <= limit <= high:
        raise ControlValueError(f"The traversal range must be between ±{low:g} and ±{high:g}, got ±{limit!r}.")


@closes_figures_on_error
def show_tc_model(kind: str, beta: float, seed: int, models: dict[Key, torch.nn.Module], results: dict[Key, dict],
                  sprite: torch.Tensor, limit: float = 3.0) -> plt.Figure:
    """One figure for one model: traversals of ``sprite`` (1, 1, R, R) over ±``limit`` (rows ordered by KL),
    its KL's three terms as bars, and MIG against reconstruction for every model in ``results`` (each a dict
    with ``kl_terms`` (a :class:`vaecourse.tc.KLTerms`), ``kl_per_latent``, ``active``, ``mig``, ``recon``),
    this one ringed."""
    from vaecourse import plots

    key = model_key(kind, beta, seed, models)
    _check_limit(limit)
    result = results[key]
    fig = plt.figure(figsize=(12, 6.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
    plots.show_traversals(models[key], sprite, torch.tensor(result["kl_per_latent"]), torch.tensor(result["active"]),
                          title=f"Traversals (±{limit:g})", limit=limit, ax=left.subplots())
    bars, scatter = right.subplots(2, 1)
    top = max(max(r["kl_terms"].parts().values()) for r in results.values())
    plots.show_kl_terms({kind: [result["kl_terms"].parts()]}, ax=bars,
                        title=f"The KL's three parts (sum {result['kl_terms'].kl:.2f} nats)")
    bars.set_ylim(min(0.0, *result["kl_terms"].parts().values()) - 0.1, top * 1.15 + 0.1)  # the same scale for all
    for other, r in results.items():
        marker = "o" if other[0] == "β-VAE" else "s"
        scatter.scatter(r["recon"], r["mig"], marker=marker, color="tab:orange" if other[0] == "β-VAE" else "tab:blue",
                        alpha=0.7, label=f"{other[0]} β = {other[1]:g}" if other[2] == 0 else None)
    scatter.scatter(result["recon"], result["mig"], s=200, facecolors="none", edgecolors="black", linewidths=2)
    scatter.legend(fontsize=7)
    scatter.set(xlabel="reconstruction −log p(x|z) (nats per image)", ylabel="MIG",
                title="Every model (this one ringed)")
    fig.suptitle(f"{kind}, β = {beta:g}, seed {seed}:  MIG {result['mig']:.2f}   reconstruction "
                 f"{result['recon']:.1f} nats   total correlation {result['kl_terms'].total_correlation:.2f} nats")
    return fig


def make_tc_widget(models: dict[Key, torch.nn.Module], results: dict[Key, dict], sprite: torch.Tensor,
                   limit: float = 3.0) -> widgets.Widget:
    """Dropdowns for the kind of model, β and seed, and a slider for the traversal range, above
    :func:`show_tc_model`'s figure. A combination that was not trained shows one line naming those that were."""
    _check_limit(limit)
    first = min(models)
    controls = {
        "kind": widgets.Dropdown(options=sorted({k for k, _, _ in models}), value=first[0], description="model"),
        "beta": widgets.Dropdown(options=[(f"β = {b:g}", b) for b in sorted({b for _, b, _ in models})],
                                 value=first[1], description="β"),
        "seed": widgets.Dropdown(options=sorted({s for _, _, s in models}), value=first[2], description="seed"),
        "limit": widgets.FloatSlider(value=limit, min=TRAVERSAL_LIMITS[0], max=TRAVERSAL_LIMITS[1], step=0.25,
                                     description="range ±", continuous_update=False),
    }
    draw = live_figure(lambda kind, beta, seed, limit: show_tc_model(kind, beta, seed, models, results, sprite, limit),
                       controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), draw])
