"""Lesson 10's detection metrics: AUROC against a brute-force count and scikit-learn, the ROC curve, the rates."""

import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from vaecourse import metrics


def brute_force_auroc(normal, anomaly):
    """Every (anomaly, normal) pair: 1 when the anomaly scores higher, ½ for a tie, averaged."""
    pairs = [(1.0 if a > n else 0.5 if a == n else 0.0) for a in anomaly.tolist() for n in normal.tolist()]
    return sum(pairs) / len(pairs)


@pytest.mark.parametrize("seed", range(4))
def test_auroc_matches_brute_force_and_scikit_learn_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    normal = torch.randint(0, 6, (70,), generator=g).float()       # few distinct values: many ties
    anomaly = torch.randint(2, 9, (40,), generator=g).float()
    labels = [0] * len(normal) + [1] * len(anomaly)
    expected = roc_auc_score(labels, torch.cat([normal, anomaly]).numpy())
    assert metrics.auroc(normal, anomaly) == pytest.approx(brute_force_auroc(normal, anomaly), abs=1e-12)
    assert metrics.auroc(normal, anomaly) == pytest.approx(expected, abs=1e-12)


def test_auroc_extremes_and_symmetry():
    low, high = torch.arange(5.0), torch.arange(10.0, 13.0)
    assert metrics.auroc(low, high) == 1.0 and metrics.auroc(high, low) == 0.0
    assert metrics.auroc(torch.ones(4), torch.ones(7)) == 0.5
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=g), torch.randn(30, generator=g) + 0.5
    assert metrics.auroc(a, b) + metrics.auroc(b, a) == pytest.approx(1.0)
    assert metrics.auroc(-b, -a) == pytest.approx(metrics.auroc(a, b))       # flipping the sign flips the roles


def test_roc_curve_matches_scikit_learn_and_its_area_is_the_auroc():
    g = torch.Generator().manual_seed(1)
    normal = torch.randn(200, generator=g).round(decimals=1)
    anomaly = (torch.randn(80, generator=g) + 1).round(decimals=1)
    fpr, tpr = metrics.roc_curve(normal, anomaly)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all()
    assert torch.trapezoid(tpr, fpr).item() == pytest.approx(metrics.auroc(normal, anomaly), abs=1e-12)
    sk_fpr, sk_tpr, _ = roc_curve([0] * 200 + [1] * 80, torch.cat([normal, anomaly]).numpy(), drop_intermediate=False)
    assert fpr.numpy() == pytest.approx(sk_fpr) and tpr.numpy() == pytest.approx(sk_tpr)


def test_detection_rates_count_what_reaches_the_threshold():
    normal, anomaly = torch.arange(10.0), torch.arange(5.0, 15.0)
    assert metrics.detection_rates(8.0, normal, anomaly) == (0.7, 0.2)
    assert metrics.detection_rates(100.0, normal, anomaly) == (0.0, 0.0)
    assert metrics.detection_rates(-1.0, normal, anomaly) == (1.0, 1.0)


@pytest.mark.parametrize("bad, words", [(torch.tensor([]), "non-empty 1-D"), (torch.ones(3, 2), "non-empty 1-D"),
                                        (torch.tensor([1.0, float("nan")]), "NaN or infinite")])
def test_bad_scores_raise_clear_errors(bad, words):
    with pytest.raises(ValueError, match=words):
        metrics.auroc(torch.ones(3), bad)
    with pytest.raises(ValueError, match=words):
        metrics.roc_curve(bad, torch.ones(3))
