"""The shared core of the exercises: ``Exercise`` (``check``, ``hint``, ``solution``, ``use``) and the helpers
that call a learner's function and compare it with the reference and the known mistakes.

Each exercise knows its reference answer and the *known mistakes* learners
make (a missing ½, a wrong sign, a mean where a sum belongs, ...). ``check``
runs the learner's function on the lesson's inputs and compares it with the
reference and with each mistake, so a wrong answer gets a message that names
the mistake rather than a bare "wrong".

A learner who has not attempted an exercise (the function still raises
``NotImplementedError``) sees one line, "not attempted yet"; the lesson goes on
with the reference version via ``exercise.use(fn)``.

What a checker gets for free
----------------------------
A lesson's checker is a ``diagnose(fn)`` that calls the learner's function only
through :func:`call` or :func:`learner_call` (directly or via
:func:`compare_with_mistakes`). Whatever it checks, it then also gets:

* **Private copies.** The learner's function runs on copies of every tensor
  and NumPy array among its arguments (also inside lists, tuples and dicts);
  tensors are copied with ``clone()``, so gradients still reach the checker's
  own tensors; dataclass instances (lesson 02's toy model) are deep-copied.
  If the function changed an input in place, the check names it: "Your
  function changed its input `x` in place". The reference and the known
  mistakes are computed on untouched inputs. Other objects (an nn.Module, an
  optimiser) are passed as they are, since some exercises are meant to
  change them.
* **A safe ``use()``.** The function ``use(fn)`` hands back always runs on
  private copies too, so it can never change a lesson's data, even with a
  mistake that the checker's inputs did not trigger.
* **Random state left alone.** Each check runs with the global generators of
  torch, Python's ``random`` and NumPy seeded (so verdicts are reproducible)
  and restored afterwards: checking never changes the lesson's random stream.
  A learner function that re-seeds torch's global generator
  (``torch.manual_seed`` inside the function) is named.
* **A time limit.** Each check has ``Exercise.time_limit_s`` seconds (20 by
  default); an endless loop ends with a one-line message instead of hanging
  the kernel. See :func:`time_limit` for how, per platform. The limit can
  stop the checker's own code too, so a checker must not leave a cache
  half-filled (build it, then store it in one step).
* **One CPU thread.** A check runs with ``torch.set_num_threads(1)`` (restored
  afterwards): its tensors are small, and waking BLAS threads on a busy
  machine costs far more than the work.
* **Crashes in words.** A learner function that raises gets "Your function
  raised X: ..." with the inputs named; a result of the wrong kind is named.
* With :func:`compare_with_mistakes`, in this order: the first known mistake
  the result reproduces; NaN or inf where the right answer is finite ("numerically
  fragile", with the input ranges that trigger it); a wrong shape; the largest
  difference; and, once every value is right, **gradients**: for each input
  tensor that requires grad, the learner's gradient is compared with the
  reference's, naming the input that gets none (``.detach()``, ``.data``,
  NumPy) or a wrong one.

Writing a checker: give ``compare_with_mistakes`` inputs of several shapes (so that sums, means and
dimensions cannot coincide); make the inputs that should receive a gradient float64 leaves with
``requires_grad`` (only those are gradient-checked); put last an input at the scale a trained model
produces (|logvar| up to 20, logits up to ±30, log-weights near −100), where fragile forms fail while
the standard ones do not. ``check`` prints one line and returns a quiet true/false (a cell ending in
``ex.check(fn)`` shows no ``False``).

Helpers for random answers, to call from a checker: :func:`repeated_draws_message`
(the same draw on every call means a re-seeded generator), :func:`standard_normal_message`
(noise that has mean 0 and variance 1 but is uniform, ±1 or otherwise not
Gaussian) and :func:`sample_count_message` (an estimator whose spread does not
shrink like 1/√n ignores its sample count).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import os
import random
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

CHECK_TIME_LIMIT_S = 20.0   # seconds per check (the whole diagnose run); an endless loop gets a message
CHECK_SEED = 271_828_182    # the global generators' seed during a check (unusual, so a re-seed is noticed)


class NotAttempted(Exception):
    """The learner's function is still the ``raise NotImplementedError`` stub."""


class Rejected(Exception):
    """The learner's function crashed or returned the wrong kind of thing; the text says what to fix."""


class TimeLimitExceeded(BaseException):
    """A check ran out of time. A BaseException, so that a learner's ``except Exception`` cannot swallow it."""


# --- Private copies of the learner's inputs ---

def private_copy(value):
    """``value`` with every tensor cloned and every NumPy array copied, also inside lists, tuples and dicts;
    dataclass instances (the course's plain models, such as lesson 02's toy model) are deep-copied.

    ``clone()`` keeps the autograd link, so a gradient of the learner's result still reaches the original
    tensors. Other objects (nn.Modules, optimisers, generators, numbers) are returned as they are.
    """
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return type(value)((key, private_copy(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        items = [private_copy(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def _leaves(value, label: str) -> Iterator[tuple[str, object]]:
    """(label, array) for every tensor and NumPy array in ``value``, with a label that says where it sits."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        yield label, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{label}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{label}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _leaves(getattr(value, item.name, None), f"{label}.{item.name}")


def _same_array(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        a, b = a.detach(), b.detach()
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        return bool(torch.equal(a, b)) or (a.is_floating_point() and bool(torch.allclose(a, b, 0, 0, equal_nan=True)))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return False


def argument_names(fn: Callable, count: int) -> list[str]:
    """The names of ``fn``'s first ``count`` positional parameters ("argument 3" where it has no name)."""
    try:
        parameters = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = []
    names = [p.name for p in parameters[:count]]
    return names + [f"argument {i + 1}" for i in range(len(names), count)]


def changed_input(fn: Callable, originals: Sequence, copies: Sequence) -> str | None:
    """The name of the first input that ``fn`` changed in place (``copies`` after the call vs ``originals``)."""
    for name, original, copied in zip(argument_names(fn, len(originals)), originals, copies):
        before, after = list(_leaves(original, name)), list(_leaves(copied, name))
        if [label for label, _ in before] != [label for label, _ in after]:
            return name
        for (label, a), (_, b) in zip(before, after):
            if not _same_array(a, b):
                return label
    return None


IN_PLACE_MESSAGE = ("Your function changed its input `{name}` in place (an in-place operation such as "
                    "`{name} -= ...`, `{name}.sub_(...)`, `{name}[...] = ...` or `{name}.data = ...`): in the lesson "
                    "that would silently change the data of every later cell. Compute new tensors instead "
                    "(`centred = {name} - ...`).")

RESEED_MESSAGE = ("Your function re-seeds PyTorch's global random generator (torch.manual_seed): every call would then "
                  "repeat the same 'random' numbers, and the rest of the lesson's randomness would change. Seed once "
                  "at the top of a lesson, never inside a function.")


def call(fn: Callable, *args):
    """Call the learner's ``fn`` on private copies of ``args``; a stub (``NotImplementedError``, ``None``, ``...``)
    raises NotAttempted, a function that changed an input in place or re-seeded torch raises Rejected."""
    copies = private_copy(args)
    seed = torch.initial_seed()
    try:
        with _traced_time_limit():
            out = fn(*copies)
    except NotImplementedError:
        raise NotAttempted from None
    changed = changed_input(fn, args, copies)
    if changed is not None:
        raise Rejected(IN_PLACE_MESSAGE.format(name=changed))
    if torch.initial_seed() != seed:
        raise Rejected(RESEED_MESSAGE)
    if out is None or out is Ellipsis:
        raise NotAttempted
    return out


def learner_call(fn: Callable, args: Sequence, where: str, returns: str | None = "a torch.Tensor"):
    """Call the learner's ``fn(*args)`` (through :func:`call`); a crash, or a result that is not ``returns``,
    raises Rejected.

    ``where`` completes "Your function raised X: ... {where}." so the message names the inputs.
    """
    try:
        out = call(fn, *args)
    except (NotAttempted, Rejected):
        raise
    except Exception as error:  # noqa: BLE001 - report any learner error in words
        raise Rejected(f"Your function raised {type(error).__name__}: {error} {where}.") from None
    if returns is not None and not isinstance(out, torch.Tensor):
        raise Rejected(f"Your function returned a {type(out).__name__}; it should return {returns}.")
    return out


def guarded(fn: Callable) -> Callable:
    """``fn`` run on private copies of its tensor and array arguments: what ``use`` hands to a lesson."""
    @functools.wraps(fn)
    def on_private_copies(*args, **kwargs):
        return fn(*private_copy(args), **private_copy(kwargs))

    return on_private_copies


# --- Comparing with the reference and the known mistakes ---

def shape_text(args: Sequence) -> str:
    return ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def _close(got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float, equal_nan: bool = False) -> bool:
    return got.shape == want.shape and bool(torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol,
                                                           equal_nan=equal_nan))


def _input_ranges(fn: Callable, args: Sequence) -> str:
    parts = [f"{name} in [{arg.min().item():.3g}, {arg.max().item():.3g}]"
             for name, arg in zip(argument_names(fn, len(args)), args)
             if isinstance(arg, torch.Tensor) and arg.is_floating_point() and arg.numel()]
    return ", ".join(parts) or f"inputs of shape {shape_text(args)}"


def nonfinite_message(got: torch.Tensor, want: torch.Tensor, fn: Callable, args: Sequence,
                      right_elsewhere: bool = False) -> str | None:
    """A message if ``got`` has NaN or inf where ``want`` (the right answer) is finite, else None.

    ``right_elsewhere``: the learner's function was right on the other inputs, so its form is numerically
    fragile rather than wrong, and the message says so.
    """
    if not got.is_floating_point():
        return None
    bad = ~torch.isfinite(got.detach())
    if got.shape == want.shape:
        bad &= torch.isfinite(want.detach())
    if not bad.any():
        return None
    kinds = " and ".join(kind for kind, found in (("NaN", got.isnan()), ("inf", got.isinf())) if found.any())
    where = f"Your result contains {kinds} where the right answer is finite, on inputs with {_input_ranges(fn, args)}"
    causes = ("an exp that overflows, a product of many small numbers that underflows to 0 and is then logged, "
              "log(0) or 0·log 0, 0/0")
    if right_elsewhere:
        return f"{where}, though it is right on the other inputs: your form is numerically fragile ({causes}); " \
               "the standard form stays finite there."
    return f"{where}: look for {causes}, or a log or square root of a negative number."


def _value_message(got, want, args, mistakes, atol, rtol, fn, right_elsewhere=False) -> str | None:
    """None if ``got`` matches ``want``; else the matching mistake, NaN/inf, shape or size of the difference."""
    if _close(got, want, atol, rtol):
        return None
    for message, mistake in mistakes.items():
        if _close(got, mistake(*args), atol, rtol, equal_nan=True):  # a mistake may be a form that gives NaN
            return message
    nonfinite = nonfinite_message(got, want, fn, args, right_elsewhere)
    if nonfinite:
        return nonfinite
    if got.shape != want.shape:
        return (f"Your function returned shape {tuple(got.shape)} but {tuple(want.shape)} was expected "
                f"for inputs of shape {shape_text(args)}.")
    error = (got.double() - want.double()).abs().max().item()
    return (f"The shape is right but the values differ from the expected ones by up to {error:.3g}, on inputs "
            f"with {_input_ranges(fn, args)}.")


NO_GRADIENT_MESSAGE = ("Your result has no gradient (it went through NumPy, .item(), .detach(), .data or "
                       "torch.no_grad()): training needs gradients through it, so compute it with torch operations "
                       "on the inputs themselves.")


def gradient_message(got: torch.Tensor, reference: Callable, args: Sequence, fn: Callable,
                     atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Compare the gradients of the learner's result ``got`` (of ``fn(*args)``) with the reference's.

    For each input tensor of ``args`` that requires grad, both results are weighted by the same fixed random
    tensor, summed and differentiated; an input the reference's gradient reaches but the learner's does not
    (or reaches with other values) is named. None when every gradient agrees or no input requires grad.
    """
    leaves = [(label, t) for name, arg in zip(argument_names(fn, len(args)), args) for label, t in _leaves(arg, name)
              if isinstance(t, torch.Tensor) and t.requires_grad]
    if not leaves:
        return None
    with torch.enable_grad():
        want = reference(*private_copy(tuple(args)))
        if not want.requires_grad:
            return None
        if not got.requires_grad:
            return NO_GRADIENT_MESSAGE
        weights = torch.randn(want.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        tensors = [t for _, t in leaves]
        wanted = torch.autograd.grad((want * weights.to(want)).sum(), tensors, allow_unused=True)
        try:
            grads = torch.autograd.grad((got * weights.to(got)).sum(), tensors, allow_unused=True)
        except RuntimeError as error:
            return (f"The values are right but backpropagation through your result fails ({str(error).split(':')[0]})"
                    ": an in-place operation inside your function overwrote a value that backpropagation needs; "
                    "use out-of-place operations (y = y * 2, not y *= 2).")
    for (name, _), grad, wanted_grad in zip(leaves, grads, wanted):
        if wanted_grad is None or not wanted_grad.abs().max() > 0:
            continue
        if grad is None or not grad.abs().max() > 0:
            return (f"No gradient reaches `{name}`: it only enters your result through .detach(), .data, .item(), "
                    f"NumPy or torch.no_grad(), so training could not change it. Use `{name}` itself in the formula.")
        error = (grad.double() - wanted_grad.double()).abs().max().item()
        if not error <= 10 * atol + 10 * rtol * wanted_grad.abs().max().item():
            return (f"The values are right but the gradient with respect to `{name}` is wrong (it differs by up to "
                    f"{error:.3g}): part of your formula uses `{name}` through .detach(), .data, .item() or NumPy, "
                    f"so it is a constant there. Use `{name}` itself everywhere.")
    return None


def compare_with_mistakes(fn: Callable, reference: Callable, mistakes: dict[str, Callable],
                          inputs: Sequence[tuple], atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Diagnose ``fn`` by comparing it with ``reference`` and each known mistake on ``inputs``.

    Returns ``None`` when ``fn`` matches the reference on every input (values, and gradients for the inputs
    that require grad), else a message: the first mistake whose output ``fn`` reproduces, NaN/inf where the
    answer is finite, a wrong shape, the largest error, or the input whose gradient is missing or wrong.
    ``fn`` runs on private copies (see :func:`call`); the reference and the mistakes on untouched inputs.
    """
    results = []
    for args in inputs:
        got = learner_call(fn, args, f"on inputs of shape {shape_text(args)}. It must work on these shapes")
        with torch.no_grad():
            want = reference(*private_copy(tuple(args)))
            message = _value_message(got.detach(), want, args, mistakes, atol, rtol, fn, right_elsewhere=bool(results))
        if message:
            return message
        results.append(got)
    for args, got in zip(inputs, results):
        message = gradient_message(got, reference, args, fn, atol, rtol)
        if message:
            return message
    return None


# --- Helpers for checkers of random answers ---

REPEATED_DRAWS_MESSAGE = ("Your function returns exactly the same {what} on every call: it seeds a generator inside "
                          "(torch.manual_seed, torch.Generator().manual_seed(...), np.random.seed or "
                          "default_rng(seed)), so its 'random' draws repeat. Draw from the global generator "
                          "(torch.randn_like) and seed once, at the top of the lesson.")


def repeated_draws_message(fn: Callable, args: Sequence, where: str, what: str = "draw") -> str | None:
    """Call ``fn(*args)`` twice: the same result both times means its randomness repeats (a seed inside)."""
    first = learner_call(fn, args, where)
    second = learner_call(fn, args, where)
    if first.shape == second.shape and torch.equal(first.detach(), second.detach()):
        return REPEATED_DRAWS_MESSAGE.format(what=what)
    return None


NORMALITY_KS_LIMIT = 2.3   # √n·(KS distance): a N(0, 1) sample exceeds it with probability ≈ 1e-4


def standard_normal_message(eps: torch.Tensor, name: str = "ε") -> str | None:
    """None if every column of ``eps`` (n draws × d) looks like N(0, 1) in shape, else a message naming it.

    Meant for noise whose mean and variance were already checked: uniform noise scaled to variance 1, or
    ±1 coin flips, have the right two moments but the wrong shape. Uses the Kolmogorov–Smirnov distance to
    the N(0, 1) distribution function and names what the draws look like (two values, uniform by kurtosis).
    """
    eps = eps.detach().double().reshape(eps.shape[0], -1)
    n = eps.shape[0]
    values = eps.sort(dim=0).values
    cdf = torch.special.ndtr(values)
    rank = torch.arange(1, n + 1, dtype=torch.float64).unsqueeze(1)
    distance = torch.maximum(rank / n - cdf, cdf - (rank - 1) / n).max().item()
    if math.sqrt(n) * distance <= NORMALITY_KS_LIMIT:
        return None
    centred = eps - eps.mean(dim=0)
    kurtosis = ((centred**4).mean(dim=0) / (centred**2).mean(dim=0) ** 2).mean().item()   # 3 for a Gaussian
    distinct = max(torch.unique(eps[:, j]).numel() for j in range(eps.shape[1]))
    if distinct <= 2:
        shape = "takes only two values (±1 coin flips)"
    elif distinct <= 20:
        shape = f"takes only {distinct} different values"
    elif abs(kurtosis - 1.8) < 0.2:
        shape = f"is uniform (kurtosis {kurtosis:.2f}; a Gaussian has 3, a uniform 1.8)"
    else:
        shape = f"is not Gaussian (kurtosis {kurtosis:.2f}, a Gaussian has 3)"
    return (f"Your {name} has mean 0 and variance 1 but {shape}: Kolmogorov–Smirnov distance {distance:.3f} to N(0, 1) "
            f"over {n:,} draws, where {NORMALITY_KS_LIMIT / math.sqrt(n):.3f} is the most chance allows. "
            "Draw it with torch.randn / torch.randn_like.")


def sample_count_message(spread_few: float, spread_many: float, n_few: int, n_many: int,
                         name: str = "n_samples", slack: float = 2.5) -> str | None:
    """None if an estimator's spread shrinks like 1/√n from ``n_few`` to ``n_many`` samples (within ``slack``).

    An unbiased Monte Carlo average of n draws has spread ∝ 1/√n; one that draws a fixed number of samples,
    whatever ``name`` says, is as noisy with many as with few. Better estimators (a closed-form term) shrink
    the spread but keep the 1/√n law, so they pass.
    """
    expected = math.sqrt(n_many / n_few)
    if spread_many <= 0 or spread_few / spread_many >= expected / slack:
        return None
    return (f"Your estimates are about as noisy with {name}={n_many:,} as with {name}={n_few} "
            f"(spread {spread_many:.3g} vs {spread_few:.3g}; a Monte Carlo average's spread shrinks like "
            f"1/√{name}, {expected:.0f}× here): your function ignores {name}. Draw {name} samples and average them.")


# --- Random state and the time limit around a check ---

@contextmanager
def isolated_random_state(seed: int = CHECK_SEED):
    """Seed torch's (CPU and CUDA), Python's and NumPy's global generators, and restore them afterwards."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


_trace_deadline: ContextVar[float | None] = ContextVar("vaecourse_trace_deadline", default=None)


@contextmanager
def time_limit(seconds: float | None):
    """Raise TimeLimitExceeded in the code run inside once ``seconds`` have passed.

    * In the main thread on Linux and macOS (a Jupyter kernel runs cells there): a real-time interval timer
      (``signal.setitimer``) whose SIGALRM handler raises; nothing runs until it fires, so a normal check is
      not slowed down. It fires again every 0.25 s; if a learner's bare ``except:`` swallowed the last one,
      it also traces the stack, so that the exception is raised again at the learner's next line, inside
      the ``except:`` block, from where it escapes.
    * Elsewhere (Windows, or a check run from another thread): a trace function (``sys.settrace``) watches
      the clock while the *learner's* function runs, line by line (the checker's own code runs untraced).
      A bare ``except:`` inside the learner's loop can swallow it there.
    Either way, a single torch operation that runs for long is not cut short: the limit acts between
    Python lines.
    """
    if not seconds or seconds <= 0:
        yield
    elif hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        token = _trace_deadline.set(time.monotonic() + seconds)
        try:
            yield
        finally:
            _trace_deadline.reset(token)


@contextmanager
def _alarm(seconds: float):
    armed, fired, traced = True, 0, []

    def on_alarm(signum, frame):
        nonlocal fired
        if armed:
            fired += 1
            if fired > 1:  # the last one was swallowed by a bare `except:`: stop the learner at its next line
                traced.extend(_stop_at_next_line(frame))
            raise TimeLimitExceeded

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_trace = sys.gettrace()
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    started = time.monotonic()
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous_handler is None else previous_handler)
        if traced:
            sys.settrace(previous_trace)
            for frame in traced:
                frame.f_trace = None
        if outer_delay:  # someone else's timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 1e-3), outer_interval)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _stop_at_next_line(frame) -> list:
    """Trace every frame on the stack so that the next line run outside this package raises
    TimeLimitExceeded: raised inside an ``except:`` block, it escapes the ``try`` that swallowed the last one."""
    def tracer(frame, event, arg):
        if event == "line" and not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            raise TimeLimitExceeded
        return tracer

    sys.settrace(tracer)
    frames = []
    while frame is not None:
        frame.f_trace = tracer
        frames.append(frame)
        frame = frame.f_back
    return frames


@contextmanager
def _traced_time_limit():
    """While the learner's function runs: the trace-function time limit, if :func:`time_limit` chose it."""
    deadline = _trace_deadline.get()
    if deadline is None:
        yield
        return

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeLimitExceeded
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


# --- The exercise object ---

class CheckResult(int):
    """What ``check`` returns: true when the answer is right. As a cell's last value it shows nothing
    (the verdict is already printed), so an exercise cell never echoes ``False``."""

    def __repr__(self) -> str:
        return repr(bool(self))

    def _ipython_display_(self) -> None:
        pass


@dataclasses.dataclass
class Exercise:
    """One exercise: ``check(fn)``, ``hint()``, ``solution()`` and ``use(fn)``.

    ``diagnose(fn)`` returns ``None`` for a right answer, else the message
    naming the mistake; it raises :class:`NotAttempted` for an untouched stub.
    It runs with the random state isolated, on one CPU thread (the checks' tensors are small) and within
    ``time_limit_s`` seconds.
    """

    title: str
    reference: Callable
    diagnose: Callable[[Callable], str | None]
    hint_text: str
    solution_code: str = ""
    time_limit_s: float = CHECK_TIME_LIMIT_S
    done: bool = dataclasses.field(default=False, init=False)

    def verdict(self, fn: Callable) -> tuple[str, str]:
        """(status, message) with status one of ``"correct"``, ``"incorrect"``, ``"not attempted"``."""
        try:
            with isolated_random_state(), one_thread(), time_limit(self.time_limit_s):
                message = self.diagnose(fn)
        except NotAttempted:
            return "not attempted", (f"⏳ {self.title}: not attempted yet. "
                                     "Fill in the function, then run this cell again.")
        except Rejected as rejection:
            message = str(rejection)
        except TimeLimitExceeded:
            message = (f"Your function did not finish within the check's {self.time_limit_s:g} s: look for a loop "
                       "that never ends (or a Python loop over many elements: use tensor operations).")
        except Exception as error:  # noqa: BLE001 - a result the checker cannot handle, said in words
            message = (f"The checker could not handle your function's result ({type(error).__name__}: {error}); "
                       "check what your function returns.")
        if message is None:
            return "correct", f"✅ {self.title}: correct!"
        return "incorrect", f"❌ {self.title}: {message}"

    def check(self, fn: Callable) -> CheckResult:
        """Print a friendly one-line verdict; return a true value only when ``fn`` is right."""
        status, message = self.verdict(fn)
        print(message)
        self.done = status == "correct"
        return CheckResult(self.done)

    def hint(self) -> None:
        print(f"💡 Hint: {self.hint_text}")

    def solution(self) -> None:
        code = self.solution_code or textwrap.dedent(inspect.getsource(self.reference))
        print(f"Solution ({self.title}):\n\n{code}")

    def use(self, fn: Callable) -> Callable:
        """The learner's ``fn`` if it is right (run on private copies of its inputs, so it can never change
        the lesson's data), else the reference (so later cells always run)."""
        status, _ = self.verdict(fn)
        if status == "correct":
            return guarded(fn)
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
