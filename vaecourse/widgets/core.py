"""The widgets' shared core: a live figure redrawn when a control moves, and the β picker of the sweeps.

Each widget is built by a ``make_..._widget`` function that returns the widget (the notebook calls
``display(...)`` on it). The drawing is a plain function of the control values, so it can be tested
without a browser; out-of-range values raise a clear ``ValueError``. Works with ipywidgets 7.7 and 8.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


def live_figure(draw: Callable[..., plt.Figure], controls: dict[str, widgets.ValueWidget]) -> widgets.Output:
    """An output that shows ``draw(**values of controls)`` and draws it again whenever a control moves.

    Each figure is displayed once and closed, so the inline backend never shows it twice or keeps it.
    """
    def update(**values) -> None:
        fig = draw(**values)
        display(fig)
        plt.close(fig)

    return widgets.interactive_output(update, controls)


def beta_dropdown(models: dict, value: float) -> widgets.Dropdown:
    """A dropdown of the models of a β sweep, labelled "β = 4" and so on, in increasing β."""
    return widgets.Dropdown(options=[(f"β = {b:g}", b) for b in sorted(models)], value=value, description="model")


def model_for(beta: float, models: dict):
    """``models[beta]``, or a ValueError that lists the β values there are."""
    if beta not in models:
        choices = ", ".join(f"{b:g}" for b in sorted(models))
        raise ValueError(f"β = {beta!r} is not in the sweep; choose one of {choices}.")
    return models[beta]
