"""Lesson 07's runs: posterior collapse on MNIST, the losses that cause it and three fixes, side by side.

Every run trains the reference ``models.MLPVAE`` (784-400-20) on MNIST's grey values with ``fit``'s
Adam (1e-3), batch 128, the same epochs and seed; only the loss differs (:data:`RUNS`). The lesson and
``scripts/train_collapse.py`` call the same functions, so a model retrained in the notebook is trained
exactly like the shipped one: ``data/checkpoints/collapse_{run}.pt`` (float16) with a ``.json`` record.

The usual tutorial loss, ``F.mse_loss(x̂, x)`` plus the KL, averages the squared error over the 784
pixels: it is a Gaussian decoder with σ² = D/2 = 392 (lesson 07 checks that the gradients agree), so
the KL wins and the latents collapse. The fixes: KL annealing, free bits and a learned σ².
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from vaecourse import losses, metrics, models, train
from vaecourse.train import CHECKPOINTS

DATA_DIM = 784
MEAN_MSE_SIGMA2 = DATA_DIM / 2    # the decoder variance that F.mse_loss's mean over pixels stands for
SUM_MSE_SIGMA2 = 0.5              # ... and that a squared error summed over pixels stands for
EPOCHS = 20                       # every shipped run: 20 epochs of the 60,000 training digits
BATCH_SIZE = 128
LR = 1e-3
WARMUP_FRACTION = 0.5             # KL annealing: β rises from 0 to 1 over the first half of training
FREE_BITS = 0.5                   # free bits: nats per latent that cost nothing (λ)
BLUR_RANGE = (0.1, 0.9)           # a pixel is "grey" when its value lies strictly between these

RUNS = {  # name -> what differs; the decoder each run's test ELBO is measured with is in DECODER_SIGMA2
    "bce_sum": "BCE summed over pixels (Bernoulli decoder)",
    "mse_sum": "squared error summed over pixels (Gaussian decoder, σ² = ½)",
    "mse_mean": "F.mse_loss, a mean over pixels (Gaussian decoder, σ² = 392)",
    "anneal": "mean MSE with KL annealing (β from 0 to 1 over half the epochs)",
    "free_bits": f"mean MSE with free bits (λ = {FREE_BITS:g} nats per latent)",
    "learned_variance": "Gaussian decoder with a learned σ²",
}
DECODER_SIGMA2: dict[str, float | str | None] = {  # None: Bernoulli decoder
    "bce_sum": None, "mse_sum": SUM_MSE_SIGMA2, "mse_mean": MEAN_MSE_SIGMA2, "anneal": MEAN_MSE_SIGMA2,
    "free_bits": MEAN_MSE_SIGMA2, "learned_variance": "learned",
}


def mse_mean_loss(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of many tutorials: ``F.mse_loss`` (a mean over pixels *and* images) + the KL (batch mean)."""
    logits, mu, logvar = model(x)
    recon = F.mse_loss(torch.sigmoid(logits), x)
    kl = losses.gaussian_kl(mu, logvar).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def mse_sum_loss(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Squared error summed over pixels (batch mean) + the KL: a Gaussian decoder with σ² = ½."""
    logits, mu, logvar = model(x)
    recon = losses.squared_error(torch.sigmoid(logits), x).mean()
    kl = losses.gaussian_kl(mu, logvar).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def annealed_loss(warmup_steps: int) -> train.LossFn:
    """:func:`mse_mean_loss` with KL annealing: the KL's weight β rises linearly from 0 to 1 over the first
    ``warmup_steps`` training steps, then stays at 1. Logs β; ``kl`` is the true, unweighted KL."""
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be at least 1, got {warmup_steps}")
    step = 0

    def loss_fn(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal step
        beta = min(1.0, step / warmup_steps)
        step += 1
        terms = mse_mean_loss(model, x)
        return {**terms, "loss": terms["recon"] + beta * terms["kl"], "beta": torch.tensor(beta)}

    return loss_fn


def free_bits_loss(free_bits: float = FREE_BITS, kl_fn: Callable = losses.free_bits_kl) -> train.LossFn:
    """:func:`mse_mean_loss` with free bits: the KL term is the penalty of ``kl_fn(mu, logvar, free_bits)``
    (Σ_j max(λ, KL_j), :func:`vaecourse.losses.free_bits_kl`); ``kl`` logs the true KL beside it."""
    def loss_fn(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, mu, logvar = model(x)
        recon = F.mse_loss(torch.sigmoid(logits), x)
        penalty, kl = kl_fn(mu, logvar, free_bits)
        return {"loss": recon + penalty, "recon": recon, "kl": kl, "penalty": penalty}

    return loss_fn


def learned_variance_loss(model: models.GaussianMLPVAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The true negative ELBO of a Gaussian decoder whose σ² (``model.log_sigma2``) is learned; logs σ²."""
    logits, mu, logvar = model(x)
    recon = losses.gaussian_nll(torch.sigmoid(logits), x, model.log_sigma2).mean()
    kl = losses.gaussian_kl(mu, logvar).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl, "sigma2": model.log_sigma2.exp()}


def bce_sum_loss(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """pytorch/examples' loss: Bernoulli cross-entropy summed over the (grey) pixels + the KL."""
    logits, mu, logvar = model(x)
    return losses.negative_elbo(logits, x, mu, logvar)


def check_run(run: str) -> None:
    """A clear error unless ``run`` is one of :data:`RUNS`."""
    if run not in RUNS:
        raise ValueError(f"unknown run {run!r}; the lesson's runs are {', '.join(RUNS)}")


def loss_for(run: str, warmup_steps: int = 1, kl_fn: Callable = losses.free_bits_kl) -> train.LossFn:
    """The training loss of ``run`` (``warmup_steps`` for KL annealing, ``kl_fn`` for free bits)."""
    check_run(run)
    return {"bce_sum": lambda: bce_sum_loss, "mse_sum": lambda: mse_sum_loss, "mse_mean": lambda: mse_mean_loss,
            "anneal": lambda: annealed_loss(warmup_steps), "free_bits": lambda: free_bits_loss(FREE_BITS, kl_fn),
            "learned_variance": lambda: learned_variance_loss}[run]()


def pixel_variance(x: torch.Tensor) -> float:
    """The average variance of a pixel over the images: the best σ² of a decoder that ignores z."""
    return float(x.var(dim=0).mean())


def make_model(run: str, x_train: torch.Tensor) -> models.MLPVAE:
    """A fresh model for ``run`` on the device of ``x_train``: an MLPVAE, or for ``learned_variance`` a
    GaussianMLPVAE whose log σ² starts at the pixels' average variance (that of a decoder ignoring z)."""
    check_run(run)
    if DECODER_SIGMA2[run] == "learned":
        return models.GaussianMLPVAE(log_sigma2=math.log(pixel_variance(x_train))).to(x_train.device)
    return models.MLPVAE().to(x_train.device)


def train_run(model: models.MLPVAE, run: str, x_train: torch.Tensor, epochs: int = EPOCHS, seed: int = 0,
              kl_fn: Callable = losses.free_bits_kl, verbose: bool = True) -> train.History:
    """Train ``model`` with ``run``'s loss: ``fit`` on the grey values ``x_train``, Adam 1e-3, batch 128.
    KL annealing warms up over the first half of ``epochs``; ``kl_fn`` is the free-bits KL to use."""
    steps = -(-len(x_train) // BATCH_SIZE) * epochs
    loss_fn = loss_for(run, max(1, round(WARMUP_FRACTION * steps)), kl_fn)
    return train.fit(model, x_train, loss_fn, epochs=epochs, batch_size=BATCH_SIZE, lr=LR, seed=seed,
                     verbose=verbose)


def decoder_sigma2(model: models.MLPVAE, run: str) -> float | None:
    """σ² of ``run``'s Gaussian decoder (the learned one for ``learned_variance``); None for Bernoulli."""
    check_run(run)
    value = DECODER_SIGMA2[run]
    return float(model.log_sigma2.detach().exp()) if value == "learned" else value


def blur(images: torch.Tensor, low: float = BLUR_RANGE[0], high: float = BLUR_RANGE[1]) -> float:
    """The fraction of pixels that are neither dark nor bright: strictly between ``low`` and ``high``."""
    return float(((images > low) & (images < high)).float().mean())


def gaussian_elbo(squared_error: float, kl: float, sigma2: float, data_dim: int = DATA_DIM) -> float:
    """The ELBO of a Gaussian decoder N(x̂, σ² I) from its expected squared error per image and its KL:
    −(E‖x − x̂‖² / (2σ²) + (D/2) log(2πσ²)) − KL. One set of decoded samples serves every σ²."""
    return -(squared_error / (2 * sigma2) + 0.5 * data_dim * math.log(2 * math.pi * sigma2)) - kl


def evaluate(model: models.MLPVAE, run: str, x_test: torch.Tensor, x_calibrate: torch.Tensor,
             n_samples: int = 10, seed: int = 0) -> dict:
    """Everything the lesson compares, on the test images (grey values), with z sampled from q(z|x):

    * ``active_units``, ``kl`` and ``kl_per_latent`` (nats per image);
    * ``squared_error``: E_q ‖x − x̂(z)‖² per image, the distortion every run can be compared on;
    * ``elbo``: the true test ELBO under the run's own decoder (β = 1, no free bits): Bernoulli on grey values
      for ``bce_sum`` (pytorch/examples' test loss, negated), else Gaussian with the run's σ²;
    * ``calibrated_sigma2``: the squared error per pixel on ``x_calibrate`` (training images), the best σ² for
      this encoder and decoder mean; ``calibrated_elbo``: the test ELBO of a Gaussian decoder with it.
    """
    mu, logvar = metrics.encode_means(model, x_test)
    error = metrics.elbo_estimate(model, x_test, n_samples, log_likelihood=metrics.negative_squared_error, seed=seed)
    sigma2 = decoder_sigma2(model, run)
    if sigma2 is None:
        elbo = metrics.elbo_estimate(model, x_test, n_samples, seed=seed)["elbo"]
    else:
        elbo = gaussian_elbo(error["recon"], error["kl"], sigma2, x_test[0].numel())
    calibration = metrics.elbo_estimate(model, x_calibrate, n_samples, log_likelihood=metrics.negative_squared_error,
                                        seed=seed)
    calibrated_sigma2 = calibration["recon"] / x_test[0].numel()
    return {"active_units": metrics.active_units(mu), "kl": error["kl"],
            "kl_per_latent": [round(v, 4) for v in metrics.kl_per_latent(mu, logvar).tolist()],
            "squared_error": error["recon"], "decoder_sigma2": sigma2, "elbo": elbo,
            "calibrated_sigma2": calibrated_sigma2,
            "calibrated_elbo": gaussian_elbo(error["recon"], error["kl"], calibrated_sigma2, x_test[0].numel())}


def checkpoint_path(run: str, folder: Path = CHECKPOINTS) -> Path:
    """Where a shipped run lives, e.g. ``data/checkpoints/collapse_free_bits.pt``."""
    check_run(run)
    return Path(folder) / f"collapse_{run}.pt"


def load_record(run: str, folder: Path = CHECKPOINTS) -> dict:
    """The record written beside a shipped run by ``scripts/train_collapse.py``."""
    return train.load_record(checkpoint_path(run, folder), "run scripts/train_collapse.py to make the lesson's models",
                             ("epochs", "train_images", "active_units", "kl"))
