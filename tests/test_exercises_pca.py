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


def centres_in_place(x, k):
    x -= x.mean(dim=0)  # changes the caller's data
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return x @ vh[:k].T @ vh[:k]


def centres_in_place_on_big_inputs_only(x, k):
    """Right on the checker's small inputs, in place on a lesson-sized one: use() must still protect the data."""
    mean = x.mean(dim=0)
    if x.shape[0] > 1000:
        x.sub_(mean)
        centred = x
    else:
        centred = x - mean
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:k].T @ vh[:k] + mean


def lesson_data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2000, 30, generator=g) * torch.linspace(1, 0.1, 30)


def test_in_place_centring_is_named_and_the_lessons_data_stay_unchanged(capsys):
    status, message = ex.verdict(centres_in_place)
    assert status == "incorrect" and "changed its input `x` in place" in message, message
    x = lesson_data()
    before = x.clone()
    pca = ex.use(centres_in_place)
    assert pca is models.pca_reconstruct
    pca(x, 8)
    assert torch.equal(x, before)


def test_use_protects_the_lessons_data_from_a_mistake_the_checker_did_not_see():
    assert ex.verdict(centres_in_place_on_big_inputs_only)[0] == "correct"  # the checker's inputs are small
    x = lesson_data()
    before = x.clone()
    pca = ex.use(centres_in_place_on_big_inputs_only)
    assert torch.allclose(pca(x, 8), models.pca_reconstruct(before, 8), atol=1e-4)
    assert torch.equal(x, before)


def test_other_correct_forms_pass():
    def with_the_covariance_eigenvectors(x, k):
        mean = x.mean(0)
        centred = x - mean
        _, vectors = torch.linalg.eigh(centred.T @ centred)
        top = vectors[:, -k:]                     # eigh sorts ascending: the last k are the top k
        return centred @ top @ top.T + mean

    def with_lowrank_svd(x, k):
        mean = x.mean(0, keepdim=True)
        u, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
        return u[:, :k] * s[:k] @ vh[:k] + mean

    for right in (with_the_covariance_eigenvectors, with_lowrank_svd):
        assert ex.verdict(right)[0] == "correct", ex.verdict(right)[1]


def test_nan_results_are_named():
    status, message = ex.verdict(lambda x, k: models.pca_reconstruct(x, k) * torch.log(x - x.min()) / torch.log(x))
    assert status == "incorrect" and "contains NaN" in message, message
