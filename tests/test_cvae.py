"""Lesson 10's conditional VAE: shapes, the label really conditions both networks, sampling a chosen digit,
style transfer, the conditional ELBO, the training recipe (fit over (images, labels) batches), and the shipped
model reproduces its record."""

import math

import pytest
import torch

from vaecourse import classifier, cvae_mnist, losses, models, train, vae_mnist


@pytest.fixture
def cvae():
    torch.manual_seed(0)
    return models.ConditionalVAE(hidden=32, latent_dim=4).eval()


def test_shapes_and_parameter_count():
    model = models.ConditionalVAE()
    n = sum(p.numel() for p in model.parameters())
    assert n == (794 * 400 + 400) + 2 * (400 * 20 + 20) + (30 * 400 + 400) + (400 * 784 + 784)
    x, y = torch.rand(5, 784), torch.tensor([0, 3, 9, 3, 1])
    logits, mu, logvar = model(x, y)
    assert logits.shape == (5, 784) and mu.shape == logvar.shape == (5, 20)


def test_the_label_conditions_the_encoder_and_the_decoder(cvae):
    x, z = torch.rand(1, 784).expand(2, -1), torch.randn(1, 4).expand(2, -1)
    y = torch.tensor([2, 7])
    with torch.no_grad():
        mu, _ = cvae.encode(x, y)
        images = cvae.decode(z, y)
    assert not torch.allclose(mu[0], mu[1]) and not torch.allclose(images[0], images[1])
    assert torch.equal(models.one_hot_labels(y, 10)[1], torch.eye(10)[7])


@pytest.mark.parametrize("labels, words", [(torch.tensor([0.0, 1.0]), "integer"), (torch.tensor([[1, 2]]), "1-D"),
                                           (torch.tensor([3, 10]), r"0 \.\. 9"), (torch.tensor([-1]), r"0 \.\. 9")])
def test_bad_labels_are_refused_with_a_clear_message(cvae, labels, words):
    with pytest.raises(ValueError, match=words):
        cvae_mnist.generate(cvae, labels)


def test_generate_draws_the_asked_digits_reproducibly(cvae):
    labels = torch.tensor([1, 1, 5])
    images = cvae_mnist.generate(cvae, labels, seed=3)
    assert images.shape == (3, 784) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, cvae_mnist.generate(cvae, labels, seed=3))
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(images, torch.sigmoid(cvae.decode(z, labels)))
        cooler = cvae_mnist.generate(cvae, labels, seed=3, temperature=0.5)
        assert torch.allclose(cooler, torch.sigmoid(cvae.decode(0.5 * z, labels)))
    with pytest.raises(ValueError, match="temperature must be positive"):
        cvae_mnist.generate(cvae, labels, temperature=0.0)


def test_style_transfer_decodes_each_code_as_every_target(cvae):
    x, y = torch.rand(3, 784), torch.tensor([4, 0, 8])
    out = cvae_mnist.transfer_style(cvae, x, y, targets=(0, 4, 8))
    assert out.shape == (3, 3, 784)
    with torch.no_grad():
        mu, _ = cvae.encode(x, y)
        own = torch.sigmoid(cvae.decode(mu, y))
        as_zero = torch.sigmoid(cvae.decode(mu, torch.zeros(3, dtype=torch.long)))
    assert torch.allclose(out[0, 1], own[0]) and torch.allclose(out[1, 0], own[1]) and torch.allclose(out[2, 2], own[2])
    assert torch.allclose(out[:, 0], as_zero)


def test_with_labels_repeats_the_labels_for_sample_major_codes(cvae):
    y = torch.tensor([1, 6])
    z = torch.randn(3 * 2, 4)                     # 3 samples × 2 images, sample-major
    wrapped = cvae_mnist.WithLabels(cvae, y)
    with torch.no_grad():
        assert torch.allclose(wrapped.decode(z), cvae.decode(z, torch.tensor([1, 6, 1, 6, 1, 6])))
        assert torch.allclose(wrapped.encode(torch.ones(2, 784))[0], cvae.encode(torch.ones(2, 784), y)[0])


def test_conditional_elbo_matches_a_monte_carlo_estimate_by_hand(cvae):
    x = torch.bernoulli(torch.full((6, 784), 0.2), generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    result = cvae_mnist.conditional_elbo(cvae, x, y, n_samples=400, batch_size=4)
    torch.manual_seed(1)
    with torch.no_grad():
        mu, logvar = cvae.encode(x, y)
        recon = torch.stack([losses.bernoulli_nll(cvae.decode(models.reparameterize(mu, logvar), y), x)
                             for _ in range(400)]).mean()
        kl = losses.gaussian_kl(mu, logvar).mean()
    assert result["kl"] == pytest.approx(kl.item(), rel=1e-5)
    assert result["recon"] == pytest.approx(recon.item(), rel=2e-3)
    assert result["elbo"] == pytest.approx(-(result["recon"] + result["kl"]))
    with pytest.raises(ValueError, match="one label per image"):
        cvae_mnist.conditional_elbo(cvae, x, y[:3])


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = models.ConditionalVAE(hidden=32, latent_dim=4)
    x = torch.rand(256, 784) * (torch.arange(784) % 28 < 14)      # half of every image dark: easy to learn
    y = torch.arange(256) % 10
    history = cvae_mnist.train_cvae(model, x, y, epochs=3, verbose=False)
    assert history["loss"][-1] < history["loss"][0] and set(history) >= {"loss", "recon", "kl"}
    assert math.isfinite(history["kl"][-1])


@pytest.mark.skipif(not cvae_mnist.CHECKPOINT.exists(), reason="the conditional VAE is not in data/checkpoints")
def test_shipped_cvae_reproduces_its_record(full_mnist):
    model = models.ConditionalVAE()
    history, _ = train.load_checkpoint(cvae_mnist.CHECKPOINT, model)
    record = cvae_mnist.load_record()
    assert len(history["loss"]) == record["epochs"] and record["train_images"] == len(full_mnist.x_train)
    result = cvae_mnist.conditional_elbo(model, vae_mnist.fixed_binarization(full_mnist.x_test), full_mnist.y_test,
                                         seed=record["seed"])
    for key in ("elbo", "recon", "kl"):
        assert result[key] == pytest.approx(record[f"test_{key}"], abs=0.01), key
    asked = torch.arange(10).repeat_interleave(record["generated_digits"] // 10)
    judge = classifier.load_classifier()
    predicted = classifier.predict_proba(judge, cvae_mnist.generate(model, asked, seed=record["seed"])).argmax(dim=1)
    assert (predicted == asked).double().mean().item() == pytest.approx(record["generated_classified_as_asked"],
                                                                         abs=1e-4)


def test_training_checks_its_data_first():
    model = models.ConditionalVAE(hidden=8, latent_dim=2)
    y = torch.arange(20) % 10
    with pytest.raises(ValueError, match="grey values in"):
        cvae_mnist.train_cvae(model, torch.randint(0, 256, (20, 784)).float(), y, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="dtype torch.uint8"):
        cvae_mnist.train_cvae(model, torch.randint(0, 256, (20, 784), dtype=torch.uint8), y, epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"0 \.\. 9"):
        cvae_mnist.train_cvae(model, torch.rand(20, 784), y + 1, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="same length"):
        cvae_mnist.train_cvae(model, torch.rand(20, 784), y[:10], epochs=1, verbose=False)
