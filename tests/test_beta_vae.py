"""Training and evaluating β-VAEs on the sprites, the sweep's files, and the lesson-06 figures and widget."""

import json

import ipywidgets
import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vaecourse import beta_vae, dsprites, models, plots, widgets  # noqa: E402


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
    assert beta_vae.checkpoint_path(4.0, 32).name == "beta_vae_32px_beta4.pt"
    assert beta_vae.checkpoint_path(0.5, 64, tmp_path) == tmp_path / "beta_vae_64px_beta0.5.pt"
    with pytest.raises(FileNotFoundError, match="train_beta_sweep.py"):
        beta_vae.load_record(3.0, 32, tmp_path)
    record = {key: 1.0 for key in beta_vae.RECORD_KEYS} | {"mig": 0.5}
    (tmp_path / "beta_vae_32px_beta3.json").write_text(json.dumps(record))
    assert beta_vae.load_record(3.0, 32, tmp_path) == record


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
    plots.show_kl_per_latent(kl, active)
    records = [{"beta": b, "recon": 100 / b, "kl": 30 / b, "mig": 0.1 * b} for b in (1, 2, 4)]
    fig = plots.show_beta_sweep(records)
    assert len(fig.axes) == 2
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
    fig = widgets.show_beta_model(4.0, sweep, gallery, migs)
    assert "MIG 0.30" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="not in the sweep; choose one of 1, 4"):
        widgets.show_beta_model(3.0, sweep, gallery, migs)
    widget = widgets.make_beta_widget(sweep, gallery, migs)
    assert isinstance(widget, ipywidgets.VBox)
    dropdown = widget.children[0]
    assert list(dropdown.options) == [("β = 1", 1.0), ("β = 4", 4.0)]
    dropdown.value = 4.0  # the plain update function runs without a browser
    plt.close("all")
