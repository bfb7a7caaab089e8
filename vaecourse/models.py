"""The course's models: an MLP autoencoder and the reference MLP VAE (784-400-20).

Lessons display these classes (``vaecourse.plots.show_source``) rather than
re-typing them, so each is defined exactly once.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], activate_last: bool = False) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ReLU in between."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or activate_last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """x -> encoder -> z (a few numbers) -> decoder -> x̂.

    ``hidden=()`` and ``sigmoid_output=False`` give a *linear* autoencoder,
    the one that lesson 01 compares with PCA.
    """

    def __init__(self, input_dim: int = 784, hidden: tuple[int, ...] = (256,),
                 latent_dim: int = 2, sigmoid_output: bool = True):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([input_dim, *hidden, latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), input_dim])
        self.sigmoid_output = sigmoid_output

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.sigmoid_output else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Sample z ~ N(mu, exp(logvar)) as z = mu + sigma * eps, eps ~ N(0, I).

    The randomness sits in eps, so gradients flow to mu and logvar (lesson 04).
    """
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    return mu + std * eps


class MLPVAE(nn.Module):
    """The reference VAE of pytorch/examples: 784-400-(20+20) encoder, 20-400-784 decoder.

    ``encode`` returns the Gaussian posterior's (mu, logvar); ``decode`` returns
    Bernoulli *logits* (apply ``torch.sigmoid`` for pixel probabilities).
    """

    def __init__(self, input_dim: int = 784, hidden: int = 400, latent_dim: int = 20):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1 = nn.Linear(input_dim, hidden)
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, input_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc1(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc4(torch.relu(self.fc3(z)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of ``x`` and its top-``k`` principal directions (rows of a (k, d) matrix)."""
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vh[:k]


def pca_reconstruct(x: torch.Tensor, k: int) -> torch.Tensor:
    """Project ``x`` onto its top-``k`` principal subspace and map back to the original space."""
    mean, components = pca(x, k)
    return (x - mean) @ components.T @ components + mean


# --- Lesson 06: the convolutional VAE of Burgess et al. (2018) for dSprites-style images ---

class ConvVAE(nn.Module):
    """The β-VAE architecture of Burgess et al. (2018) for 64×64 (or 32×32) one-channel images.

    Encoder: 32-channel convolutions with 4×4 kernels and stride 2 (four of them for 64×64, three
    for 32×32, each halving the side down to 4×4), then fully connected 512-256-256 and a linear
    layer to (mu, logvar) of ``latent_dim`` (10) Gaussians. The decoder mirrors it with transposed
    convolutions and returns Bernoulli *logits* of shape (N, 1, R, R), like :class:`MLPVAE`.
    """

    def __init__(self, resolution: int = 32, latent_dim: int = 10, channels: int = 32, hidden: int = 256):
        super().__init__()
        if resolution not in (32, 64):
            raise ValueError(f"ConvVAE is built for 32×32 or 64×64 images, not resolution={resolution!r}.")
        self.resolution = resolution
        self.latent_dim = latent_dim
        n_convs = 4 if resolution == 64 else 3
        sizes = [1] + [channels] * n_convs
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(sizes[:-1], sizes[1:]):
            encoder += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        flat = channels * 4 * 4
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), mlp([flat, hidden, hidden], activate_last=True))
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)
        decoder: list[nn.Module] = [mlp([latent_dim, hidden, hidden, flat], activate_last=True),
                                    nn.Unflatten(1, (channels, 4, 4))]
        reversed_sizes = sizes[::-1]
        for i, (c_in, c_out) in enumerate(zip(reversed_sizes[:-1], reversed_sizes[1:])):
            decoder.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
            if i < n_convs - 1:
                decoder.append(nn.ReLU())
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1:] != (1, self.resolution, self.resolution):
            raise ValueError(f"ConvVAE(resolution={self.resolution}) takes images of shape "
                             f"(N, 1, {self.resolution}, {self.resolution}), got {tuple(x.shape)}.")
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# --- Lesson 07: a Gaussian decoder whose variance is learned with the rest ---

class GaussianMLPVAE(MLPVAE):
    """:class:`MLPVAE` with a Gaussian decoder, p(x|z) = N(sigmoid(logits), σ² I), and one *learned* σ².

    ``log_sigma2`` is a parameter trained with the ELBO like every weight, so the decoder is calibrated
    (Rybkin et al., 2021): for given decoder means the ELBO is best when σ² is the mean squared error per
    pixel, so the reconstruction term weighs exactly as much as the model's errors warrant. ``decode``
    still returns logits (the mean is their sigmoid), so the course's MLPVAE tools apply unchanged.
    """

    def __init__(self, input_dim: int = 784, hidden: int = 400, latent_dim: int = 20, log_sigma2: float = 0.0):
        super().__init__(input_dim, hidden, latent_dim)
        self.log_sigma2 = nn.Parameter(torch.tensor(float(log_sigma2)))


# --- Lesson 10: the conditional VAE (the digit's label given to the encoder and the decoder) ---

def _check_label_shape(labels: torch.Tensor) -> None:
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be a 1-D integer tensor (one class number per image), got shape "
                         f"{tuple(labels.shape)} and dtype {labels.dtype}.")


def check_labels(labels: torch.Tensor, n_classes: int) -> None:
    """Raise a clear ValueError unless ``labels`` is a 1-D integer tensor of classes 0 .. n_classes − 1.

    The value check reads the labels back from the device, so the training loop leaves it out (see
    :func:`one_hot_labels`); functions that take labels from a learner call it first.
    """
    _check_label_shape(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0 .. {n_classes - 1}; got values from {int(labels.min())} "
                         f"to {int(labels.max())}.")


def one_hot_labels(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer class labels (N,) -> float one-hot rows (N, n_classes)."""
    _check_label_shape(labels)
    return nn.functional.one_hot(labels, n_classes).float()


class ConditionalVAE(nn.Module):
    """Lesson 05's MLP VAE with the label y given to both networks (Sohn et al., 2015):
    q(z | x, y) from [x, onehot(y)] (784+10 → 400 → 20+20) and p(x | z, y) from [z, onehot(y)]
    (20+10 → 400 → 784 Bernoulli logits). The prior stays N(0, I), so z need not carry the class:
    what it keeps is the *style*, and decoding one z with each label draws that style as every digit.
    """

    def __init__(self, input_dim: int = 784, hidden: int = 400, latent_dim: int = 20, n_classes: int = 10):
        super().__init__()
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.fc1 = nn.Linear(input_dim + n_classes, hidden)
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim + n_classes, hidden)
        self.fc4 = nn.Linear(hidden, input_dim)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc1(torch.cat([x, one_hot_labels(y, self.n_classes)], dim=1)))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc4(torch.relu(self.fc3(torch.cat([z, one_hot_labels(y, self.n_classes)], dim=1))))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar
