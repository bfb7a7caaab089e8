"""The lesson-06 MIG exercise: the reference passes, each known mistake is named, the stub is 'not attempted'."""

import pytest

from vaecourse import exercises as ex
from vaecourse import metrics


def stub(mutual_info, entropy):
    # YOUR CODE HERE
    raise NotImplementedError


def test_reference_passes():
    assert ex.mig_per_factor.verdict(metrics.mig_per_factor)[0] == "correct"


def test_stub_is_not_attempted():
    status, message = ex.mig_per_factor.verdict(stub)
    assert status == "not attempted" and "not attempted yet" in message
    assert ex.mig_per_factor.use(stub) is metrics.mig_per_factor


@pytest.mark.parametrize("mistake, words", [
    (ex.lesson06._mig_not_normalised, "did not divide by the factor's entropy"),
    (ex.lesson06._mig_no_gap, "without subtracting the second largest"),
    (ex.lesson06._mig_minus_mean, "subtracted the mean of the other latents"),
    (ex.lesson06._mig_ascending, "sorted in ascending order"),
    (ex.lesson06._mig_averaged, "averaged over the factors already"),
])
def test_each_mistake_is_named(mistake, words):
    status, message = ex.mig_per_factor.verdict(mistake)
    assert status == "incorrect" and words in message


def test_a_different_correct_implementation_passes():
    def via_topk(mutual_info, entropy):
        best, second = mutual_info.topk(2, dim=0).values
        return (best - second) / entropy

    assert ex.mig_per_factor.verdict(via_topk)[0] == "correct"


def test_other_correct_forms_pass():
    def with_kthvalue(mutual_info, entropy):
        n = mutual_info.shape[0]
        best = mutual_info.kthvalue(n, dim=0).values
        second = mutual_info.kthvalue(n - 1, dim=0).values
        return (best - second) / entropy

    def normalised_first(mutual_info, entropy):
        top = (mutual_info / entropy).sort(dim=0, descending=True).values
        return top[0] - top[1]

    for right in (with_kthvalue, normalised_first):
        assert ex.mig_per_factor.verdict(right)[0] == "correct", ex.mig_per_factor.verdict(right)[1]


def test_sorting_in_place_is_named():
    def sorts_in_place(mutual_info, entropy):
        mutual_info[:] = mutual_info.sort(dim=0, descending=True).values
        return (mutual_info[0] - mutual_info[1]) / entropy

    status, message = ex.mig_per_factor.verdict(sorts_in_place)
    assert status == "incorrect" and "changed its input `mutual_info` in place" in message, message


def test_nan_from_a_zero_entropy_guard_gone_wrong_is_named():
    def divides_by_the_wrong_thing(mutual_info, entropy):
        top = mutual_info.sort(dim=0, descending=True).values
        return (top[0] - top[1]) / (entropy - entropy) * 0

    status, message = ex.mig_per_factor.verdict(divides_by_the_wrong_thing)
    assert status == "incorrect" and "NaN" in message, message
