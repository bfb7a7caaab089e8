"""Figures and displays used across the lessons: image grids, reconstructions, training curves, source code."""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from vaecourse.train import LABELS, History


def as_images(x: torch.Tensor, side: int | None = None) -> torch.Tensor:
    """(N, side*side) or (N, 1, H, W) or (N, H, W) -> (N, H, W) on the CPU, for plotting."""
    x = x.detach().float().cpu()
    if x.ndim == 2:
        side = side or math.isqrt(x.shape[1])
        x = x.reshape(len(x), side, side)
    elif x.ndim == 4:
        x = x[:, 0]
    return x


def image_grid(x: torch.Tensor, ncols: int = 10, title: str = "", ax: plt.Axes | None = None,
               labels: Sequence | None = None) -> plt.Axes:
    """Show images as one tiled grid (white digits on black); optional per-image labels as a subtitle."""
    images = as_images(x)
    n, h, w = images.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    canvas = torch.zeros(nrows * (h + 1) - 1, ncols * (w + 1) - 1)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(ncols * 0.9, nrows * 0.9 + 0.4))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if labels is not None:
        title = f"{title}\n" + " ".join(str(v) for v in labels) if title else " ".join(str(v) for v in labels)
    ax.set_title(title)
    return ax


def show_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor, title: str = "",
                         n: int = 10) -> plt.Figure:
    """Two rows: originals above, their reconstructions below."""
    fig, axes = plt.subplots(2, 1, figsize=(n * 0.9, 2.9), layout="constrained")
    image_grid(originals[:n], ncols=n, title="original", ax=axes[0])
    image_grid(reconstructions[:n], ncols=n, title="reconstruction", ax=axes[1])
    fig.suptitle(title)
    return fig


def scatter_codes(codes: torch.Tensor, labels: torch.Tensor, title: str, ax: plt.Axes | None = None) -> plt.Axes:
    """2-D codes as a scatter plot coloured by digit, with a legend."""
    codes, labels = codes.detach().cpu(), labels.detach().cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=6, alpha=0.8, color=plt.cm.tab10(digit), label=str(digit))
    ax.legend(title="digit", markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set(title=title, xlabel="$z_1$", ylabel="$z_2$")
    return ax


def plot_history(history: History, keys: Sequence[str] = ("loss", "recon", "kl"),
                 title: str = "Training curves", ylabel: str = "nats per image") -> plt.Axes:
    """Per-epoch curves of the logged terms (those of ``keys`` present in ``history``)."""
    _, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        if key in history:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=LABELS.get(key, key))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def show_source(obj) -> None:
    """Display the source code of a course function or class, so a lesson shows it without copying it."""
    source = inspect.getsource(obj)
    try:
        from IPython.display import Markdown, display
    except ImportError:
        print(source)
        return
    display(Markdown(f"```python\n{source}```"))
