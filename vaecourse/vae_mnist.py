"""Lesson 05's VAE on MNIST: the training recipe, the honest evaluation and the shipped checkpoints.

The lesson and ``scripts/train_checkpoints.py`` call the same functions, so a model retrained in the
notebook is trained exactly like the shipped one. The recipe is the reference of pytorch/examples
(``models.MLPVAE``, 784-400-20, Adam 1e-3, batch 128) trained on *dynamically binarized* digits
(a fresh Bernoulli draw of every pixel in every batch, as in Burda et al., 2016), so that the
Bernoulli decoder's log-likelihood is a true probability of binary images. The test set is binarized
once, with a fixed seed, so every learner scores the same images.

Shipped checkpoints: ``data/checkpoints/vae_mnist_z{latent_dim}_beta{β}.pt`` (float16 weights) with a
``.json`` record beside each (command, seed, date, device, data, metrics).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vaecourse import data, losses, metrics, models, train
from vaecourse.train import CHECKPOINTS

BATCH_SIZE = 128
LR = 1e-3
EPOCHS = 50                 # over MNIST's 60,000 training digits (pytorch/examples stops at 10)
SWEEP_BETAS = (0.25, 1.0, 4.0, 16.0)
TEST_SEED = 1234


def checkpoint_path(latent_dim: int = 20, beta: float = 1.0, folder: Path = CHECKPOINTS) -> Path:
    """Where a shipped model lives, e.g. ``data/checkpoints/vae_mnist_z20_beta1.pt``."""
    return Path(folder) / f"vae_mnist_z{latent_dim}_beta{beta:g}.pt"


def fixed_binarization(x: torch.Tensor, seed: int = TEST_SEED) -> torch.Tensor:
    """Binarize ``x`` once with a fixed seed: every pixel is 1 with probability its grey value.

    Used for the test set, so that the test ELBO and IWAE numbers are log-probabilities of the same
    binary images for everyone (training uses a fresh draw per batch instead).
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=generator)


def train_vae(model: models.MLPVAE, x_train: torch.Tensor, beta: float = 1.0, epochs: int = EPOCHS,
              seed: int = 0, verbose: bool = True) -> train.History:
    """Train with the (β-)ELBO on dynamically binarized batches of ``x_train`` (grey values in [0, 1]):
    ``fit`` with the lesson's recipe."""
    data.check_grey_values(x_train, "train_vae binarizes every batch with them as probabilities")
    return train.fit(model, x_train, losses.beta_vae_loss(beta), epochs=epochs, batch_size=BATCH_SIZE, lr=LR,
                     batch_transform=data.binarize_dynamic, seed=seed, verbose=verbose)


def evaluate(model: torch.nn.Module, x_test_binary: torch.Tensor, n_samples: int = 10, k: int = 5000,
             n_iwae: int | None = None, seed: int = 0) -> dict:
    """The test ELBO (and its terms) on all of ``x_test_binary``, and the IWAE bound with ``k`` samples
    on its first ``n_iwae`` images (all by default), with the ELBO of those same images for comparison."""
    result = metrics.elbo_estimate(model, x_test_binary, n_samples=n_samples, seed=seed)
    subset = x_test_binary[:n_iwae]
    iwae = float(metrics.iwae_bound(model, subset, k=k, seed=seed).mean())
    subset_elbo = metrics.elbo_estimate(model, subset, n_samples=n_samples, seed=seed)["elbo"]
    mu, _ = metrics.encode_means(model, x_test_binary)
    return {**result, "iwae": iwae, "iwae_k": k, "iwae_images": len(subset), "elbo_same_images": subset_elbo,
            "active_units": metrics.active_units(mu), "test_images": len(x_test_binary)}


RECORD_KEYS = ("data", "epochs", "device", "elbo", "recon", "kl", "iwae", "iwae_k", "iwae_images",
               "elbo_same_images")  # what lesson 05 prints from a record


def load_record(latent_dim: int = 20, beta: float = 1.0, folder: Path = CHECKPOINTS) -> dict:
    """The record written beside a shipped checkpoint by ``scripts/train_checkpoints.py``.

    A missing or damaged record, or one without :data:`RECORD_KEYS`, is a ``train.RecordError`` naming the
    file and the fix; the lesson catches it and runs on without the recorded numbers.
    """
    return train.load_record(checkpoint_path(latent_dim, beta, folder),
                             "run scripts/train_checkpoints.py to make the lesson's checkpoints", RECORD_KEYS)


def pytorch_examples_test_loss(digits: data.Digits, epochs: int = 10, seed: int = 0,
                               verbose: bool = True) -> float:
    """Train the reference setup of pytorch/examples ``vae`` and return its test loss (nats per image).

    784-400-20, Adam 1e-3, batch 128, ``epochs`` (their 10) on the *grey values* (no binarization), and the test loss as
    they compute it, BCE + KL per test image (10 z samples per image here, 1 there: the same expectation).
    Their loop reaches 105.6 on full MNIST (``scripts/bench_fit.py`` measures both loops side by side).
    """
    device = digits.x_train.device
    torch.manual_seed(seed)
    model = models.MLPVAE().to(device)
    train.fit(model, digits.x_train, losses.beta_vae_loss(1.0), epochs=epochs, batch_size=128, lr=1e-3, seed=seed,
              verbose=verbose)
    return -metrics.elbo_estimate(model, digits.x_test, n_samples=10, seed=seed)["elbo"]
