"""The digit classifier that judges generated digits, the shipped deep autoencoder and the hole test."""

import math

import pytest
import torch

from vaecourse import ae_mnist, classifier, losses, metrics, train


@pytest.fixture(scope="module")
def digits(full_mnist):
    return full_mnist


@pytest.mark.skipif(not classifier.CHECKPOINT.exists(), reason="the classifier is not in data/checkpoints")
def test_shipped_classifier_reaches_its_recorded_test_accuracy(digits):
    model = classifier.load_classifier()
    record = train.load_record(classifier.CHECKPOINT, "make it")
    accuracy = (classifier.predict_proba(model, digits.x_test).argmax(1) == digits.y_test).double().mean().item()
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-4) and accuracy > 0.985


@pytest.mark.skipif(not classifier.CHECKPOINT.exists(), reason="the classifier is not in data/checkpoints")
def test_judge_tells_digits_from_blobs(digits):
    model = classifier.load_classifier()
    real = classifier.judge(model, digits.x_test[:1000])
    assert real.classes_seen == 10 and real.class_entropy > 2.2 and real.confident_fraction > 0.9
    ones = classifier.judge(model, digits.x_test[digits.y_test == 1][:200])
    assert ones.counts[1] >= 195 and ones.class_entropy < 0.1 and ones.classes_seen <= 3
    blobs = classifier.judge(model, torch.full((100, 784), 0.3))
    assert blobs.classes_seen == 1 and blobs.class_entropy == 0.0
    assert "entropy" in real.summary() and f"{math.log(10):.2f}" in real.summary()
    assert real.class_distance(real) == 0.0 and 0.85 < ones.class_distance(real) < 0.9   # 1s are 11% of real digits



def test_class_distance_is_total_variation_between_class_mixes():
    def judgement(counts):
        return classifier.Judgement(counts, 0.0, 0, 0.0, 0.0)

    only_zeros, only_ones = judgement([10] + [0] * 9), judgement([0, 30] + [0] * 8)
    assert only_zeros.class_distance(only_ones) == 1.0
    assert judgement([1] * 10).class_distance(judgement([7] * 10)) == 0.0          # same proportions
    assert judgement([2, 2] + [0] * 8).class_distance(judgement([1, 3] + [0] * 8)) == pytest.approx(0.25)


def test_judge_needs_images():
    with pytest.raises(ValueError, match="at least one image"):
        classifier.judge(classifier.DigitClassifier(), torch.zeros(0, 784))


def test_train_classifier_learns_from_labels(digits):
    torch.manual_seed(0)
    model = classifier.DigitClassifier()
    history = classifier.train_classifier(model, digits.x_train[:2000], digits.y_train[:2000], epochs=2,
                                          verbose=False)
    assert history["error"][-1] < history["error"][0] and history["error"][-1] < 0.25
    assert model.training is False                                   # fit leaves it in eval mode


@pytest.mark.skipif(not ae_mnist.CHECKPOINT.exists(), reason="the deep autoencoder is not in data/checkpoints")
def test_shipped_deep_autoencoder_reproduces_its_record(digits):
    model = ae_mnist.make_deep_autoencoder()
    history, _ = train.load_checkpoint(ae_mnist.CHECKPOINT, model)
    record = ae_mnist.load_record()
    with torch.no_grad():
        error = losses.squared_error(model(digits.x_test), digits.x_test).mean().item()
    assert error == pytest.approx(record["test_squared_error"], abs=1e-3)
    assert len(history["loss"]) == record["epochs"] == ae_mnist.EPOCHS


def test_fraction_in_holes():
    grid = torch.stack(torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="ij"), -1).reshape(-1, 2)
    inside = torch.rand(500, 2, generator=torch.Generator().manual_seed(0)) * 9
    fraction, threshold = metrics.fraction_in_holes(grid, inside)
    assert threshold == pytest.approx(1.0) and fraction < 0.6          # every point of a unit grid is within ~0.71
    far = torch.full((50, 2), 30.0)
    assert metrics.fraction_in_holes(grid, far)[0] == 1.0
    assert metrics.fraction_in_holes(grid, grid[:5] + 0.01)[0] == 0.0
    with pytest.raises(ValueError, match="same D"):
        metrics.fraction_in_holes(grid, torch.zeros(3, 3))
