"""Lesson 05's recipe (vae_mnist) and the checkpoints that ship with it: every recorded number still holds."""

import json

import pytest
import torch

from vaecourse import data, metrics, models, train, vae_mnist

SHIPPED = sorted(vae_mnist.CHECKPOINTS.glob("vae_mnist_z*_beta*.pt"))


def test_checkpoint_names():
    assert vae_mnist.checkpoint_path(20, 1.0).name == "vae_mnist_z20_beta1.pt"
    assert vae_mnist.checkpoint_path(20, 0.25).name == "vae_mnist_z20_beta0.25.pt"
    assert vae_mnist.checkpoint_path(2).parent == vae_mnist.CHECKPOINTS


def test_fixed_binarization_is_binary_and_the_same_every_time():
    x = torch.rand(50, 784)
    once, again = vae_mnist.fixed_binarization(x), vae_mnist.fixed_binarization(x)
    assert torch.equal(once, again) and set(once.unique().tolist()) <= {0.0, 1.0}
    assert abs(once.mean().item() - x.mean().item()) < 0.01
    assert not torch.equal(once, vae_mnist.fixed_binarization(x, seed=1))


def test_train_vae_uses_fresh_binary_batches_and_lowers_the_loss():
    digits = data.load_mnist()
    seen = []
    model = models.MLPVAE(hidden=64, latent_dim=4)
    original_fit = train.fit

    def spy_fit(*args, **kwargs):
        transform = kwargs["batch_transform"]
        kwargs["batch_transform"] = lambda xb: seen.append(transform(xb)) or seen[-1]
        return original_fit(*args, **kwargs)

    train.fit = spy_fit
    try:
        history = vae_mnist.train_vae(model, digits.x_train[:512], epochs=3, verbose=False)
    finally:
        train.fit = original_fit
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    assert all(set(b.unique().tolist()) <= {0.0, 1.0} for b in seen)
    assert len(seen) == 3 * 4 and len(seen[0]) == vae_mnist.BATCH_SIZE


def test_evaluate_reports_elbo_iwae_and_active_units():
    torch.manual_seed(0)
    model = models.MLPVAE(hidden=32, latent_dim=3)
    x = vae_mnist.fixed_binarization(torch.rand(40, 784) * 0.3)
    result = vae_mnist.evaluate(model, x, n_samples=4, k=50, n_iwae=10)
    assert result["test_images"] == 40 and result["iwae_images"] == 10 and result["iwae_k"] == 50
    assert result["elbo"] == pytest.approx(-(result["recon"] + result["kl"]))
    assert result["iwae"] > result["elbo_same_images"]
    assert 0 <= result["active_units"] <= 3


@pytest.mark.skipif(not SHIPPED, reason="lesson 05's checkpoints are not in data/checkpoints")
def test_shipped_checkpoints_load_and_reproduce_their_recorded_elbo():
    digits = data.load_mnist()
    x_test = vae_mnist.fixed_binarization(digits.x_test)
    assert len(SHIPPED) == 5
    assert len(x_test) == 10_000                                # MNIST's own test set, all of it
    total_bytes = 0
    for path in SHIPPED:
        record = json.loads(path.with_suffix(".json").read_text())
        assert {"command", "seed", "date", "device", "elbo", "iwae", "iwae_k"} <= set(record)
        model = models.MLPVAE(latent_dim=record["latent_dim"])
        history, meta = train.load_checkpoint(path, model)
        assert len(history["loss"]) == record["epochs"] and meta["beta"] == record["beta"]
        elbo = metrics.elbo_estimate(model, x_test, n_samples=10, seed=record["seed"])
        assert elbo["elbo"] == pytest.approx(record["elbo"], abs=0.05), path.name
        assert record["iwae"] > record["elbo_same_images"]
        total_bytes += path.stat().st_size
    assert total_bytes < 8e6, "keep the shipped checkpoints small"


def test_missing_record_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_checkpoints.py"):
        vae_mnist.load_record(20, 1.0, folder=tmp_path)


def test_train_vae_checks_its_arguments_before_training():
    model = models.MLPVAE(hidden=16, latent_dim=2)
    x = torch.rand(64, 784)
    with pytest.raises(ValueError, match="epochs must be a whole number ≥ 1; got 0"):  # not "0 means default"
        vae_mnist.train_vae(model, x, epochs=0, verbose=False)
    with pytest.raises(ValueError, match="grey values in \\[0, 1\\].*from 0 to 255: divide pixel bytes by 255"):
        vae_mnist.train_vae(model, (x * 255).round(), epochs=1, verbose=False)
    with pytest.raises(ValueError, match="from -1.5 to"):  # normalised by a mean and std
        vae_mnist.train_vae(model, torch.cat([x, torch.full((1, 784), -1.5)]), epochs=1, verbose=False)
    with pytest.raises(ValueError, match="NaN or infinite"):
        vae_mnist.train_vae(model, torch.cat([x, torch.full((1, 784), float("nan"))]), epochs=1, verbose=False)
