"""Lesson 10's exercise: the code length in bits of each digit, from its ELBO in nats.

The checker runs the learner's function on ELBOs of several sizes and dtypes and compares it with the
reference and with the usual slips — nats left as nats, the wrong logarithm, the sign, bits per pixel
instead of per image, one number for the whole batch. It also guards against kinds of mistake that no
example reveals: changing the caller's tensor in place, and cutting the result off from the gradient
(a code length is also a training loss, bits per digit).
"""

from __future__ import annotations

import math

import torch

from vaecourse import compression
from vaecourse.exercises.core import Exercise, compare_with_mistakes, learner_call, shape_text

PIXELS = compression.PIXELS


def _code_length_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(10)
    elbo = -(60 + 120 * torch.rand(64, generator=g))                  # typical digits: −60 to −180 nats
    return [(elbo,), (elbo[:5].double(),), (torch.tensor([-0.5, -1000.0, -95.3]),)]


def _in_nats(elbo):
    return -elbo


def _times_ln2(elbo):
    return -elbo * math.log(2)


def _log10(elbo):
    return -elbo / math.log(10)


def _wrong_sign(elbo):
    return elbo / math.log(2)


def _per_pixel(elbo):
    return -elbo / math.log(2) / PIXELS


def _per_pixel_in_nats(elbo):
    return -elbo / PIXELS


def _log2_of_elbo(elbo):
    return torch.log2(-elbo)


def _averaged(elbo):
    return (-elbo / math.log(2)).mean()


def _summed(elbo):
    return (-elbo / math.log(2)).sum()


CODE_LENGTH_MISTAKES = {
    "Your lengths are still in nats: the ELBO uses the natural logarithm, so divide by ln 2 (math.log(2)) "
    "to count bits.": _in_nats,
    "You multiplied by ln 2; to turn nats into bits divide by it (1 bit = ln 2 ≈ 0.693 nats).": _times_ln2,
    "You divided by ln 10: that counts decimal digits (log₁₀), not bits. Divide by ln 2.": _log10,
    "Sign error: the ELBO is a log-probability (≤ 0), and a code length is −log₂ p, a positive number of "
    "bits. Negate it.": _wrong_sign,
    "You returned bits per *pixel* (divided by 784); the exercise asks for bits per image, the whole "
    "digit's code length.": _per_pixel,
    "You returned nats per pixel: divide by ln 2 instead of by 784 (the code length is per image, in bits).":
        _per_pixel_in_nats,
    "You took log₂ of the ELBO; the ELBO is already a logarithm (in nats): change its base by dividing "
    "by ln 2.": _log2_of_elbo,
    "You averaged over the images; return one code length per image (shape (N,)): the lesson averages "
    "them itself.": _averaged,
    "You summed over the images; return one code length per image (shape (N,)).": _summed,
}


def _changes_its_input(fn) -> bool:
    """Does ``fn`` overwrite the tensor it is given (an in-place operation)?"""
    elbo = _code_length_inputs()[0][0]
    given = elbo.clone()
    learner_call(fn, (given,), f"on an ELBO of shape {shape_text((elbo,))}")
    return not torch.equal(given, elbo)


def _cuts_the_gradient(fn) -> bool:
    """Is ``fn``'s result detached from its input (so no gradient could flow through a loss made of it)?"""
    elbo = _code_length_inputs()[0][0].clone().requires_grad_(True)
    out = learner_call(fn, (elbo,), f"on an ELBO of shape {shape_text((elbo,))} that requires grad. "
                                    "Keep to torch operations: no .item(), .numpy() or in-place changes of the input")
    return not out.requires_grad


def _diagnose(fn) -> str | None:
    # First on a copy of its own: an in-place change would otherwise corrupt the inputs of every later comparison.
    if _changes_its_input(fn):
        return ("Your function changed the ELBO tensor it was given (an in-place operation such as elbo.neg_() "
                "or elbo /= ...): the caller's numbers are overwritten. Return a new tensor instead.")
    with torch.no_grad():
        message = compare_with_mistakes(fn, compression.code_length_bits, CODE_LENGTH_MISTAKES,
                                        _code_length_inputs(), atol=1e-6, rtol=1e-5)
    if message is None and _cuts_the_gradient(fn):
        return ("Your result is cut off from the gradient (.detach(), .item(), NumPy or torch.tensor(...) inside): "
                "a code length in bits is also a training loss, so keep to torch operations on the tensor.")
    return message


code_length = Exercise(
    title="Code length in bits",
    reference=compression.code_length_bits,
    diagnose=_diagnose,
    hint_text="A code length is −log₂ p(x). The ELBO is a natural logarithm (nats), and log₂ y = ln y / ln 2: "
              "so return −elbo / math.log(2), one number per image.",
)
