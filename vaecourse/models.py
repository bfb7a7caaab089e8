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
