"""Interactive widgets for the lessons: ipywidgets core controls driving matplotlib figures.

Each widget is built by a ``make_..._widget`` function that returns the widget (the notebook calls
``display(...)`` on it). The drawing is a plain function of the control values, so it can be tested
without a browser; out-of-range values raise a clear ``ValueError``. Works with ipywidgets 7.7 and 8.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
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

# --- Lesson 06: pick β from the sweep, see its traversals, reconstructions and MIG/KL side by side ---

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


# --- Lesson 02: move q's mean and standard deviation; see log p(x) = ELBO(q) + KL(q ‖ p(z|x)) ---

def elbo_gap_numbers(model, x, q_mean: float, q_std: float) -> dict[str, float]:
    """log p(x), ELBO(q) and the gap KL(q ‖ p(z|x)) for q = N(q_mean, q_std²) on the toy model's 1-D latent."""
    from vaecourse import toy

    if model.latent_dim != 1:
        raise ValueError(f"the ELBO widget draws a 1-D latent; this model has latent_dim = {model.latent_dim}")
    if not (q_std > 0 and torch.isfinite(torch.tensor([q_mean, q_std])).all()):
        raise ValueError(f"q needs a finite mean and a standard deviation > 0; got mean {q_mean}, std {q_std}")
    q = toy.Gaussian.diagonal([q_mean], [q_std])
    return {"log p(x)": model.log_evidence(x).item(), "ELBO": toy.exact_elbo(model, x, q).item(),
            "KL gap": toy.kl_to_posterior(model, x, q).item()}


def elbo_slider_ranges(model, x) -> tuple[tuple[float, float], tuple[float, float]]:
    """(mean range, std range) for q's sliders: both the prior N(0, 1) and the posterior well inside."""
    posterior_mean = model.posterior(x).mean.item()
    low = float(torch.floor(torch.tensor(min(posterior_mean, 0.0) - 2.5) * 2) / 2)
    high = float(torch.ceil(torch.tensor(max(posterior_mean, 0.0) + 2.5) * 2) / 2)
    return (low, high), (0.05, 2.0)


def plot_elbo_gap(model, x, q_mean: float, q_std: float) -> tuple[plt.Figure, dict[str, float]]:
    """Left: the true posterior p(z|x), q and the prior. Right: bars for log p(x), ELBO(q) and KL(q ‖ p(z|x)).

    Returns the figure and the three numbers. Axis limits depend only on the model and x, so the picture
    stays still while the sliders move.
    """
    numbers = elbo_gap_numbers(model, x, q_mean, q_std)
    (low, high), (std_low, std_high) = elbo_slider_ranges(model, x)
    posterior = model.posterior(x)
    z = torch.linspace(low, high, 400, dtype=torch.float64).unsqueeze(1)
    posterior_density = posterior.log_prob(z).exp()
    q_density = torch.distributions.Normal(q_mean, q_std).log_prob(z[:, 0]).exp()
    prior_density = model.log_prior(z).exp()

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.6, 1], layout="constrained")
    left.fill_between(z[:, 0], posterior_density, alpha=0.3, color="C0", label="true posterior p(z|x)")
    left.plot(z[:, 0], q_density, color="C3", lw=2, label=f"q(z) = N({q_mean:.2f}, {q_std:.2f}²)")
    left.plot(z[:, 0], prior_density, color="gray", ls=":", label="prior p(z) = N(0, 1)")
    left.set(xlim=(low, high), ylim=(0, 2.2 * float(posterior_density.max())), xlabel="z", ylabel="density",
             title="q against the true posterior (a very narrow q is clipped)")
    left.legend(loc="upper right", fontsize=9)

    # The gap is drawn as a floating bar from the ELBO up to log p(x): the two pieces add up to the evidence.
    log_evidence, elbo, gap = numbers["log p(x)"], numbers["ELBO"], numbers["KL gap"]
    right.bar([0, 1], [log_evidence, elbo], color=["C0", "C2"])
    right.bar([2], [gap], bottom=[elbo], color="C3")
    right.axhline(0, color="black", lw=0.8)
    right.axhline(log_evidence, color="C0", ls="--", lw=1)
    for i, (value, y, below) in enumerate([(log_evidence, log_evidence, log_evidence < 0), (elbo, elbo, elbo < 0),
                                           (gap, log_evidence, False)]):
        right.annotate(f"{value:.3f}", (i, y), xytext=(0, -3 if below else 3), textcoords="offset points",
                       ha="center", va="top" if below else "bottom", fontsize=9)
    bottom = 5 * math.floor(1.15 * min(elbo, log_evidence) / 5)  # in steps of 5 nats, so the scale rarely jumps
    right.set_ylim(bottom, max(1.0, 0.1 * -bottom))
    right.set_xticks([0, 1, 2], ["log p(x)", "ELBO(q)", "KL(q ‖ p(z|x))"])
    right.set(ylabel="nats", title="log p(x) = ELBO + KL gap")
    return fig, numbers


def make_elbo_gap_widget(model, x) -> widgets.Widget:
    """Sliders for q's mean and standard deviation above :func:`plot_elbo_gap` (start: q = the prior)."""
    (low, high), (std_low, std_high) = elbo_slider_ranges(model, x)
    style = {"description_width": "initial"}
    mean = widgets.FloatSlider(value=0.0, min=low, max=high, step=0.1, description="mean of q", style=style,
                               continuous_update=True)
    std = widgets.FloatSlider(value=1.0, min=std_low, max=std_high, step=0.05, description="std of q",
                              style=style, continuous_update=True)
    return widgets.VBox([widgets.HBox([mean, std]),
                         live_figure(lambda q_mean, q_std: plot_elbo_gap(model, x, q_mean, q_std)[0],
                                     {"q_mean": mean, "q_std": std})])


# --- Lesson 03: move μ and σ of q = N(μ, σ²); see q against the prior N(0, 1) and KL(q ‖ p) in its two parts ---

KL_MU_RANGE = (-3.0, 3.0)
KL_SIGMA_RANGE = (0.1, 3.0)
KL_AXIS_TOP = 8.0  # nats: above the largest KL on the sliders' ranges (≈ 7.4 at μ = ±3, σ = 3), so the bars stay still


def kl_numbers(mu: float, sigma: float) -> dict[str, float]:
    """KL(N(μ, σ²) ‖ N(0, 1)) and its two parts, the mean penalty ½μ² and the variance penalty ½(σ² − 1 − log σ²)."""
    from vaecourse import kl

    (mu_low, mu_high), (sigma_low, sigma_high) = KL_MU_RANGE, KL_SIGMA_RANGE
    if not (mu_low <= mu <= mu_high and sigma_low <= sigma <= sigma_high):
        raise ValueError(f"the KL widget shows μ in [{mu_low}, {mu_high}] and σ in [{sigma_low}, {sigma_high}]; "
                         f"got μ = {mu}, σ = {sigma}")
    mean_penalty, variance_penalty = (part.item() for part in kl.kl_parts(mu, sigma))
    return {"KL": mean_penalty + variance_penalty, "mean penalty": mean_penalty, "variance penalty": variance_penalty}


def plot_kl(mu: float, sigma: float) -> tuple[plt.Figure, dict[str, float]]:
    """Left: q = N(μ, σ²) and the prior p = N(0, 1). Right: KL(q ‖ p) as a stack of its two parts, beside them.

    Returns the figure and :func:`kl_numbers`. The z axis and the KL axis are fixed, so only the curves move.
    """
    numbers = kl_numbers(mu, sigma)
    z = torch.linspace(-6, 6, 600, dtype=torch.float64)
    q_density = torch.distributions.Normal(float(mu), float(sigma)).log_prob(z).exp()
    prior_density = torch.distributions.Normal(0.0, 1.0).log_prob(z).exp()

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[1.6, 1], layout="constrained")
    left.fill_between(z, prior_density, alpha=0.25, color="gray", label="prior p(z) = N(0, 1)")
    left.plot(z, q_density, color="C3", lw=2, label=f"q(z) = N({mu:.2f}, {sigma:.2f}²)")
    left.set(xlim=(-6, 6), ylim=(0, 1.1 * max(float(prior_density.max()), float(q_density.max()))),
             xlabel="z", ylabel="density", title="The two densities")
    left.legend(loc="upper right", fontsize=9)

    mean_penalty, variance_penalty, total = numbers["mean penalty"], numbers["variance penalty"], numbers["KL"]
    right.bar([0], [mean_penalty], color="C0")
    right.bar([1], [variance_penalty], color="C1")
    right.bar([2], [mean_penalty], color="C0", label="mean penalty ½μ²")
    right.bar([2], [variance_penalty], bottom=[mean_penalty], color="C1", label="variance penalty ½(σ² − 1 − log σ²)")
    for i, value in enumerate([mean_penalty, variance_penalty, total]):
        right.annotate(f"{value:.3f}", (i, value), xytext=(0, 3), textcoords="offset points", ha="center",
                       va="bottom", fontsize=9)
    right.set_xticks([0, 1, 2], ["mean\npenalty", "variance\npenalty", "KL(q ‖ p)"])
    right.set(ylim=(0, KL_AXIS_TOP), ylabel="nats", title=f"KL(q ‖ p) = {total:.3f} nats")
    right.legend(loc="upper left", fontsize=8)
    return fig, numbers


def make_kl_widget() -> widgets.Widget:
    """Sliders for μ and σ of q above :func:`plot_kl` (start: μ = 1, σ = 0.5)."""
    style = {"description_width": "initial"}
    mu = widgets.FloatSlider(value=1.0, min=KL_MU_RANGE[0], max=KL_MU_RANGE[1], step=0.05, description="μ of q",
                             style=style)
    sigma = widgets.FloatSlider(value=0.5, min=KL_SIGMA_RANGE[0], max=KL_SIGMA_RANGE[1], step=0.05,
                                description="σ of q", style=style)
    return widgets.VBox([widgets.HBox([mu, sigma]),
                         live_figure(lambda mu, sigma: plot_kl(mu, sigma)[0], {"mu": mu, "sigma": sigma})])


# --- Lesson 04: move μ and σ; see the samples and how both gradient estimators of ∇E[z²] spread out ---

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
        raise ValueError(f"the gradient widget shows μ in [{mu_low}, {mu_high}] and σ in [{sigma_low}, {sigma_high}]; "
                         f"got μ = {mu}, σ = {sigma}")
    if int(n_samples) != n_samples or n_samples < 1 or n_estimates < 2:
        raise ValueError(f"n_samples must be a whole number ≥ 1 and n_estimates ≥ 2; got {n_samples}, {n_estimates}")
    spreads = {}
    for name, estimator in (("reparameterization", gradients.reparameterization_gradients),
                            ("score function", gradients.score_function_gradients)):
        generator = torch.Generator().manual_seed(seed)
        per_sample = estimator(gradients.square, mu, sigma, int(n_samples) * n_estimates, generator)
        spreads[name] = per_sample.reshape(n_estimates, int(n_samples), 2).mean(dim=1)
    return spreads


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


# --- Lesson 05: the latent explorer (sliders decode live) and the β trade-off explorer ---

def check_latent_values(z_values, latent_dim: int, limit: float) -> torch.Tensor:
    """``z_values`` (one number per slider) as a (1, latent_dim) code, the remaining latents at 0 (the prior mean)."""
    z_values = [float(v) for v in z_values]
    if not 1 <= len(z_values) <= latent_dim:
        raise ValueError(f"give between 1 and {latent_dim} latent values (the model has {latent_dim}); "
                         f"got {len(z_values)}")
    if not all(math.isfinite(v) and abs(v) <= limit for v in z_values):
        raise ValueError(f"latent values must lie in [−{limit:g}, {limit:g}] (where the prior puts its mass); "
                         f"got {z_values}")
    z = torch.zeros(1, latent_dim)
    z[0, :len(z_values)] = torch.tensor(z_values)
    return z


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
        left.plot(*z[0, :2].tolist(), marker="X", markersize=16, color="black", markeredgecolor="white")
        left.set(xlim=(-limit, limit), ylim=(-limit, limit))
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


def plot_tradeoff(beta: float, models: dict, results: dict, x_examples: torch.Tensor, n_samples: int = 16,
                  seed: int = 0) -> plt.Figure:
    """The β-VAE at ``beta`` among the others: where it sits on the distortion–rate plot (``results[β]`` has
    ``recon`` and ``kl``, nats per image), its reconstructions of ``x_examples`` and decoded prior samples
    (the same z for every β, so the pictures compare like with like)."""
    from vaecourse import plots

    model = model_for(beta, models)
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
