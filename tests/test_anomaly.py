"""Lesson 10's anomaly test sets and baseline: corruptions do what they say, sprites look like binary sprites,
the PCA error is the distance to the subspace, the detector never sees the held-out digit, and the shipped
detector reproduces its record."""

import pytest
import torch

from vaecourse import anomaly, metrics, models, train, vae_mnist


def test_flip_pixels_flips_the_asked_share_reproducibly():
    x = torch.bernoulli(torch.full((200, 784), 0.2), generator=torch.Generator().manual_seed(0))
    assert torch.equal(anomaly.flip_pixels(x, 0.0), x) and torch.equal(anomaly.flip_pixels(x, 1.0), 1 - x)
    noisy = anomaly.flip_pixels(x, 0.05, seed=3)
    assert torch.equal(noisy, anomaly.flip_pixels(x, 0.05, seed=3))
    assert set(noisy.unique().tolist()) <= {0.0, 1.0}
    assert (noisy != x).double().mean().item() == pytest.approx(0.05, abs=0.005)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        anomaly.flip_pixels(x, 1.5)


def test_occlude_pastes_one_white_square_inside_the_centre():
    blank = anomaly.occlude(torch.zeros(50, 784), size=8, seed=1).reshape(50, 28, 28)
    assert (blank.sum(dim=(1, 2)) == 64).all()
    rows, columns = blank.sum(dim=2) > 0, blank.sum(dim=1) > 0
    assert (rows.sum(1) == 8).all() and (columns.sum(1) == 8).all()          # one 8×8 block, not scattered pixels
    assert not rows[:, :4].any() and not rows[:, 24:].any() and not columns[:, :4].any() and not columns[:, 24:].any()
    assert len({tuple(b.nonzero()[0].tolist()) for b in blank}) > 10         # at many places
    digits = torch.bernoulli(torch.full((5, 784), 0.3), generator=torch.Generator().manual_seed(2))
    covered = anomaly.occlude(digits, seed=4)
    assert ((covered == digits) | (covered == 1)).all()                       # only turns pixels white
    with pytest.raises(ValueError, match="between 1 and 20"):
        anomaly.occlude(digits, size=30)


def test_sprites_are_binary_small_and_reproducible():
    sprites = anomaly.sprite_images(300, seed=0)
    assert sprites.shape == (300, 784) and set(sprites.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(sprites, anomaly.sprite_images(300, seed=0))
    assert 0.005 < sprites.mean().item() < 0.08                               # mostly black: sprites are small
    assert (sprites.sum(dim=1) > 0).all()


def test_pca_error_is_the_squared_distance_to_the_subspace():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g) @ torch.randn(3, 10, generator=g) + torch.randn(10, generator=g)
    mean, components = models.pca(x, 3)
    assert anomaly.pca_error(x, mean, components).max() < 1e-6                # the data lie in a 3-D subspace
    mean, components = models.pca(x, 2)
    expected = (models.pca_reconstruct(x, 2) - x).pow(2).sum(dim=1)
    assert torch.allclose(anomaly.pca_error(x, mean, components), expected, atol=1e-4)


def test_the_detector_is_trained_without_the_held_out_digit(monkeypatch):
    seen = {}
    monkeypatch.setattr(vae_mnist, "train_vae", lambda model, x, **kw: seen.update(x=x, **kw) or {"loss": [1.0]})
    x, y = torch.rand(30, 784), torch.arange(30) % 10
    anomaly.train_without(models.MLPVAE(hidden=8), x, y, held_out=4, epochs=2)
    assert len(seen["x"]) == 27 and seen["epochs"] == 2
    assert not any(torch.equal(row, x[i]) for i in (4, 14, 24) for row in seen["x"])
    with pytest.raises(ValueError, match="digit 0-9"):
        anomaly.train_without(models.MLPVAE(hidden=8), x, y, held_out=10)
    assert anomaly.checkpoint_path(4).name == "vae_mnist_z20_without4.pt"


@pytest.mark.skipif(not anomaly.checkpoint_path().exists(), reason="the detector is not in data/checkpoints")
def test_shipped_detector_reproduces_its_record(full_mnist):
    model = models.MLPVAE()
    history, _ = train.load_checkpoint(anomaly.checkpoint_path(), model)
    record = anomaly.load_record()
    held_out = record["held_out_digit"]
    assert held_out == anomaly.HELD_OUT and len(history["loss"]) == record["epochs"]
    assert record["train_images"] == int((full_mnist.y_train != held_out).sum())
    x_test = vae_mnist.fixed_binarization(full_mnist.x_test)
    recon, kl = metrics.elbo_terms_per_image(model, x_test, seed=record["seed"])
    elbo, seen = -(recon + kl), full_mnist.y_test != held_out
    assert elbo[seen].mean().item() == pytest.approx(record["test_elbo_other_digits"], abs=0.01)
    assert elbo[~seen].mean().item() == pytest.approx(record[f"test_elbo_{held_out}s"], abs=0.01)
    auroc = metrics.auroc(-elbo[seen], -elbo[~seen])
    assert auroc == pytest.approx(record[f"auroc_{held_out}s_by_minus_elbo"], abs=1e-4)
