"""Training and evaluating β-VAEs on the sprites, the sweep's files, and the lesson-06 figures and widget."""

import json

import ipywidgets
import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vaecourse import beta_vae, dsprites, metrics, models, plots, widgets  # noqa: E402


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = models.ConvVAE(32)
    history = beta_vae.train_beta_vae(model, beta=4.0, steps=6, evaluations=2, batch_size=16, mig_samples=300,
                                      verbose=False)
    return model, history


def test_training_logs_mig_and_training_time(small_model):
    _, history = small_model
    assert len(history["MIG"]) == 2 and all(0 <= m <= 1 for m in history["MIG"])
    assert 0 < history["train_s"][0] < history["train_s"][1] <= history["seconds"][1]
    with pytest.raises(ValueError, match="at least evaluations"):
        beta_vae.train_beta_vae(models.ConvVAE(32), 1.0, steps=2, evaluations=3)
    with pytest.raises(ValueError, match="evaluations must be at least 1"):
        beta_vae.train_beta_vae(models.ConvVAE(32), 1.0, steps=2, evaluations=0)


def test_evaluate_reports_the_sweep_metrics(small_model):
    model, _ = small_model
    result = beta_vae.evaluate(model, n_samples=400)
    assert {"recon", "kl", "kl_per_latent", "active", "active_units", "mig", "mig_per_factor"} <= set(result)
    assert result["recon"] > 0 and result["kl"] >= 0
    assert sum(result["kl_per_latent"]) == pytest.approx(result["kl"], rel=1e-3, abs=1e-3)
    assert sum(result["active"]) == result["active_units"]
    assert list(result["mig_per_factor"]) == list(dsprites.FACTOR_NAMES)
    assert beta_vae.evaluate(model, n_samples=400) == result  # deterministic


def test_checkpoint_paths_and_records(tmp_path):
    assert beta_vae.checkpoint_path(4.0, 32).name == "beta_vae_32px_beta4_seed0.pt"
    assert beta_vae.checkpoint_path(4.0, 32, seed=1).name == "beta_vae_32px_beta4_seed1.pt"
    assert beta_vae.checkpoint_path(0.5, 64, tmp_path, seed=2) == tmp_path / "beta_vae_64px_beta0.5_seed2.pt"
    with pytest.raises(FileNotFoundError, match="train_beta_sweep.py --resolution 32 --seeds 2"):
        beta_vae.load_record(3.0, 32, tmp_path, seed=2)
    record = {key: 1.0 for key in beta_vae.RECORD_KEYS} | {"mig": 0.5}
    (tmp_path / "beta_vae_32px_beta3_seed2.json").write_text(json.dumps(record))
    assert beta_vae.load_record(3.0, 32, tmp_path, seed=2) == record


def test_the_shipped_runs_have_checkpoints_and_records():
    runs = [(beta, 0) for beta in beta_vae.SWEEP_BETAS] + [
        (beta, seed) for beta in beta_vae.SEED_BETAS for seed in beta_vae.SEEDS]
    for beta, seed in runs:
        record = beta_vae.load_record(beta, 32, seed=seed)
        assert beta_vae.checkpoint_path(beta, 32, seed=seed).exists()
        assert (record["beta"], record["seed"], record["steps"]) == (beta, seed, beta_vae.STEPS)
        assert record["steps_per_second"] == pytest.approx(record["steps"] / record["training_seconds"], rel=0.01)


def test_rotated_latents_keep_the_decoder_and_give_the_closest_diagonal_posterior(small_model):
    model, _ = small_model
    x = dsprites.sample(8, resolution=32, seed=2).images
    identity = beta_vae.RotatedLatents(model, torch.eye(10))
    assert metrics.elbo_estimate(identity, x)["elbo"] == pytest.approx(metrics.elbo_estimate(model, x)["elbo"],
                                                                        abs=1e-4)
    rotation, _ = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(0)))
    rotated = beta_vae.RotatedLatents(model, rotation)
    z = torch.randn(5, 10)
    with torch.no_grad():
        assert torch.allclose(rotated.decode(z @ rotation.T), model.decode(z), atol=1e-5)  # same generative model
        mu, logvar = model.encode(x)
        mu_r, logvar_r = rotated.encode(x)
    assert torch.allclose(mu_r, mu @ rotation.T, atol=1e-6)
    order = [1, 0, *range(2, 10)]  # an orthogonal map that only swaps two axes keeps the posterior diagonal
    with torch.no_grad():
        swapped = beta_vae.RotatedLatents(model, torch.eye(10)[order]).encode(x)[1]
    assert torch.allclose(swapped, logvar[:, order], atol=1e-6)
    # the closest diagonal Gaussian: precisions are the diagonal of R Σ⁻¹ Rᵀ, never the marginal variances
    precision = rotation @ torch.diag(torch.exp(-logvar[0])) @ rotation.T
    assert torch.allclose(torch.exp(-logvar_r[0]), torch.diagonal(precision), rtol=1e-4)
    with pytest.raises(ValueError, match="orthogonal"):
        beta_vae.RotatedLatents(model, 2 * torch.eye(10))
    with pytest.raises(ValueError, match="orthogonal"):
        beta_vae.RotatedLatents(model, torch.eye(10)[:5])


def test_lesson_figures(small_model):
    model, history = small_model
    x = dsprites.sample(1, resolution=32).images
    traversal = plots.latent_traversal(model, x, limit=3.0, steps=5)
    assert traversal.shape == (10, 5, 1, 32, 32) and 0 <= traversal.min() and traversal.max() <= 1
    kl = torch.arange(10.0)
    active = kl > 4
    ax = plots.show_traversals(model, x, kl, active, steps=5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("z9") and labels[-1].endswith("(inactive)")  # ordered by KL, inactive marked
    ax = plots.show_kl_per_latent(kl, active)
    shaded = [p for p in ax.patches if p.get_facecolor()[:3] == matplotlib.colors.to_rgb("lightgrey")]
    assert len(shaded) == int((~active).sum())  # inactive latents are marked even though their bars are flat
    assert [t.get_color() for t in ax.get_xticklabels()][:5] == ["grey"] * 5
    records = [{"beta": b, "recon": 100 / b, "kl": 30 / b, "mig": 0.1 * b} for b in (1, 2, 4)]
    fig = plots.show_beta_sweep(records)
    assert len(fig.axes) == 2
    fig = plots.show_beta_sweep(records + [{"beta": 4, "seed": 1, "recon": 20, "kl": 8, "mig": 0.3}])
    assert len(fig.axes[1].lines[0].get_xdata()) == 3 and len(fig.axes[1].collections) == 1  # seed 1 drawn apart
    ax = plots.show_mig_over_time({"β = 4": history})
    assert list(ax.lines[0].get_xdata()) == [3, 6] and "steps" in ax.get_xlabel()
    without_steps = {k: v for k, v in history.items() if k != "step"}
    assert "minutes" in plots.show_mig_over_time({"β = 4": without_steps}).get_xlabel()
    plots.show_factor_examples(resolution=32, count=4)
    plt.close("all")


def test_beta_widget(small_model):
    model, _ = small_model
    gallery = dsprites.sample(50, resolution=32, seed=3)
    sweep, migs = {1.0: model, 4.0: model}, {1.0: 0.1, 4.0: 0.3}
    fig = widgets.show_beta_model(4.0, sweep, gallery, migs, image=7, limit=2.0)
    assert "MIG 0.30" in fig._suptitle.get_text()
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert any("sprite 7 (±2)" in t for t in titles)
    plt.close(fig)
    with pytest.raises(ValueError, match="not in the sweep; choose one of 1, 4"):
        widgets.show_beta_model(3.0, sweep, gallery, migs)
    opened = plt.get_fignums()
    for bad, message in (({"image": 50}, "from 0 to 49"), ({"image": -1}, "from 0 to 49"),
                         ({"limit": 0.0}, "between ±0.5 and ±4"), ({"limit": 9.0}, "between ±0.5 and ±4")):
        with pytest.raises(ValueError, match=message):
            widgets.show_beta_model(4.0, sweep, gallery, migs, **bad)
    assert plt.get_fignums() == opened  # no figure left open by a rejected value
    widget = widgets.make_beta_widget(sweep, gallery, migs, image=5)
    assert isinstance(widget, ipywidgets.VBox)
    dropdown, sprite, limit = widget.children[0].children
    assert list(dropdown.options) == [("β = 1", 1.0), ("β = 4", 4.0)]
    assert isinstance(sprite, ipywidgets.IntSlider) and (sprite.value, sprite.min, sprite.max) == (5, 0, 49)
    assert isinstance(limit, ipywidgets.FloatSlider) and limit.value == 3.0
    dropdown.value, sprite.value, limit.value = 4.0, 9, 1.5  # the plain update function runs without a browser
    with pytest.raises(ValueError, match="from 0 to 49"):
        widgets.make_beta_widget(sweep, gallery, migs, image=50)
    plt.close("all")
