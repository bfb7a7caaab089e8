"""Lesson 05's exercises: the VAE's loss with the right reductions, and the IWAE bound from log-weights.

Both answers are deterministic, so the checkers compare values with compare_with_mistakes, which also
compares gradients (the loss is what the VAE trains through) and names NaN or inf. Each checker has one
input where fragile forms fail: confident decoder logits up to ±30 (in float32, sigmoid is exactly 1
from a logit of 17 on, so log(1 − sigmoid) is −inf and 0·log 0 is NaN), and log-weights near −110 nats
per image, lesson 05's scale, where exp underflows to 0 in float32 (so log of a mean of exp is −inf).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vaecourse import metrics
from vaecourse.exercises.core import (
    Exercise,
    compare_with_mistakes,
)
from vaecourse.exercises.lesson03 import KL_MISTAKES, _kl_negated, _kl_terms

# --- Exercise 1: the negative ELBO of a batch, from the decoder's logits ---


def vae_loss_reference(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    # −log p(x|z): binary cross-entropy from the logits (stable for any logit), summed over the pixels
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    # KL(q(z|x) ‖ N(0, I)) in closed form (lesson 03), summed over the latents
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
    return (reconstruction + kl).mean()   # the mean over the images of the batch


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def _kl(mu, logvar):
    return _kl_terms(mu, logvar.exp(), logvar)   # per latent


def _loss_mean_over_pixels(logits, x, mu, logvar):
    return (_bce(logits, x).mean(dim=1) + _kl(mu, logvar).sum(dim=1)).mean()


def _loss_mean_everywhere(logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits, x) + _kl(mu, logvar).mean()


def _loss_summed_over_batch(logits, x, mu, logvar):
    return (_bce(logits, x).sum(dim=1) + _kl(mu, logvar).sum(dim=1)).sum()


def _loss_per_image(logits, x, mu, logvar):
    return _bce(logits, x).sum(dim=1) + _kl(mu, logvar).sum(dim=1)


def _loss_recon_summed_over_batch(logits, x, mu, logvar):
    return _bce(logits, x).sum() + _kl(mu, logvar).sum(dim=1).mean()


def _loss_kl_summed_over_batch(logits, x, mu, logvar):
    return _bce(logits, x).sum(dim=1).mean() + _kl(mu, logvar).sum()


def _loss_sigmoid_twice(logits, x, mu, logvar):
    return vae_loss_reference(torch.sigmoid(logits), x, mu, logvar)


def _loss_bce_on_probabilities(logits, x, mu, logvar):
    reconstruction = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(dim=1)
    return (reconstruction + _kl(mu, logvar).sum(dim=1)).mean()


def _loss_bce_by_hand(logits, x, mu, logvar):
    p = torch.sigmoid(logits)
    reconstruction = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1)
    return (reconstruction + _kl(mu, logvar).sum(dim=1)).mean()


def _loss_arguments_swapped(logits, x, mu, logvar):
    return vae_loss_reference(x, logits, mu, logvar)


def _loss_squared_error(logits, x, mu, logvar):
    reconstruction = (torch.sigmoid(logits) - x).pow(2).sum(dim=1)
    return (reconstruction + _kl(mu, logvar).sum(dim=1)).mean()


def _loss_minus_kl(logits, x, mu, logvar):
    return (_bce(logits, x).sum(dim=1) - _kl(mu, logvar).sum(dim=1)).mean()


def _loss_is_elbo(logits, x, mu, logvar):
    return -vae_loss_reference(logits, x, mu, logvar)


def _loss_no_kl(logits, x, mu, logvar):
    return _bce(logits, x).sum(dim=1).mean()


def _loss_no_reconstruction(logits, x, mu, logvar):
    return _kl(mu, logvar).sum(dim=1).mean()


def _with_wrong_kl(wrong_kl: Callable) -> Callable:
    def loss(logits, x, mu, logvar):
        return (_bce(logits, x).sum(dim=1) + wrong_kl(mu, logvar)).mean()

    return loss


VAE_LOSS_MISTAKES: dict[str, Callable] = {
    "You averaged the reconstruction over the pixels (a mean where the sum belongs): that weighs the KL "
    "784 times too much, a β-VAE with β = 784 that nobody asked for. Sum the cross-entropy over the pixels "
    "(reduction='none', then .sum(dim=1)).": _loss_mean_over_pixels,
    "You averaged over the pixels and the latents (PyTorch's default reduction='mean' and a .mean() on the KL): "
    "with 784 pixels and 20 latents that is 1/784 × the loss of a β-VAE with β = 784/20 = 39.2. Sum over pixels "
    "and latents, then average over the images only.": _loss_mean_everywhere,
    "You summed over the batch: average the per-image losses over the images (.mean()), so that the loss, and "
    "the learning rate that suits it, do not depend on the batch size.": _loss_summed_over_batch,
    "You returned one loss per image (shape (batch,)): the loss of the batch is their mean, a single number.":
        _loss_per_image,
    "Your reconstruction term is summed over the batch but the KL is averaged over it: reduce both the same "
    "way (sum over pixels and latents, then the mean over images), or the batch size acts as a β.":
        _loss_recon_summed_over_batch,
    "Your KL is summed over the batch but the reconstruction is averaged over it: reduce both the same way "
    "(sum over pixels and latents, then the mean over images), or the batch size acts as a β.":
        _loss_kl_summed_over_batch,
    "You applied the sigmoid twice (or passed probabilities where logits belong): "
    "F.binary_cross_entropy_with_logits applies the sigmoid itself, so give it the decoder's raw logits.":
        _loss_sigmoid_twice,
    "You took the cross-entropy of sigmoid(logits) with F.binary_cross_entropy: right for moderate logits, "
    "but from a logit of about 17 on sigmoid is exactly 1 in float32, and the loss is clamped at 100 nats per "
    "pixel. Use F.binary_cross_entropy_with_logits on the logits.": _loss_bce_on_probabilities,
    "Your loss is right for moderate logits but NaN for confident ones: from a logit of about 17 on, sigmoid "
    "is exactly 1 in float32, log(1 − σ) is −inf and 0·log 0 is NaN, the trap of computing "
    "−[x log σ(ℓ) + (1 − x) log(1 − σ(ℓ))] from sigmoid(logits). Use F.binary_cross_entropy_with_logits "
    "(or F.logsigmoid), which never forms σ(ℓ).": _loss_bce_by_hand,
    "You swapped the arguments of the cross-entropy: F.binary_cross_entropy_with_logits(logits, x) takes the "
    "logits first and the data (the target) second.": _loss_arguments_swapped,
    "You used the squared error between sigmoid(logits) and x: the Bernoulli decoder's −log p(x|z) is the "
    "binary cross-entropy.": _loss_squared_error,
    "Sign error: you subtracted the KL. The loss is −ELBO = reconstruction + KL; both terms are costs.":
        _loss_minus_kl,
    "Your value is the ELBO itself (a negative number): the loss to *minimise* is its negative, "
    "−ELBO = reconstruction + KL.": _loss_is_elbo,
    "You left out the KL term: −ELBO = reconstruction + KL(q(z|x) ‖ N(0, I)); without it the encoder's "
    "q is never pulled towards the prior.": _loss_no_kl,
    "You left out the reconstruction term: −ELBO = −log p(x|z) (the cross-entropy, summed over pixels) + KL.":
        _loss_no_reconstruction,
    **{f"In the KL term: {message}": _with_wrong_kl(kl) for message, kl in KL_MISTAKES.items()
       if kl is not _kl_negated},   # a negated KL is the "subtracted the KL" mistake above
}


def vae_loss_inputs() -> list[tuple]:
    """(logits, x, mu, logvar) with binary x, as lesson 05 binarizes MNIST: a small float64 batch whose
    gradients are compared (50 pixels, 4 latents); an MNIST-sized float32 batch (784 pixels, 20 latents);
    and one with confident logits up to ±30, some right and some wrong."""
    g = torch.Generator().manual_seed(5)

    def batch(n, pixels, latents, dtype, logit_scale):
        logits = logit_scale * torch.randn(n, pixels, generator=g, dtype=dtype) - 1.0
        x = (torch.rand(n, pixels, generator=g, dtype=dtype) < 0.3).to(dtype)
        mu = 1.2 * torch.randn(n, latents, generator=g, dtype=dtype)
        logvar = 3 * torch.rand(n, latents, generator=g, dtype=dtype) - 2.5
        return logits, x, mu, logvar

    small = tuple(t.requires_grad_(i != 1) for i, t in enumerate(batch(6, 50, 4, torch.float64, 2.0)))
    confident_logits, confident_x, mu, logvar = batch(8, 784, 20, torch.float32, 3.0)
    confident_logits = 30 * torch.tanh(confident_logits)        # saturating at ±30
    confident_logits[:, :40] = torch.where(confident_x[:, :40] > 0, 30.0, -30.0)  # sure and right
    confident_logits[:, 40:45] = torch.where(confident_x[:, 40:45] > 0, -30.0, 30.0)  # sure and wrong
    return [small, batch(32, 784, 20, torch.float32, 3.0), (confident_logits, confident_x, mu, logvar)]


vae_loss = Exercise(
    title="VAE loss (negative ELBO)",
    reference=vae_loss_reference,
    diagnose=lambda fn: compare_with_mistakes(fn, vae_loss_reference, VAE_LOSS_MISTAKES, vae_loss_inputs(),
                                              atol=1e-4, rtol=1e-4),
    hint_text="F.binary_cross_entropy_with_logits(logits, x, reduction='none') gives one value per pixel: "
              ".sum(dim=1) makes it −log p(x|z) per image. The KL per image is ½ Σ (μ² + exp(logvar) − 1 − "
              "logvar) summed over the latents (.sum(dim=1)). Add the two and take the .mean() over the batch.",
)


# --- Exercise 2: the IWAE bound from the log importance weights ---


def _iwae_elbo(log_w):
    return log_w.mean(dim=0)


def _iwae_no_log_k(log_w):
    return torch.logsumexp(log_w, dim=0)


def _iwae_naive(log_w):
    return torch.log(torch.exp(log_w).mean(dim=0))


def _iwae_mean_weight(log_w):
    return torch.exp(log_w).mean(dim=0)


def _iwae_max_only(log_w):
    return log_w.max(dim=0).values


def _iwae_max_not_added_back(log_w):
    return torch.log(torch.exp(log_w - log_w.max(dim=0).values).mean(dim=0))


def _iwae_divided_by_k(log_w):
    return torch.logsumexp(log_w, dim=0) / log_w.shape[0]


def _iwae_log_of_images(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[1])


def _iwae_over_images(log_w):
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])


def _iwae_averaged_over_images(log_w):
    return metrics.iwae_from_log_weights(log_w).mean()


IWAE_MISTAKES: dict[str, Callable] = {
    "That is the ELBO: you averaged the log-weights, (1/k) Σ log w. The IWAE bound averages the weights "
    "*inside* the log, log((1/k) Σ w) = logsumexp(log_w, dim=0) − log k.": _iwae_elbo,
    "You forgot the −log k: logsumexp gives log Σ w, but the bound is the log of the *mean* weight, "
    "logsumexp(log_w, dim=0) − log k.": _iwae_no_log_k,
    "You exponentiated the log-weights directly: a weight of e^(−110) underflows to 0 in float32, so the mean "
    "is 0 and its log −inf. Use torch.logsumexp, which subtracts the largest log-weight before exponentiating.":
        _iwae_naive,
    "You returned the average weight (1/k) Σ w itself; the bound is its log, computed stably as "
    "logsumexp(log_w, dim=0) − log k.": _iwae_mean_weight,
    "You kept only the largest log-weight: log-sum-exp is max + log Σ exp(log w − max); the second part "
    "counts every other sample.": _iwae_max_only,
    "You subtracted the largest log-weight before exponentiating (good, that is the stabilisation) but did "
    "not add it back: log mean w = m + log mean exp(log w − m).": _iwae_max_not_added_back,
    "You divided the log-sum by k: the 1/k belongs inside the log, so it becomes −log k outside.":
        _iwae_divided_by_k,
    "You subtracted the log of the number of images (log_w.shape[1]); k is the number of samples per image, "
    "log_w.shape[0].": _iwae_log_of_images,
    "You reduced over dim 1, the images: the k samples of each image run along dim 0 (log_w has shape "
    "(k, images)), and the result has one bound per image.": _iwae_over_images,
    "You averaged over the images too: return one bound per image, shape (images,); the lesson averages "
    "them afterwards.": _iwae_averaged_over_images,
}


def iwae_inputs() -> list[tuple[torch.Tensor]]:
    """(log_w,) of shape (k, images): a small float64 one whose gradient is compared, and float32 ones at
    the scale of lesson 05's model (about −110 nats per image, where exp underflows), with k ≠ images."""
    g = torch.Generator().manual_seed(55)
    small = (2 * torch.randn(7, 5, generator=g, dtype=torch.float64) - 3).requires_grad_()
    per_image = -110 + 8 * torch.randn(1, 12, generator=g)
    realistic = per_image + 3 * torch.randn(50, 12, generator=g)
    return [(small,), (realistic,)]


iwae_estimate = Exercise(
    title="IWAE bound",
    reference=metrics.iwae_from_log_weights,
    diagnose=lambda fn: compare_with_mistakes(fn, metrics.iwae_from_log_weights, IWAE_MISTAKES, iwae_inputs(),
                                              atol=1e-4, rtol=1e-5),
    hint_text="log_w has shape (k, images). The bound is log of the mean weight, log((1/k) Σ_i exp(log_w[i])): "
              "torch.logsumexp(log_w, dim=0) computes log Σ exp stably; subtract math.log(k), k = log_w.shape[0].",
)
