"""The linear VAE, solved exactly: when a latent collapses, predicted from the data's eigenvalues.

Beside lesson 02's exact linear-Gaussian model (:mod:`vaecourse.toy`), this is the same generative
model with an *encoder* (Lucas et al., 2019, "Don't blame the ELBO!")::

    p(z) = N(0, I_k),    p(x | z) = N(W z + b, σ² I_D),    q(z | x) = N(V (x − b), diag(s²)).

The encoder's mean is linear in x and its variances s² do not depend on x. Everything is Gaussian and
linear, so the ELBO averaged over a data set depends on the data only through its mean and covariance
S, and it can be computed exactly, without sampling (:func:`average_elbo`). Its decoder *is* lesson 02's
``toy.LinearGaussian`` (:meth:`LinearVAE.generative_model`), so log p(x) is exact too. With β weighting the KL,
its global maximum is probabilistic PCA with noise βσ²: if S = U Λ Uᵀ (eigenvalues λ₁ ≥ λ₂ ≥ …), latent
i (one per eigen-direction) has

    w_i = u_i √(λ_i − βσ²),   encoder row v_i = w_iᵀ / λ_i,   s_i² = βσ² / λ_i,   KL_i = ½ log(λ_i / (βσ²))

when λ_i > βσ², and **collapses** (w_i = 0, q(z_i | x) = N(0, 1), KL_i = 0) when λ_i ≤ βσ².
:func:`optimum` gives these numbers; :func:`train_linear_vae` finds the same optimum by gradient
descent from a random start, so the lesson can check the one against the other.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaecourse import metrics, toy

LOG_2PI = math.log(2 * math.pi)
ACTIVE_THRESHOLD = 0.01  # a latent is active when Var_x(E_q[z_j | x]) > 0.01 (Burda et al., 2016)


def data_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (D,) and covariance (D, D) of the images ``x`` (N, D), in float64; the covariance divides
    by N (not N − 1), so that averages over these N images are exact."""
    x = x.double()
    return x.mean(dim=0), torch.cov(x.T, correction=0)


def eigenvalues(covariance: torch.Tensor) -> torch.Tensor:
    """The eigenvalues of a covariance matrix, largest first: λ₁ ≥ λ₂ ≥ … ≥ λ_D."""
    return torch.linalg.eigvalsh(covariance).flip(0).clamp(min=0.0)


def check_noise(sigma2: float, beta: float) -> None:
    """A clear error unless σ² and β are positive, finite numbers."""
    for name, value in (("sigma2 (the decoder's noise variance σ²)", sigma2), ("beta", beta)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def collapse_threshold(sigma2: float, beta: float = 1.0) -> float:
    """The eigenvalue at or below which a latent collapses: βσ²."""
    check_noise(sigma2, beta)
    return beta * sigma2


def optimum(eigenvalues: torch.Tensor, sigma2: float, beta: float = 1.0, latent_dim: int | None = None) -> dict:
    """The linear VAE's global optimum, latent by latent, from the data's eigenvalues (largest first).

    Returns float64 tensors of length ``latent_dim`` (default: one latent per eigenvalue): ``kl`` (nats,
    ½ log(λ/βσ²) or 0), ``activity`` (variance over the data of the posterior mean, 1 − βσ²/λ or 0),
    ``encoder_var`` (s², βσ²/λ or 1), ``decoder_norm2`` (‖w_i‖², λ − βσ² or 0), and ``alive`` (λ > βσ²).
    """
    threshold = collapse_threshold(sigma2, beta)
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    latent_dim = len(lam) if latent_dim is None else latent_dim
    if not 1 <= latent_dim <= len(lam):
        raise ValueError(f"latent_dim must be between 1 and the number of eigenvalues ({len(lam)}), got {latent_dim}")
    lam = lam[:latent_dim]
    alive = lam > threshold
    ratio = torch.where(alive, threshold / lam, torch.ones_like(lam))
    return {"kl": -0.5 * ratio.log(), "activity": 1 - ratio, "encoder_var": ratio,
            "decoder_norm2": (lam - threshold).clamp(min=0), "alive": alive}


def predicted_active(eigenvalues: torch.Tensor, sigma2: float, beta: float = 1.0, latent_dim: int | None = None,
                     threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many latents the optimum leaves *active* in the sense of :func:`vaecourse.metrics.active_units`:
    those whose posterior mean varies over the data by more than ``threshold`` (1 − βσ²/λ > 0.01)."""
    return int((optimum(eigenvalues, sigma2, beta, latent_dim)["activity"] > threshold).sum())


class LinearVAE(nn.Module):
    """The linear VAE: decoder x̂ = W z + b with fixed noise variance σ², encoder q(z|x) = N(V(x − b), diag(s²)).

    ``encode``/``decode`` have the shapes of :class:`vaecourse.models.MLPVAE`, so the course's metrics
    (active units, KL per latent) apply unchanged. ``bias`` is the data mean (the optimum of b, exactly).
    """

    def __init__(self, bias: torch.Tensor, latent_dim: int, sigma2: float, seed: int = 0):
        super().__init__()
        check_noise(sigma2, 1.0)
        data_dim = bias.shape[0]
        generator = torch.Generator().manual_seed(seed)
        scale = 0.01
        self.latent_dim = latent_dim
        self.sigma2 = float(sigma2)
        self.register_buffer("bias", bias.detach().clone())
        self.weight = nn.Parameter(scale * torch.randn(data_dim, latent_dim, generator=generator, dtype=bias.dtype)
                                   .to(bias.device))
        self.encoder_weight = nn.Parameter(scale * torch.randn(latent_dim, data_dim, generator=generator,
                                                               dtype=bias.dtype).to(bias.device))
        self.encoder_logvar = nn.Parameter(torch.zeros(latent_dim, dtype=bias.dtype, device=bias.device))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = (x.to(self.bias.dtype) - self.bias) @ self.encoder_weight.T
        return mu, self.encoder_logvar.expand_as(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.weight.T + self.bias

    def generative_model(self) -> toy.LinearGaussian:
        """p(z) p(x|z) as lesson 02's exact model, z ~ N(0, I), x | z ~ N(W z + b, σ² I): log p(x) in closed form."""
        return toy.LinearGaussian(self.weight.detach(), self.bias, math.sqrt(self.sigma2))

    def posterior(self, x: torch.Tensor) -> toy.Gaussian:
        """The encoder's q(z|x) for one image ``x`` (D,), as a ``toy.Gaussian``."""
        mu, logvar = self.encode(x.unsqueeze(0))
        return toy.Gaussian.diagonal(mu[0].detach(), torch.exp(0.5 * logvar[0].detach()))


def second_moment(model: LinearVAE, x: torch.Tensor) -> torch.Tensor:
    """E[(x − b)(x − b)ᵀ] over the images ``x``, about the model's bias b (float64, D × D): all that
    :func:`average_elbo` needs to know about them. With b the images' mean it is their covariance."""
    centred = x.double() - model.bias.double()
    return centred.T @ centred / len(x)


def average_elbo(model: LinearVAE, moment: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """The exact (β-)ELBO of ``model`` averaged over a data set whose second moment about the bias is
    ``moment`` (:func:`second_moment`; the covariance S when b is the data mean), nats per example, with its
    terms; no sampling.

    Every term is quadratic in x − b. With A = I − W V and s² the encoder variances:
    E[‖x − b − W z‖²] = tr(A S Aᵀ) + Σ_j s_j² ‖w_j‖²   and   E[KL] = ½ Σ_j ((V S Vᵀ)_jj + s_j² − 1 − log s_j²).
    """
    check_noise(model.sigma2, beta)
    covariance = moment.to(model.weight.dtype)
    w, v, logvar = model.weight, model.encoder_weight, model.encoder_logvar
    vs = v @ covariance                                    # (k, D)
    code_cov = vs @ v.T                                    # V S Vᵀ, the covariance of the posterior means
    squared_error = (covariance.diagonal().sum() - 2 * (w.T * vs).sum() + (w.T @ w * code_cov).sum()
                     + (logvar.exp() * w.pow(2).sum(0)).sum())
    data_dim = w.shape[0]
    recon = 0.5 * (data_dim * (LOG_2PI + math.log(model.sigma2)) + squared_error / model.sigma2)
    kl_per_latent = 0.5 * (code_cov.diagonal() + logvar.exp() - 1 - logvar)
    kl = kl_per_latent.sum()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl, "kl_per_latent": kl_per_latent,
            "elbo": -(recon + kl)}


def train_linear_vae(mean: torch.Tensor, covariance: torch.Tensor, latent_dim: int, sigma2: float,
                     beta: float = 1.0, steps: int = 1000, lr: float = 0.02,
                     seed: int = 0) -> tuple[LinearVAE, list[float]]:
    """Train a :class:`LinearVAE` by gradient descent on the exact average β-ELBO (:func:`average_elbo`) of
    the data set with this ``mean`` and ``covariance`` (:func:`data_moments`): Adam, every image in every
    step, the learning rate decayed to 0 along a cosine, from a small random start; float32, which is
    plenty here and twice as fast. Returns the model and the loss at every step."""
    check_noise(sigma2, beta)
    covariance = covariance.float()
    model = LinearVAE(mean.float(), latent_dim, sigma2, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = []
    for _ in range(steps):
        loss = average_elbo(model, covariance, beta)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.detach())
    model.eval()
    return model, torch.stack(losses).tolist()


def measured(model: LinearVAE, x: torch.Tensor) -> dict:
    """What a trained linear VAE does on images ``x``: KL per latent (nats, batch mean), the activity
    of each latent (variance of its posterior mean) and the number of active latents."""
    mu, logvar = metrics.encode_means(model, x)
    return {"kl": metrics.kl_per_latent(mu, logvar).double(), "activity": metrics.latent_activity(mu).double(),
            "active_units": metrics.active_units(mu)}
