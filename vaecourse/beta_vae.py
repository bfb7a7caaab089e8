"""Training and judging β-VAEs on the dSprites-style sprites, and the β sweep that ships with the course.

One function trains (``fit`` on fresh random sprites, MIG logged a few times), one evaluates
(reconstruction, KL, KL per latent, active units, MIG), and one loads the shipped sweep:
``data/checkpoints/beta_vae_{R}px_beta{β}_seed{s}.pt`` with its record ``.json`` beside it, both written
by ``scripts/train_beta_sweep.py``: β = 1, 2, 4, 8, 16 with seed 0, and seeds 1 and 2 as well for
β = 1 and β = 4, so the spread between training runs can be seen. Lesson 06 and the script use the
same functions, so a model trained in the notebook is trained exactly like the shipped ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from vaecourse import dsprites, losses, metrics, models, train
from vaecourse.train import CHECKPOINTS

SWEEP_BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)
SEED_BETAS = (1.0, 4.0)  # the β values shipped with three training seeds each
SEEDS = (0, 1, 2)
STEPS = 7200          # training steps per model in the shipped sweep (about 5 minutes on 2 CPU cores)
TRAVERSED_SPRITE = (0, 5, 5, 10, 20)  # factor indices of the sprite lesson 06 traverses: the largest square,
                                      # turned 46°, left of and below the middle, so every latent has room to move it
BATCH_SIZE = 128
LR = 5e-4


def checkpoint_path(beta: float, resolution: int = 32, folder: Path = CHECKPOINTS, *, seed: int = 0) -> Path:
    """Where the sweep's model for ``beta`` and training ``seed`` lives,
    e.g. ``data/checkpoints/beta_vae_32px_beta4_seed1.pt``."""
    return Path(folder) / f"beta_vae_{resolution}px_beta{beta:g}_seed{seed}.pt"


def train_beta_vae(model: models.ConvVAE, beta: float, steps: int = STEPS, evaluations: int = 9,
                   batch_size: int = BATCH_SIZE, lr: float = LR, seed: int = 0, mig_samples: int = 10_000,
                   verbose: bool = True, loss_fn: train.LossFn | None = None) -> train.History:
    """Train ``model`` with the β-VAE loss on fresh random sprites at its resolution, for ``steps`` steps.

    Another ``loss_fn`` (lesson 09's β-TCVAE loss) trains on the same sprites, steps and batches instead.

    MIG is measured ``evaluations`` times along the way (on ``mig_samples`` sprites) and logged with
    ``step`` (steps done) and ``train_s``, the training time so far without the time spent measuring.
    """
    if evaluations < 1 or steps < evaluations:
        raise ValueError(f"evaluations must be at least 1 and steps at least evaluations; got steps = {steps}, "
                         f"evaluations = {evaluations}.")
    device = next(model.parameters()).device
    if device.type == "cpu":
        model.to(memory_format=torch.channels_last)  # the same numbers, ~20% faster convolutions on a CPU
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    eval_seconds = 0.0

    def log_mig(epoch: int, net: torch.nn.Module) -> dict[str, float]:
        nonlocal eval_seconds
        began = time.perf_counter()
        score = metrics.sprites_mig(net, mig_samples).score
        eval_seconds += time.perf_counter() - began
        return {"MIG": score, "train_s": time.perf_counter() - start - eval_seconds,
                "step": epoch * (steps // evaluations)}

    return train.fit(model, dsprites.make_batch_fn(model.resolution, seed=seed, device=device),
                     loss_fn or losses.beta_vae_loss(beta), epochs=evaluations, steps_per_epoch=steps // evaluations,
                     batch_size=batch_size, optimizer=optimizer, seed=seed, callback=log_mig, verbose=verbose,
                     print_every=1)


@torch.no_grad()
def evaluate(model: models.ConvVAE, n_samples: int = 10_000, seed: int = 1) -> dict:
    """Reconstruction −log p(x|z) and KL (nats per image, z sampled from q), KL per latent, which latents
    are active (and how many), and MIG (with its per-factor parts) on ``n_samples`` fresh sprites."""
    device = next(model.parameters()).device
    sprites = dsprites.sample(n_samples, resolution=model.resolution, seed=seed, device=device)
    mu, logvar = metrics.encode_means(model, sprites.images)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        recon = torch.cat([losses.bernoulli_nll(model.decode(models.reparameterize(m, lv)), x)
                           for m, lv, x in zip(mu.split(1000), logvar.split(1000), sprites.images.split(1000))])
    mig = metrics.mutual_information_gap(mu, sprites.indices)
    return {"recon": float(recon.mean()), "kl": float(losses.gaussian_kl(mu, logvar).mean()),
            "kl_per_latent": [round(v, 4) for v in metrics.kl_per_latent(mu, logvar).tolist()],
            "active": metrics.active_mask(mu).tolist(),
            "active_units": metrics.active_units(mu), "mig": mig.score,
            "mig_per_factor": dict(zip(dsprites.FACTOR_NAMES, [round(v, 4) for v in mig.per_factor.tolist()]))}


RECORD_KEYS = ("device", "note", "steps", "training_seconds", "steps_per_second", "load_average_5min", "recon", "kl",
               "mig")  # what lesson 06 prints from a record


def load_record(beta: float, resolution: int = 32, folder: Path = CHECKPOINTS, *, seed: int = 0) -> dict:
    """The record written beside a shipped checkpoint: how it was made and what it measured.

    A missing or damaged record, or one without :data:`RECORD_KEYS`, is a ``train.RecordError`` naming the
    file and the fix; the lesson catches it and runs on without the recorded numbers.
    """
    return train.load_record(checkpoint_path(beta, resolution, folder, seed=seed),
                             f"run scripts/train_beta_sweep.py --resolution {resolution} --seeds {seed} "
                             "to make the sweep", RECORD_KEYS)


class RotatedLatents(nn.Module):
    """``model`` with its latent space rotated, z' = R z, and still a VAE with a diagonal Gaussian posterior.

    The decoder reads Rᵀz', so the generative model, and with it p(x), is the very same. The encoder's
    posterior N(μ, Σ), rotated, is N(Rμ, RΣRᵀ): no longer diagonal. The diagonal Gaussian closest to it
    (smallest KL(q ‖ N(Rμ, RΣRᵀ))) keeps the mean Rμ and takes its precisions from the diagonal of the
    rotated precision matrix, 1/σ'_j² = (RΣ⁻¹Rᵀ)_jj (Bishop 2006, §10.1.2): that is what ``encode`` returns.
    """

    def __init__(self, model: nn.Module, rotation: torch.Tensor):
        super().__init__()
        eye = torch.eye(len(rotation), device=rotation.device)
        if rotation.ndim != 2 or rotation.shape[0] != rotation.shape[1] or \
                not torch.allclose(rotation @ rotation.T, eye, atol=1e-5):
            raise ValueError("rotation must be a square orthogonal matrix (R Rᵀ = I), e.g. the Q of "
                             "torch.linalg.qr(torch.randn(d, d)).")
        self.model = model
        self.register_buffer("rotation", rotation.float())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.model.encode(x)
        precision = torch.exp(-logvar) @ self.rotation.square().T  # the diagonal of R Σ⁻¹ Rᵀ, per image
        return mu @ self.rotation.T, -torch.log(precision)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z @ self.rotation)  # row vectors: z R = (Rᵀ z')ᵀ
