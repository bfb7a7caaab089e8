"""Exercises with ``check``, ``hint`` and ``solution``, in the style of Kaggle's learntools.

Each exercise knows its reference answer and the *known mistakes* learners make (a missing ½, a wrong
sign, a mean where a sum belongs, ...). ``check`` runs the learner's function on the lesson's inputs and
compares it with the reference and with each mistake, so a wrong answer gets a message that names the
mistake rather than a bare "wrong".

The shared machinery is in :mod:`vaecourse.exercises.core` (its docstring lists what every checker gets
for free: private copies of the inputs, gradient and NaN checks, the random state restored, a time
limit); each lesson's checkers sit in a file of
their own (``lesson03.py`` holds lesson 03's). Notebooks use the exercise objects by name:
``exercises.batched_kl.check(fn)``.
"""

from vaecourse.exercises import (
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
    lesson10,
)
from vaecourse.exercises.core import Exercise, NotAttempted, Rejected, TimeLimitExceeded
from vaecourse.exercises.lesson01 import pca_reconstruction
from vaecourse.exercises.lesson02 import mc_elbo
from vaecourse.exercises.lesson03 import batched_kl
from vaecourse.exercises.lesson04 import reparameterized_sampler
from vaecourse.exercises.lesson05 import iwae_estimate, vae_loss
from vaecourse.exercises.lesson06 import mig_per_factor
from vaecourse.exercises.lesson07 import free_bits_kl
from vaecourse.exercises.lesson08 import fix_the_step, which_bug
from vaecourse.exercises.lesson09 import minibatch_log_qz
from vaecourse.exercises.lesson10 import code_length

__all__ = [
    'lesson01', 'lesson02', 'lesson03', 'lesson04', 'lesson05', 'lesson06', 'lesson07', 'lesson08', 'lesson09',
    'lesson10', 'Exercise', 'NotAttempted', 'Rejected', 'TimeLimitExceeded', 'pca_reconstruction', 'mc_elbo',
    'batched_kl', 'reparameterized_sampler', 'vae_loss', 'iwae_estimate', 'mig_per_factor', 'free_bits_kl',
    'which_bug', 'fix_the_step', 'minibatch_log_qz', 'code_length',
]
