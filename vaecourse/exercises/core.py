"""The shared core of the exercises: ``Exercise`` (``check``, ``hint``, ``solution``, ``use``) and the helpers
that call a learner's function and compare it with the reference and the known mistakes.

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
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch


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


class Rejected(Exception):
    """The learner's function crashed or returned the wrong kind of thing; the text says what to fix."""


def learner_call(fn: Callable, args: Sequence, where: str, returns: str | None = "a torch.Tensor"):
    """Call the learner's ``fn(*args)``; a crash (or a result that is not ``returns``) raises Rejected.

    ``where`` completes "Your function raised X: ... {where}." so the message names the inputs.
    """
    try:
        out = call(fn, *args)
    except NotAttempted:
        raise
    except Exception as error:  # noqa: BLE001 - report any learner error in words
        raise Rejected(f"Your function raised {type(error).__name__}: {error} {where}.") from None
    if returns is not None and not isinstance(out, torch.Tensor):
        raise Rejected(f"Your function returned a {type(out).__name__}; it should return {returns}.")
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
        got = learner_call(fn, args, f"on inputs of shape {shape_text(args)}. It must work on these shapes")
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
        except Rejected as rejection:
            message = str(rejection)
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


@contextmanager
def one_thread():
    """Run tiny tensor code on one CPU thread: on a busy machine, waking BLAS threads costs ~100× the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
