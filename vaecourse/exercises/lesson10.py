"""Lesson 10's exercise: the code length in bits of each digit, from its ELBO in nats.

The checker runs the learner's function on ELBOs of several sizes and dtypes and compares it with the
reference and with the usual slips — nats left as nats, the wrong logarithm, the sign, bits per pixel
instead of per image, one number for the whole batch. The shared core adds the kinds of mistake that no
example reveals: an in-place change of the caller's tensor, re-seeding, and a result cut off from the
gradient (a code length is also a training loss, bits per digit), checked on the float64 ELBOs that
require grad.
"""

from __future__ import annotations

import math

import torch

from vaecourse import compression
from vaecourse.exercises.core import Exercise, compare_with_mistakes

PIXELS = compression.PIXELS


def _code_length_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(10)
    elbo = -(60 + 120 * torch.rand(64, generator=g))                  # typical digits: −60 to −180 nats
    return [(elbo,), (elbo[:5].double().requires_grad_(),),
            (torch.tensor([-0.5, -1000.0, -95.3], dtype=torch.float64).requires_grad_(),)]


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


def _diagnose(fn) -> str | None:
    return compare_with_mistakes(fn, compression.code_length_bits, CODE_LENGTH_MISTAKES, _code_length_inputs(),
                                 atol=1e-6, rtol=1e-5)


code_length = Exercise(
    title="Code length in bits",
    reference=compression.code_length_bits,
    diagnose=_diagnose,
    hint_text="A code length is −log₂ p(x). The ELBO is a natural logarithm (nats), and log₂ y = ln y / ln 2: "
              "so return −elbo / math.log(2), one number per image.",
)
