"""The widgets' shared core: a live figure redrawn when a control moves, and the β picker of the sweeps.

Each widget is built by a ``make_..._widget`` function that returns the widget (the notebook calls
``display(...)`` on it). The drawing is a plain function of the control values, so it can be tested
without a browser; out-of-range values raise a clear :class:`ControlValueError` (a ``ValueError``), which
the live figure shows as one line instead of a traceback. A drawing that fails closes the figures it
opened. Works with ipywidgets 7.7 and 8.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

F = TypeVar("F", bound=Callable)


class ControlValueError(ValueError):
    """A control value a widget cannot draw (out of range, not a number): one line in the widget, no traceback.

    Other errors are bugs and still show their traceback.
    """


@contextmanager
def closing_figures_on_error() -> Iterator[None]:
    """Close the figures opened inside the block if it raises, so a failed drawing leaves none open."""
    before = set(plt.get_fignums())
    try:
        yield
    except BaseException:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
        raise


def closes_figures_on_error(draw: F) -> F:
    """Decorate a drawing function so that it closes the figures it opened when it raises."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with closing_figures_on_error():
            return draw(*args, **kwargs)

    return wrapper


def not_a_number(values: dict, controls: dict[str, widgets.ValueWidget]) -> str | None:
    """A one-line message if a control holds NaN (a slider set from code can), else None."""
    for name, value in values.items():
        if isinstance(value, float) and math.isnan(value):
            label = getattr(controls[name], "description", "") or name
            return f"{label} is NaN, not a number: set it to a value on the slider."
    return None


def live_figure(draw: Callable[..., plt.Figure], controls: dict[str, widgets.ValueWidget]) -> widgets.Output:
    """An output that shows ``draw(**values of controls)`` and draws it again whenever a control moves.

    Each figure is displayed once and closed, so the inline backend never shows it twice or keeps it.
    A NaN value, or a value the drawing rejects with a :class:`ControlValueError`, shows that one-line
    message in place of the figure (no traceback), and a failed drawing leaves no figure open.
    """
    def update(**values) -> None:
        problem = not_a_number(values, controls)
        if problem is None:
            try:
                with closing_figures_on_error():
                    fig = draw(**values)
            except ControlValueError as error:
                problem = str(error)
        if problem is not None:
            print(f"⚠ {problem}")
            return
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
        raise ControlValueError(f"β = {beta!r} is not in the sweep; choose one of {choices}.")
    return models[beta]
