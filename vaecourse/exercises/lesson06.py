"""Lesson 06's exercise: the mutual information gap per factor, from the mutual-information matrix."""

from __future__ import annotations

import torch

from vaecourse import metrics
from vaecourse.exercises.core import (
    Exercise,
    compare_with_mistakes,
)


def _mig_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(6)
    entropy = torch.tensor([1.1, 1.8, 3.7, 3.5, 3.5], dtype=torch.float64)
    mutual_info = torch.rand(10, 5, generator=g, dtype=torch.float64) * entropy * 0.6
    return [(mutual_info, entropy), (mutual_info[:4, :3] * 0.5, entropy[:3])]


def _mig_not_normalised(mutual_info, entropy):
    top = mutual_info.sort(dim=0, descending=True).values
    return top[0] - top[1]


def _mig_no_gap(mutual_info, entropy):
    return mutual_info.max(dim=0).values / entropy


def _mig_minus_mean(mutual_info, entropy):
    top = mutual_info.sort(dim=0, descending=True).values
    return (top[0] - top[1:].mean(dim=0)) / entropy


def _mig_ascending(mutual_info, entropy):
    top = mutual_info.sort(dim=0).values
    return (top[0] - top[1]) / entropy


def _mig_averaged(mutual_info, entropy):
    return metrics.mig_per_factor(mutual_info, entropy).mean()


mig_per_factor = Exercise(
    title="Mutual information gap",
    reference=metrics.mig_per_factor,
    diagnose=lambda fn: compare_with_mistakes(fn, metrics.mig_per_factor, {
        "You did not divide by the factor's entropy H(v_k): the gap must be a fraction of what there is to know "
        "about the factor, so that factors with many values do not count more.": _mig_not_normalised,
        "You returned the largest mutual information (over H) without subtracting the second largest: "
        "the *gap* is what rewards a factor living in one latent only.": _mig_no_gap,
        "You subtracted the mean of the other latents; MIG subtracts the *second largest* one.": _mig_minus_mean,
        "You sorted in ascending order, so you took the gap between the two *smallest* values: "
        "use descending=True (or topk).": _mig_ascending,
        "You averaged over the factors already; return one gap per factor (shape (K,)): MIG is their mean, "
        "taken afterwards.": _mig_averaged,
    }, _mig_inputs(), atol=1e-9, rtol=1e-7),
    hint_text="Sort each column of mutual_info (one column per factor) in descending order, "
              "mutual_info.sort(dim=0, descending=True).values; subtract row 1 from row 0 and divide by entropy.",
)
