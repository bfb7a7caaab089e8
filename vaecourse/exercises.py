"""Exercises with ``check``, ``hint`` and ``solution``, in the style of Kaggle's learntools.

Each exercise knows its reference answer and the *known mistakes* learners
make (a missing ½, a wrong sign, a mean where a sum belongs, ...). ``check``
runs the learner's function on the lesson's inputs and compares it with the
reference and with each mistake, so a wrong answer gets a message that names
the mistake rather than a bare "wrong".

A learner who has not attempted an exercise (the function still raises
``NotImplementedError``) sees "not attempted yet"; the lesson goes on with
the reference version via ``exercise.use(fn)``.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from vaecourse import models


class NotAttempted(Exception):
    """The learner's function is still the ``raise NotImplementedError`` stub."""


def call(fn: Callable, *args):
    """Call the learner's ``fn``; a stub (``NotImplementedError``, ``None``, ``...``) raises NotAttempted."""
    try:
        out = fn(*args)
    except NotImplementedError:
        raise NotAttempted from None
    if out is None or out is Ellipsis:
        raise NotAttempted
    return out


def shape_text(args: Sequence) -> str:
    return ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def compare_with_mistakes(fn: Callable, reference: Callable, mistakes: dict[str, Callable],
                          inputs: Sequence[tuple], atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Diagnose ``fn`` by comparing it with ``reference`` and each known mistake on ``inputs``.

    Returns ``None`` when ``fn`` matches the reference on every input, else a
    message: the first mistake whose output ``fn`` reproduces, or a generic
    description of the difference (shape or largest error).
    """
    for args in inputs:
        try:
            got = call(fn, *args)
        except NotAttempted:
            raise
        except Exception as error:  # noqa: BLE001 - report any learner error in words
            return (f"Your function raised {type(error).__name__}: {error} on inputs of shape "
                    f"{shape_text(args)}. It must work on these shapes.")
        if not isinstance(got, torch.Tensor):
            return f"Your function returned a {type(got).__name__}; it should return a torch.Tensor."
        want = reference(*args)
        if got.shape == want.shape and torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol):
            continue
        for message, mistake in mistakes.items():
            wrong = mistake(*args)
            if got.shape == wrong.shape and torch.allclose(got.double(), wrong.double(), atol=atol, rtol=rtol):
                return message
        if got.shape != want.shape:
            return (f"Your function returned shape {tuple(got.shape)} but {tuple(want.shape)} was expected "
                    f"for inputs of shape {shape_text(args)}.")
        error = (got.double() - want.double()).abs().max().item()
        return f"The shape is right but the values differ from the expected ones by up to {error:.3g}."
    return None


@dataclass
class Exercise:
    """One exercise: ``check(fn)``, ``hint()``, ``solution()`` and ``use(fn)``.

    ``diagnose(fn)`` returns ``None`` for a right answer, else the message
    naming the mistake; it raises :class:`NotAttempted` for an untouched stub.
    """

    title: str
    reference: Callable
    diagnose: Callable[[Callable], str | None]
    hint_text: str
    solution_code: str = ""
    done: bool = field(default=False, init=False)

    def verdict(self, fn: Callable) -> tuple[str, str]:
        """(status, message) with status one of ``"correct"``, ``"incorrect"``, ``"not attempted"``."""
        try:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                message = self.diagnose(fn)
        except NotAttempted:
            return "not attempted", (f"⏳ {self.title}: not attempted yet. "
                                     "Fill in the function, then run this cell again.")
        if message is None:
            return "correct", f"✅ {self.title}: correct!"
        return "incorrect", f"❌ {self.title}: {message}"

    def check(self, fn: Callable) -> bool:
        """Print a friendly verdict; return True only when ``fn`` is right."""
        status, message = self.verdict(fn)
        print(message)
        self.done = status == "correct"
        return self.done

    def hint(self) -> None:
        print(f"💡 Hint: {self.hint_text}")

    def solution(self) -> None:
        code = self.solution_code or textwrap.dedent(inspect.getsource(self.reference))
        print(f"Solution ({self.title}):\n\n{code}")

    def use(self, fn: Callable) -> Callable:
        """The learner's ``fn`` if it is right, else the reference (so later cells always run)."""
        status, _ = self.verdict(fn)
        if status == "correct":
            return fn
        print(f"(Using the course's reference version of '{self.title}' for the rest of the lesson.)")
        return self.reference


# ---------------------------------------------------------------------------
# Lesson 01: reconstruct data from its top-k principal components.

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
