"""Lesson 10: editing digits by latent arithmetic, and the attributes that measure an edit.

An attribute such as stroke thickness has a *direction* in a VAE's code space: the mean code of digits that
have much of it minus the mean code of digits that have little (White, 2016, "attribute vectors"). Moving a
digit's code along that direction and decoding should change the attribute and nothing else — in
particular not the digit. Both are measured: the attribute on the decoded images (:func:`ink`,
:func:`slant`), the class with the course's digit classifier.
"""

from __future__ import annotations

import torch

SIDE = 28


def _as_images(images: torch.Tensor) -> torch.Tensor:
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise ValueError(f"give images as an (N, {SIDE * SIDE}) tensor of pixel values in [0, 1]; "
                         f"got shape {tuple(images.shape)}.")
    return images.reshape(-1, SIDE, SIDE)


def ink(images: torch.Tensor) -> torch.Tensor:
    """Total ink of each image, the sum of its pixel values (N,): thicker strokes, more ink."""
    return _as_images(images).sum(dim=(1, 2))


def slant(images: torch.Tensor) -> torch.Tensor:
    """How far each digit leans, (N,): the ink's horizontal shift per pixel of height, from its second moments
    (positive leans right, like /; 0 is upright). It is the skew that deskewing MNIST digits undoes."""
    x = _as_images(images)
    mass = x.sum(dim=(1, 2)).clamp_min(1e-6)
    up = -torch.arange(SIDE, dtype=x.dtype, device=x.device).reshape(1, SIDE, 1)    # height, upwards
    right = torch.arange(SIDE, dtype=x.dtype, device=x.device).reshape(1, 1, SIDE)
    up_mean = (x * up).sum(dim=(1, 2)) / mass
    right_mean = (x * right).sum(dim=(1, 2)) / mass
    dy, dx = up - up_mean.reshape(-1, 1, 1), right - right_mean.reshape(-1, 1, 1)
    return (x * dx * dy).sum(dim=(1, 2)) / (x * dy * dy).sum(dim=(1, 2)).clamp_min(1e-6)


def attribute_direction(codes: torch.Tensor, values: torch.Tensor, labels: torch.Tensor,
                        fraction: float = 0.25) -> torch.Tensor:
    """The direction of an attribute in code space, (D,): within each class, the mean code of the ``fraction``
    of digits with the largest ``values`` minus that of the ``fraction`` with the smallest, averaged over the
    classes — so that the direction changes the attribute, not the mix of digits."""
    if not (codes.ndim == 2 and values.shape == labels.shape == (len(codes),)):
        raise ValueError(f"codes (N, D), values (N,) and labels (N,) must describe the same N digits; got "
                         f"{tuple(codes.shape)}, {tuple(values.shape)} and {tuple(labels.shape)}.")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must lie in (0, 0.5], got {fraction}.")
    differences = []
    for label in labels.unique():
        mine = (labels == label).nonzero().squeeze(1)
        k = int(fraction * len(mine))
        if k == 0:
            continue
        order = mine[values[mine].argsort()]
        differences.append(codes[order[-k:]].mean(dim=0) - codes[order[:k]].mean(dim=0))
    if not differences:
        raise ValueError(f"no class has enough digits to take a {fraction:.0%} slice; give more digits.")
    return torch.stack(differences).mean(dim=0)


@torch.no_grad()
def edit(model: torch.nn.Module, codes: torch.Tensor, direction: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Decode ``codes`` (N, D) moved by each of ``steps`` (S,) times ``direction`` (D,): pixel probabilities
    (S, N, 784). Step 0 is the plain reconstruction; step 1 adds the whole direction."""
    if direction.shape != codes.shape[1:]:
        raise ValueError(f"the direction must have one entry per latent ({codes.shape[1]}), "
                         f"got {tuple(direction.shape)}.")
    from vaecourse import metrics

    moved = codes.unsqueeze(0) + steps.reshape(-1, 1, 1).to(codes) * direction
    with metrics.evaluating(model):
        return torch.sigmoid(model.decode(moved.flatten(0, 1))).reshape(len(steps), len(codes), -1)
