"""Lesson 01's exercise: reconstruct data from its top-k principal components."""

from __future__ import annotations

import torch

from vaecourse import models
from vaecourse.exercises.core import (
    Exercise,
    compare_with_mistakes,
)


def _pca_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(1)
    mixing = torch.randn(6, 12, generator=g)
    x = torch.randn(200, 6, generator=g) @ mixing * torch.linspace(3, 0.3, 12) + 2.0
    return [(x, 3), (x[:50], 1)]


def _pca_no_centering(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh[:k].T
    return x @ v @ v.T


def _pca_mean_not_added_back(x, k):
    mean, components = models.pca(x, k)
    return (x - mean) @ components.T @ components


def _pca_smallest_components(x, k):
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    v = vh[-k:].T
    return (x - mean) @ v @ v.T + mean


def _pca_codes_only(x, k):
    mean, components = models.pca(x, k)
    return (x - mean) @ components.T


pca_reconstruction = Exercise(
    title="PCA reconstruction",
    reference=models.pca_reconstruct,
    diagnose=lambda fn: compare_with_mistakes(fn, models.pca_reconstruct, {
        "You did not subtract the mean before projecting: PCA's subspace passes through the data's mean, "
        "so centre x first (x - x.mean(0)).": _pca_no_centering,
        "You projected the centred data but forgot to add the mean back at the end.": _pca_mean_not_added_back,
        "You kept the k components with the *smallest* singular values; the top-k come first in torch.linalg.svd.":
            _pca_smallest_components,
        "You returned the k-dimensional codes; the exercise asks for the reconstruction in the original "
        "space (codes @ components + mean).": _pca_codes_only,
    }, _pca_inputs(), atol=1e-3, rtol=1e-3),
    hint_text="Centre x with its mean, take the first k rows of Vᵀ from torch.linalg.svd(x_centred, "
              "full_matrices=False), project onto them and map back: (xc @ V_k) @ V_kᵀ + mean.",
)
