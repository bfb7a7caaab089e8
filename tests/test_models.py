import torch

from vaecourse import models


def test_autoencoder_shapes_and_output_range():
    ae = models.MLPAutoencoder(hidden=(32,), latent_dim=3)
    x = torch.rand(5, 784)
    assert ae.encode(x).shape == (5, 3)
    out = ae(x)
    assert out.shape == (5, 784) and 0 <= out.min() and out.max() <= 1


def test_linear_autoencoder_is_affine():
    ae = models.MLPAutoencoder(hidden=(), latent_dim=4, sigmoid_output=False)
    a, b = torch.randn(2, 784), torch.randn(2, 784)
    # An affine map f satisfies f(a) + f(b) - f(0) = f(a + b).
    zero = torch.zeros(2, 784)
    assert torch.allclose(ae(a) + ae(b) - ae(zero), ae(a + b), atol=1e-4)


def test_vae_shapes_and_reparameterization_gradients():
    vae = models.MLPVAE()
    logits, mu, logvar = vae(torch.rand(7, 784))
    assert logits.shape == (7, 784) and mu.shape == logvar.shape == (7, 20)
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    models.reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and torch.allclose(mu.grad, torch.ones(3, 2))
    assert logvar.grad is not None


def test_pca_directions_are_orthonormal_and_reconstruction_is_exact_at_full_rank():
    x = torch.randn(100, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    mean, components = models.pca(x, 3)
    assert torch.allclose(components @ components.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(mean, x.mean(0))
    assert torch.allclose(models.pca_reconstruct(x, 6), x, atol=1e-8)
