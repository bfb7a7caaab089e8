import torch

from vaecourse import exercises, models

ex = exercises.pca_reconstruction


def test_reference_passes(capsys):
    assert ex.check(models.pca_reconstruct)
    assert "correct" in capsys.readouterr().out


def test_stub_is_not_attempted(capsys):
    def stub(x, k):
        raise NotImplementedError

    assert not ex.check(stub)
    assert "not attempted yet" in capsys.readouterr().out
    assert ex.use(stub) is models.pca_reconstruct


def test_each_known_mistake_is_named():
    cases = {
        exercises.lesson01._pca_no_centering: "did not subtract the mean",
        exercises.lesson01._pca_mean_not_added_back: "forgot to add the mean back",
        exercises.lesson01._pca_smallest_components: "smallest",
        exercises.lesson01._pca_codes_only: "returned the k-dimensional codes",
    }
    for wrong, phrase in cases.items():
        status, message = ex.verdict(wrong)
        assert status == "incorrect" and phrase in message, (wrong.__name__, message)


def test_crashing_and_non_tensor_answers_get_clear_messages():
    def crashes(x, k):
        return x @ torch.zeros(3, 3)

    assert "raised RuntimeError" in ex.verdict(crashes)[1]
    assert "torch.Tensor" in ex.verdict(lambda x, k: x.tolist())[1]
    assert "values differ" in ex.verdict(lambda x, k: x * 0)[1]


def test_hint_and_solution(capsys):
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "svd" in out and "def pca_reconstruct" in out
