"""A toy latent-variable model where everything the ELBO lesson needs is exact.

The model is linear and Gaussian::

    z ~ N(0, I_d),    x | z ~ N(W z + b, σ² I_D).

Because every distribution in it is Gaussian, the evidence log p(x), the true
posterior p(z|x), and the ELBO and KL(q ‖ p(z|x)) of any Gaussian q have closed
forms. Lesson 02 uses them to *verify* log p(x) = ELBO(q) + KL(q ‖ p(z|x)) to
numerical precision, something impossible with a neural decoder. Everything is
float64 so that the identity holds to ~1e-12, far below the lesson's 1e-6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DTYPE = torch.float64
LOG_2PI = math.log(2 * math.pi)


def as_float64(value, name: str) -> torch.Tensor:
    """``value`` as a float64 CPU tensor (numbers, lists and tensors of any dtype are accepted)."""
    try:
        return torch.as_tensor(value, dtype=DTYPE, device="cpu")
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a number, a list of numbers or a tensor; got {type(value).__name__}") \
            from error


@dataclass
class Gaussian:
    """A multivariate normal N(mean, cov) on R^d, with the few operations the lesson needs.

    ``mean`` has shape (d,) and ``cov`` shape (d, d), symmetric positive definite.
    """

    mean: torch.Tensor
    cov: torch.Tensor

    def __post_init__(self) -> None:
        self.mean = as_float64(self.mean, "mean").reshape(-1)
        self.cov = as_float64(self.cov, "cov")
        d = self.mean.shape[0]
        if self.cov.shape != (d, d):
            raise ValueError(f"cov must have shape ({d}, {d}) to match a mean of shape ({d},); "
                             f"got {tuple(self.cov.shape)}")
        self.cov = 0.5 * (self.cov + self.cov.T)
        self.scale_tril = cholesky(self.cov)  # L with L Lᵀ = cov
        # L⁻¹, so that log_prob whitens samples with a matrix product
        self.inverse_scale = torch.linalg.solve_triangular(self.scale_tril, torch.eye(d, dtype=DTYPE), upper=False)

    @classmethod
    def diagonal(cls, mean, std) -> Gaussian:
        """N(mean, diag(std²)): independent coordinates with standard deviations ``std`` (all > 0)."""
        mean = as_float64(mean, "mean").reshape(-1)
        std = as_float64(std, "std").reshape(-1).expand_as(mean)
        if not bool((std > 0).all()):
            raise ValueError(f"every standard deviation must be > 0; got {std.tolist()}")
        return cls(mean, torch.diag(std**2))

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def log_det_cov(self) -> torch.Tensor:
        """log det(cov) = 2 Σ log diag(L)."""
        return 2 * self.scale_tril.diagonal().log().sum()

    def log_prob(self, z, name: str = "z") -> torch.Tensor:
        """log N(z; mean, cov) for z of shape (..., d); returns shape (...).

        = −½ [d log 2π + log det Σ + (z − μ)ᵀ Σ⁻¹ (z − μ)].
        """
        z = check_points(z, self.dim, name)
        white = (z - self.mean) @ self.inverse_scale.T  # L⁻¹ (z − μ), shape (..., d)
        mahalanobis = white.pow(2).sum(dim=-1)
        return -0.5 * (self.dim * LOG_2PI + self.log_det_cov() + mahalanobis)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples, shape (n, d): z = μ + L ε with ε ~ N(0, I)."""
        eps = torch.randn(n, self.dim, generator=generator, dtype=DTYPE)
        return self.mean + eps @ self.scale_tril.T

    def entropy(self) -> torch.Tensor:
        """H = −E[log N(z)] = ½ [d (1 + log 2π) + log det Σ] (lesson 02 derives it)."""
        return 0.5 * (self.dim * (1 + LOG_2PI) + self.log_det_cov())


def cholesky(cov: torch.Tensor) -> torch.Tensor:
    """Lower-triangular L with L Lᵀ = cov, or a clear error when cov is not positive definite.

    A diagonal cov (the common case here) is handled without LAPACK: L = diag(√cov_ii).
    """
    variances = cov.diagonal()
    if bool((cov == torch.diag(variances)).all()):
        if not bool((variances > 0).all()):
            raise ValueError(f"cov must be positive definite: variances must be > 0, got {variances.tolist()}")
        return torch.diag(variances.sqrt())
    scale, info = torch.linalg.cholesky_ex(cov)
    if info.item() != 0:
        raise ValueError("cov must be symmetric positive definite (all standard deviations > 0)")
    return scale


def standard_normal(d: int) -> Gaussian:
    """N(0, I_d), the prior."""
    return Gaussian(torch.zeros(d, dtype=DTYPE), torch.eye(d, dtype=DTYPE))


def check_points(z, d: int, name: str) -> torch.Tensor:
    """``z`` as float64 with last dimension ``d``, else a clear error."""
    z = as_float64(z, name)
    if z.ndim == 0 or z.shape[-1] != d:
        raise ValueError(f"{name} must have shape (..., {d}) (last dimension = {d}); got {tuple(z.shape)}")
    return z


@dataclass
class LinearGaussian:
    """The toy model z ~ N(0, I_d), x | z ~ N(W z + b, σ² I_D).

    ``weight`` W has shape (D, d), ``bias`` b shape (D,), ``noise_std`` σ > 0.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    noise_std: float

    def __post_init__(self) -> None:
        self.weight = as_float64(self.weight, "weight")
        self.bias = as_float64(self.bias, "bias")
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"weight must be (D, d) and bias (D,); got {tuple(self.weight.shape)} and "
                             f"{tuple(self.bias.shape)}")
        if not self.noise_std > 0:
            raise ValueError(f"noise_std must be > 0; got {self.noise_std}")
        self.noise_std = float(self.noise_std)

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def data_dim(self) -> int:
        return self.weight.shape[0]

    def log_prior(self, z) -> torch.Tensor:
        """log p(z) = log N(z; 0, I) for z of shape (..., d); returns shape (...)."""
        return standard_normal(self.latent_dim).log_prob(z)

    def log_likelihood(self, x, z) -> torch.Tensor:
        """log p(x|z) = log N(x; W z + b, σ² I) for z of shape (..., d); returns shape (...)."""
        x = check_points(x, self.data_dim, "x")
        z = check_points(z, self.latent_dim, "z")
        residual = x - (z @ self.weight.T + self.bias)
        variance = self.noise_std**2
        return -0.5 * (self.data_dim * (LOG_2PI + math.log(variance)) + residual.pow(2).sum(-1) / variance)

    def log_joint(self, x, z) -> torch.Tensor:
        """log p(x, z) = log p(x|z) + log p(z)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def marginal(self) -> Gaussian:
        """p(x) = N(b, W Wᵀ + σ² I): x = W z + b + σ ε is a linear map of Gaussians."""
        cov = self.weight @ self.weight.T + self.noise_std**2 * torch.eye(self.data_dim, dtype=DTYPE)
        return Gaussian(self.bias, cov)

    def log_evidence(self, x) -> torch.Tensor:
        """log p(x), exactly, for x of shape (..., D)."""
        return self.marginal().log_prob(x, name="x")

    def posterior(self, x) -> Gaussian:
        """p(z|x) = N(m, S) with S = (I + WᵀW/σ²)⁻¹ and m = S Wᵀ (x − b) / σ², for one x of shape (D,)."""
        x = check_points(x, self.data_dim, "x")
        if x.ndim != 1:
            raise ValueError(f"posterior takes one observation x of shape ({self.data_dim},); got {tuple(x.shape)}")
        variance = self.noise_std**2
        precision = torch.eye(self.latent_dim, dtype=DTYPE) + self.weight.T @ self.weight / variance
        cov = torch.linalg.inv(precision)
        mean = cov @ self.weight.T @ (x - self.bias) / variance
        return Gaussian(mean, cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws (z, x) from the model: z (n, d), x (n, D)."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=DTYPE)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=DTYPE)
        return z, z @ self.weight.T + self.bias + self.noise_std * noise


def make_toy_model(latent_dim: int = 1, data_dim: int = 2, noise_std: float = 0.5, seed: int = 0) -> LinearGaussian:
    """A random LinearGaussian with W and b drawn from N(0, 1) (seeded, so the lesson is reproducible)."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(data_dim, latent_dim, generator=generator, dtype=DTYPE)
    bias = torch.randn(data_dim, generator=generator, dtype=DTYPE)
    return LinearGaussian(weight, bias, noise_std)


def gaussian_kl(q: Gaussian, p: Gaussian) -> torch.Tensor:
    """KL(q ‖ p) between two Gaussians on R^d, in closed form:

    ½ [tr(Σp⁻¹ Σq) + (μp − μq)ᵀ Σp⁻¹ (μp − μq) − d + log det Σp − log det Σq].
    """
    if q.dim != p.dim:
        raise ValueError(f"both Gaussians must live in the same space; got dimensions {q.dim} and {p.dim}")
    diff = p.mean - q.mean
    trace = torch.linalg.solve(p.cov, q.cov).diagonal().sum()
    mahalanobis = diff @ torch.linalg.solve(p.cov, diff)
    return 0.5 * (trace + mahalanobis - q.dim + p.log_det_cov() - q.log_det_cov())


def kl_to_prior(q: Gaussian) -> torch.Tensor:
    """KL(q ‖ p(z)) with the prior p(z) = N(0, I): the ELBO's regulariser."""
    return gaussian_kl(q, standard_normal(q.dim))


def expected_log_likelihood(model: LinearGaussian, x, q: Gaussian) -> torch.Tensor:
    """E_q[log p(x|z)], the ELBO's reconstruction term, in closed form:

    −D/2 log(2πσ²) − (‖x − W μ − b‖² + tr(W Σ Wᵀ)) / (2σ²).
    """
    x = check_points(x, model.data_dim, "x")
    if q.dim != model.latent_dim:
        raise ValueError(f"q must be a Gaussian on the latent space (d = {model.latent_dim}); got d = {q.dim}")
    variance = model.noise_std**2
    residual = x - model.weight @ q.mean - model.bias
    spread = (model.weight @ q.cov @ model.weight.T).diagonal().sum()
    return -0.5 * (model.data_dim * (LOG_2PI + math.log(variance)) + (residual.pow(2).sum(-1) + spread) / variance)


def exact_elbo(model: LinearGaussian, x, q: Gaussian) -> torch.Tensor:
    """ELBO(q) = E_q[log p(x|z)] − KL(q ‖ p(z)), exactly (reconstruction minus the KL to the prior)."""
    return expected_log_likelihood(model, x, q) - kl_to_prior(q)


def kl_to_posterior(model: LinearGaussian, x, q: Gaussian) -> torch.Tensor:
    """KL(q ‖ p(z|x)), exactly: the gap between log p(x) and the ELBO."""
    return gaussian_kl(q, model.posterior(x))


def elbo_integrand(model: LinearGaussian, x, q: Gaussian, z) -> torch.Tensor:
    """log p(x, z) − log q(z) at samples z of shape (n, d): the quantity whose q-average is the ELBO."""
    return model.log_joint(x, z) - q.log_prob(z)


def mc_elbo(model: LinearGaussian, x, q: Gaussian, n_samples: int,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo ELBO: (mean of the integrand over n samples z ~ q, its standard error std/√n)."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to estimate a standard error; got {n_samples}")
    values = elbo_integrand(model, x, q, q.sample(n_samples, generator))
    return values.mean(), values.std() / math.sqrt(n_samples)
