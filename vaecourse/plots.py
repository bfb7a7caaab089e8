"""Figures and displays used across the lessons: image grids, reconstructions, training curves, source code."""

from __future__ import annotations

import inspect
import math
import statistics
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
    """Show images as one tiled grid (white digits on black), with ``title`` above it.

    ``labels`` (one per image) are written under their own images, in a white strip left below each row,
    so that a label is read beside the picture it describes rather than in a list above the grid.
    """
    images = as_images(x)
    n, h, w = images.shape
    if labels is not None and len(labels) != n:
        raise ValueError(f"image_grid got {n} images but {len(labels)} labels: pass one label per image")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    strip = 0 if labels is None else max(round(0.4 * h), 6)  # pixel rows under each image row for its labels
    pitch = h + strip + 1                                     # one black pixel between rows
    canvas = torch.zeros(nrows * pitch - 1, ncols * (w + 1) - 1)
    for r in range(nrows):
        canvas[r * pitch + h:r * pitch + h + strip] = float("nan")  # NaN shows as the white background
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * pitch:r * pitch + h, c * (w + 1):c * (w + 1) + w] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(ncols * 0.9, nrows * 0.9 * pitch / (h + 1) + 0.4))
    ax.imshow(canvas.numpy(), cmap="gray", vmin=0, vmax=1)
    for i, label in enumerate(labels if labels is not None else []):
        r, c = divmod(i, ncols)
        ax.text(c * (w + 1) + w / 2, r * pitch + h + strip / 2, str(label), ha="center", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
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
    codes, labels = codes.detach().cpu().numpy(), labels.detach().cpu().numpy()
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


# --- Lesson 06: sprites per factor, latent traversals, KL per latent, the β sweep ---

def show_factor_examples(resolution: int = 64, count: int = 8) -> plt.Figure:
    """One row per dSprites factor: sprites in which only that factor changes (``count`` of its values,
    or all of them when it has fewer: 3 shapes, 6 scales)."""
    from vaecourse import dsprites

    names = dsprites.FACTOR_NAMES
    fig, axes = plt.subplots(len(names), 1, figsize=(count * 1.3, len(names) * 1.5), layout="constrained")
    for ax, name in zip(axes, names):
        k = names.index(name)
        sweep = dsprites.factor_sweep(name, base=(2, 5, 0, 16, 16), resolution=resolution,  # a heart shows angles
                                      count=min(count, dsprites.FACTOR_SIZES[k]))
        labels = [dsprites.SHAPES[int(v)] if name == "shape" else f"{v:.2f}" for v in sweep.values[:, k].tolist()]
        image_grid(sweep.images, ncols=len(sweep), ax=ax, title=name, labels=labels)
    fig.suptitle(f"The five factors of variation ({resolution}×{resolution} pixels)")
    return fig


@torch.no_grad()
def latent_traversal(model: torch.nn.Module, x: torch.Tensor, limit: float = 3.0, steps: int = 9) -> torch.Tensor:
    """Decode the code of image ``x`` (1, 1, R, R) with one latent at a time swept over [−limit, limit]
    and the others kept at x's posterior mean: pixel probabilities of shape (latent_dim, steps, 1, R, R).
    A flat digit ``x`` (1, 784) gives flat images, (latent_dim, steps, 784)."""
    mu, _ = model.encode(x)
    latent_dim = mu.shape[1]
    values = torch.linspace(-limit, limit, steps, device=mu.device)
    z = mu.repeat(latent_dim * steps, 1)
    for j in range(latent_dim):
        z[j * steps:(j + 1) * steps, j] = values
    images = torch.sigmoid(model.decode(z))
    return images.reshape(latent_dim, steps, *images.shape[1:])


def show_traversals(model: torch.nn.Module, x: torch.Tensor, kl: torch.Tensor, active: torch.Tensor,
                    title: str = "Latent traversals", limit: float = 3.0, steps: int = 9,
                    ax: plt.Axes | None = None) -> plt.Axes:
    """Latent traversals, one row per latent ordered by its KL (largest first); inactive latents are marked."""
    images = latent_traversal(model, x, limit, steps)
    order = torch.argsort(kl.cpu(), descending=True)
    latent_dim = len(order)
    if ax is None:
        _, ax = plt.subplots(figsize=(steps * 0.6 + 1.6, latent_dim * 0.6 + 0.6))
    image_grid(images[order].flatten(0, 1), ncols=steps, ax=ax, title=title)
    side = as_images(images[0]).shape[-1]  # (1, R, R) sprites or flat 784-pixel digits
    ax.set_yticks([r * (side + 1) + side / 2 for r in range(latent_dim)])
    ax.set_yticklabels([f"z{j}  KL {float(kl[j]):.2f}" + ("" if active[j] else "  (inactive)") for j in order.tolist()],
                       fontsize=8)
    ax.set_xticks([c * (side + 1) + side / 2 for c in (0, steps // 2, steps - 1)])
    ax.set_xticklabels([f"{-limit:g}", "mean", f"+{limit:g}"], fontsize=8)
    ax.set_xlabel("value of the swept latent (others at the image's posterior mean)")
    return ax


def show_kl_per_latent(kl: torch.Tensor, active: torch.Tensor, title: str = "KL per latent",
                       ax: plt.Axes | None = None) -> plt.Axes:
    """Bar plot of each latent's KL to the prior (nats per image), its value written above each bar.

    An inactive latent's bar has (almost) no height, so its column is shaded grey and labelled instead.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    kl, active = kl.detach().cpu().tolist(), active.cpu().tolist()
    ax.bar(range(len(kl)), kl, color="tab:blue")
    for j, (value, is_active) in enumerate(zip(kl, active)):
        if not is_active:
            ax.axvspan(j - 0.5, j + 0.5, color="lightgrey", alpha=0.6, lw=0)
        ax.annotate(f"{value:.2f}", (j, value), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
    ax.set_xticks(range(len(kl)))
    ax.set_xticklabels([f"z{j}" for j in range(len(kl))], fontsize=8)
    for label, is_active in zip(ax.get_xticklabels(), active):
        label.set_color("black" if is_active else "grey")
    ax.set_xlim(-0.5, len(kl) - 0.5)
    ax.set_ylim(0, max(ax.get_ylim()[1], max(kl + [0.1]) * 1.15))  # room for the labels; never shrink a shared axis
    ax.set(title=title, xlabel="latent (grey column: inactive, KL ≈ 0)", ylabel="KL (nats per image)")
    return ax


def plot_rate_distortion(results: dict[float, dict], title: str, highlight: float | None = None,
                         ax: plt.Axes | None = None) -> plt.Axes:
    """One point per β: rate (``results[β]["kl"]``) against distortion (``results[β]["recon"]``), both in
    nats per image, joined in order of β and labelled; the point at ``highlight`` is drawn large and red."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.8))
    betas = sorted(results)
    ax.plot([results[b]["kl"] for b in betas], [results[b]["recon"] for b in betas], marker="o", color="C0")
    for b in betas:
        ax.annotate(f"β={b:g}", (results[b]["kl"], results[b]["recon"]), textcoords="offset points", xytext=(5, 5))
    if highlight is not None:
        ax.plot(results[highlight]["kl"], results[highlight]["recon"], marker="o", markersize=14, color="C3", zorder=3)
    ax.set(title=title, xlabel="rate: KL(q(z|x) ‖ p(z)) (nats per image)",
           ylabel="distortion: E[−log p(x|z)] (nats per image)")
    ax.grid(alpha=0.3)
    return ax


def show_beta_sweep(records: Sequence[dict]) -> plt.Figure:
    """The β sweep on one figure: rate–distortion (KL against reconstruction) and MIG against β.

    Each record is a dict with ``beta``, ``recon``, ``kl`` and ``mig`` (as written by the sweep script),
    and optionally ``seed``: the seed-0 models (or all, if no seeds are given) are joined by a line,
    models trained with other seeds are drawn as open circles beside them, to show the spread.
    """
    main = sorted((r for r in records if r.get("seed", 0) == 0), key=lambda r: r["beta"])
    others = [r for r in records if r.get("seed", 0) != 0]
    betas = [r["beta"] for r in main]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    plot_rate_distortion({r["beta"]: r for r in main}, "Rate–distortion", ax=left)
    right.plot(betas, [r["mig"] for r in main], marker="o", color="tab:green", label="seed 0")
    for ax, x, y in ((left, "kl", "recon"), (right, "beta", "mig")):
        if others:
            ax.scatter([r[x] for r in others], [r[y] for r in others], facecolors="none", edgecolors="black",
                       zorder=3, label="other seeds")
    right.set_xscale("log", base=2)
    right.set_xticks(betas)
    right.set_xticklabels([f"{b:g}" for b in betas])
    right.set(title="Disentanglement", xlabel="β", ylabel="MIG",
              ylim=(0, max(0.5, *[r["mig"] for r in records])))
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("The β sweep: more β, fewer nats in z; disentanglement measured by MIG")
    return fig


def show_mig_over_time(histories: dict[str, History], ax: plt.Axes | None = None) -> plt.Axes:
    """MIG logged during training, one line per run: against training steps when the history has ``step``
    (comparable across machines), else against training minutes (``train_s``, else ``seconds``)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    by_step = all("step" in history for history in histories.values())
    for label, history in histories.items():
        x = history["step"] if by_step else [s / 60 for s in history.get("train_s", history.get("seconds"))]
        ax.plot(x, history["MIG"], marker="o", label=label)
    xlabel = "training steps (batches of 128)" if by_step else "training time (minutes)"
    ax.set(title="MIG during training", xlabel=xlabel, ylabel="MIG")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


# --- Lesson 03: the asymmetry of the KL divergence ---

def show_kl_asymmetry(p, z: torch.Tensor, forward_fit: tuple[float, float], reverse_fit: tuple[float, float],
                      ax: plt.Axes | None = None) -> plt.Axes:
    """A bimodal density ``p`` on the grid ``z`` and the best Gaussian under each direction of the KL:
    ``forward_fit`` = (mean, std) minimising KL(p ‖ q), ``reverse_fit`` minimising KL(q ‖ p)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    ax.fill_between(z, p.log_prob(z).exp(), color="gray", alpha=0.35, label="target p (two bumps)")
    for (mean, std), color, name in ((forward_fit, "C0", "forward KL(p ‖ q): covers both bumps"),
                                     (reverse_fit, "C3", "reverse KL(q ‖ p): sits on one bump")):
        density = torch.distributions.Normal(mean, std).log_prob(z).exp()
        ax.plot(z, density, color=color, lw=2, label=f"best q for {name}, N({mean:.2f}, {std:.2f}²)")
    ax.set(xlabel="z", ylabel="density", title="One Gaussian q fitted to a bimodal p, in each direction of the KL")
    ax.legend(loc="upper right", fontsize=8)
    return ax


# --- Lesson 04: gradient variance against the number of samples ---

def show_variance_by_sample_size(sample_sizes: Sequence[int], measured: dict[str, torch.Tensor],
                                 exact_single: dict[str, torch.Tensor] | None = None,
                                 parameters: Sequence[str] = ("μ", "σ")) -> plt.Figure:
    """Log–log plot, one panel per parameter, of each estimator's measured variance (markers) against the
    number of samples per estimate; ``exact_single`` (variance of one sample) adds the exact line variance/n.

    ``measured[name]`` has shape (len(sample_sizes), len(parameters)).
    """
    sizes = torch.as_tensor(list(sample_sizes), dtype=torch.float64)
    fig, axes = plt.subplots(1, len(parameters), figsize=(5.2 * len(parameters), 3.9), layout="constrained")
    for k, (ax, parameter) in enumerate(zip(axes, parameters)):
        for i, (name, variances) in enumerate(measured.items()):
            color = f"C{i + 2}"
            ax.plot(sizes, variances[:, k], marker="o", ls="none", color=color, label=f"{name} (measured)")
            if exact_single is not None and name in exact_single:
                ax.plot(sizes, exact_single[name][k] / sizes, color=color, lw=1, ls="--", label=f"{name}: exact / n")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel="samples per estimate n", ylabel="variance of the estimate",
               title=f"Estimates of ∂E[f(z)]/∂{parameter}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return fig


# --- Lesson 05: the decoded 2-D latent manifold, and the encoded test set on the same axes ---

LATENT_LIMIT = 3.0   # the manifold, the code scatter and the latent explorer all show z in [−3, 3]²


@torch.no_grad()
def latent_grid(model: torch.nn.Module, n: int = 15, limit: float = LATENT_LIMIT) -> torch.Tensor:
    """Decode an n×n grid of evenly spaced 2-D codes from −``limit`` to ``limit`` on both axes: row 0 is the
    largest z₂, column 0 the smallest z₁ (reading order). Returns pixel probabilities (n², 784)."""
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"the manifold grid needs a model with a 2-D latent; this one has "
                         f"latent_dim = {getattr(model, 'latent_dim', '?')}")
    if not (n >= 2 and limit > 0):
        raise ValueError(f"the grid needs n ≥ 2 points per side and a limit > 0, got n = {n}, limit = {limit}")
    values = torch.linspace(-limit, limit, n)
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")
    device = next(model.parameters()).device
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).to(device)
    return torch.sigmoid(model.decode(z))


def latent_extent(n: int, limit: float = LATENT_LIMIT) -> float:
    """Half the width, in z units, of the square that :func:`show_latent_manifold` fills: the centres of its
    n cells sit at −limit … limit, so the outer edges lie half a cell further out."""
    return limit * n / (n - 1)


def show_latent_manifold(model: torch.nn.Module, n: int = 15, limit: float = LATENT_LIMIT,
                         title: str = "The decoded latent manifold", ax: plt.Axes | None = None) -> plt.Axes:
    """The :func:`latent_grid` as one picture drawn in z coordinates (each digit centred on the code it
    decodes), so it can sit beside a scatter of codes on the same axes (:func:`latent_extent`)."""
    images = latent_grid(model, n, limit)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 6.5))
    image_grid(images, ncols=n, ax=ax, title=title)
    edge = latent_extent(n, limit)
    ax.images[-1].set_extent((-edge, edge, -edge, edge))
    ax.set(xlim=(-edge, edge), ylim=(-edge, edge), xlabel="$z_1$", ylabel="$z_2$")
    ticks = [-limit, -limit / 2, 0, limit / 2, limit]
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    return ax


def codes_outside(codes: torch.Tensor, half_width: float) -> int:
    """How many 2-D ``codes`` fall outside the square [−half_width, half_width]², i.e. off a plot of it."""
    return int((codes.detach().abs() > half_width).any(dim=1).sum())


# --- Lesson 08: the runs of the buggy training script ---

def moving_average(values: Sequence[float], window: int = 20) -> torch.Tensor:
    """The mean of each ``window`` consecutive values (a NaN spoils the windows it falls in)."""
    v = torch.tensor(list(values), dtype=torch.float64)
    if len(v) < window:
        return v
    return v.unfold(0, window, 1).mean(dim=1)


def show_runs(runs: dict, keys: Sequence[str] = ("loss", "recon", "kl"), title: str = "",
              window: int = 20) -> plt.Figure:
    """Training curves of several runs of the script, one panel per logged term, as the script logs them
    (moving averages over ``window`` steps). The y-axis is symmetric-logarithmic: linear within ±1, then
    logarithmic both ways, so a loss of 0.3, one of 500 and a KL of −10²⁹ fit on one panel."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.6), layout="constrained")
    for ax, key in zip(axes, keys):
        for i, (name, run) in enumerate(runs.items()):
            if key in run.steps:
                smoothed = moving_average(run.steps[key], window)
                ax.plot(range(len(run.steps[key]) - len(smoothed) + 1, len(run.steps[key]) + 1), smoothed,
                        color=f"C{i}", label=name)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set(xlabel="training step", ylabel="nats per image, as logged", title=f"{LABELS.get(key, key)} (logged)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def show_run_samples(runs: dict, n: int = 10,
                     title: str = "Samples drawn by each run's own sampling code") -> plt.Figure:
    """One row of ``n`` samples per run (what its script would show as new images), with its honest test ELBO."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(n * 0.9, 1.35 * len(runs)), layout="constrained", squeeze=False)
    for ax, (name, run) in zip(axes[:, 0], runs.items()):
        elbo = f"test ELBO {run.honest['elbo']:.1f}" if run.honest else "no test ELBO: no z to sample"
        image_grid(run.samples[:n].nan_to_num(0.5), ncols=n, ax=ax, title=f"{name} ({elbo})")
    fig.suptitle(title)
    return fig


# --- Lesson 09: the KL's three parts, and the bias of minibatch estimates of log q(z) ---

KL_TERM_NAMES = ("index-code MI", "total correlation", "dimension-wise KL")


def show_kl_terms(groups: dict[str, Sequence[dict[str, float]]], title: str = "The KL's three parts",
                  ax: plt.Axes | None = None) -> plt.Axes:
    """Grouped bars of the three parts of the KL (``KLTerms.parts()`` dicts), one colour per group (say one
    model kind), the bar at the median over the group's members (seeds) and each member drawn as a dot."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(groups)
    for g, (label, members) in enumerate(groups.items()):
        x = [i + (g - (len(groups) - 1) / 2) * width for i in range(len(KL_TERM_NAMES))]
        medians = [statistics.median(m[name] for m in members) for name in KL_TERM_NAMES]
        ax.bar(x, medians, width=width * 0.95, label=label, color=f"C{g}", alpha=0.8)
        for xi, median in zip(x, medians):
            ax.annotate(f"{median:.2f}", (xi, median), textcoords="offset points", xytext=(0, 2), ha="center",
                        fontsize=7)
        if len(members) > 1:
            for i, name in enumerate(KL_TERM_NAMES):
                ax.scatter([x[i]] * len(members), [m[name] for m in members], color="black", s=8, zorder=3)
    ax.set_xticks(range(len(KL_TERM_NAMES)))
    ax.set_xticklabels(KL_TERM_NAMES)
    ax.set(title=title, ylabel="nats per image")
    ax.axhline(0, color="grey", lw=0.8)
    if len(groups) > 1:
        ax.legend(fontsize=8)
    return ax


def show_estimator_bias(bias: dict[str, dict[int, tuple[float, float]]], title: str = "",
                        ax: plt.Axes | None = None) -> plt.Axes:
    """Mean error (± one standard deviation) of each minibatch estimate of log q(z) against the batch size,
    as returned by ``tc.estimator_bias``, with −log M drawn for reference."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, by_size in bias.items():
        sizes = sorted(by_size)
        means, spreads = [by_size[m][0] for m in sizes], [by_size[m][1] for m in sizes]
        ax.errorbar(sizes, means, yerr=spreads, marker="o", capsize=3, label=name)
    sizes = sorted(next(iter(bias.values())))
    ax.plot(sizes, [-math.log(m) for m in sizes], color="grey", ls="--", label="−log M")
    ax.set_xscale("log", base=2)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(title=title or "Minibatch estimates of log q(z): error against the exact value",
           xlabel="batch size M", ylabel="estimate − exact (nats)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax
