"""Lesson 08's exercises: name the bug behind each mystery run, and fix a tutorial's broken training step.

* ``which_bug``: the lesson trains the script of :mod:`vaecourse.bugs` five times with a bug (or none) planted,
  with another seed than its walkthrough, and shows only curves, numbers and samples. The learner answers
  with a dict {run letter: bug name, or "none"}; the checker says which are right and gives a hint for each
  wrong one (what to look at, without naming the bug).
* ``fix_the_step``: a training step written like a widely copied tutorial, with several bugs at once. The
  checker runs :func:`vaecourse.diagnosis.diagnose` on the learner's fixed step (with the course's model) and
  lists every problem it finds; when there is none it trains briefly with the step and requires the test
  ELBO to reach :data:`ELBO_LEVEL`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vaecourse import bugs, data, metrics, models, runtime, vae_mnist
from vaecourse.diagnosis import DiagnosisError, diagnose
from vaecourse.exercises.core import Exercise, NotAttempted, Rejected, learner_call

# --- Which bug is it? ---

MYSTERY_BUGS: dict[str, str | None] = {"A": "logvar_as_std", "B": "double_sigmoid", "C": None,
                                       "D": "kl_weight_copied", "E": "no_zero_grad"}
MYSTERY_SEED = 1   # the walkthrough's runs use seed 0: same bugs, other numbers
NO_BUG = "none"

LOOK_AT = {
    None: "Nothing in its numbers is out of line with a healthy run: could it be the correct script?",
    "decoder_gets_encoder_output": "Its training loss is far better than a correct run's, yet its samples are noise.",
    "logvar_as_std": "Compare its training loss with its honest test ELBO, and look at its posterior σ.",
    "kl_wrong_sign": "Look at the sign of the logged KL.",
    "kl_sigma_for_variance": "It is only a few nats worse, and its posterior σ is larger than a correct run's.",
    "double_sigmoid": "Compare its loss with 784·ln 2 = 543.4 nats, and count its active latents.",
    "bce_on_probabilities": "Its numbers look like a healthy run's: only outputs that reach p = 0 or 1 show it.",
    "mean_over_pixels": "Look at the scale of its loss: is that nats per image?",
    "kl_weight_copied": "Look at the size of its KL and at how far its posterior σ is below 1.",
    "maximises_elbo": "Which way does its loss go?",
    "no_zero_grad": "Its loss stops falling early, far above a correct run's, with nothing NaN and no active latent.",
    "no_eval": "Compare the script's own test loss with the honest test ELBO measured in eval mode.",
    "samples_from_data": "How close are its samples to training images, compared with a correct run's?",
    "batch_mixing_reshape": "Its KL collapses to 0, yet its loss is on the right scale and its outputs are logits.",
}


def mystery_runs(x_train: torch.Tensor, x_test: torch.Tensor, steps: int, verbose: bool = True) -> dict[str, bugs.Run]:
    """The five mystery runs, by letter: the script of :mod:`vaecourse.bugs` with each run's bug planted,
    trained like the walkthrough's runs but with seed :data:`MYSTERY_SEED`."""
    return {letter: bugs.run(bug, x_train, x_test, steps, seed=MYSTERY_SEED, verbose=False)
            for letter, bug in tqdm(MYSTERY_BUGS.items(), desc="mystery runs", disable=not verbose)}


def mystery_answers() -> dict[str, str]:
    """The right answers of the exercise: the bug planted in each mystery run ("none" for the correct script)."""
    return {letter: bug or NO_BUG for letter, bug in MYSTERY_BUGS.items()}


def _normalise(answer) -> str | None:
    if answer is None:
        return NO_BUG
    if not isinstance(answer, str):
        raise Rejected(f"Each answer must be a bug's name (a string), got {type(answer).__name__}.")
    return answer.strip().strip("'\"").lower().replace(" ", "_").replace("-", "_")


def diagnose_which_bug(answers) -> str | None:
    """None when every mystery run is named right, else which are wrong with a hint for each."""
    if not isinstance(answers, dict):
        raise Rejected("Answer with a dict, one bug name per run: {'A': 'kl_wrong_sign', 'B': 'none', ...}.")
    filled = {str(k).strip().upper(): v for k, v in answers.items() if v is not Ellipsis}
    if not filled:
        raise NotAttempted
    unknown_runs = sorted(set(filled) - set(MYSTERY_BUGS))
    if unknown_runs:
        return f"There is no mystery run {', '.join(unknown_runs)}: the runs are {', '.join(MYSTERY_BUGS)}."
    names = {letter: _normalise(answer) for letter, answer in filled.items()}
    unknown = {letter: name for letter, name in names.items() if name != NO_BUG and name not in bugs.BUGS}
    if unknown:
        return (f"{', '.join(f'{k}: {v!r}' for k, v in unknown.items())} is not a bug of the script. Choose from "
                f"{', '.join(bugs.BUGS)}, or 'none' for a run without a bug.")
    truth = mystery_answers()
    wrong = {letter: name for letter, name in names.items() if name != truth[letter]}
    missing = [letter for letter in MYSTERY_BUGS if letter not in names]
    if not wrong and not missing:
        return None
    lines = [f"{len(names) - len(wrong)} of {len(MYSTERY_BUGS)} right."]
    lines += [f"{letter}: not {name}. {LOOK_AT[MYSTERY_BUGS[letter]]}" for letter, name in sorted(wrong.items())]
    if missing:
        lines.append(f"Still to name: {', '.join(missing)}.")
    return "\n".join(lines)


which_bug = Exercise(
    title="Which bug is it?",
    reference=mystery_answers,
    diagnose=diagnose_which_bug,
    hint_text="Go through the fingerprint table column by column: the sign and size of the KL, whether the loss is "
              "on the scale of nats per image, whether the training loss is better than the honest test ELBO, the "
              "active latents and the posterior σ. One run may have no bug at all.",
    solution_code="answers = " + repr(mystery_answers()),
)


# --- Fix it ---

def tutorial_train_step(model, optimizer, x):
    """A training step as it is often copied from tutorials, for a model whose forward returns logits."""
    recon_x, mu, logvar = model(x)
    BCE = F.binary_cross_entropy_with_logits(torch.sigmoid(recon_x), x)
    KLD = 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss = BCE + KLD
    loss.backward()
    optimizer.step()
    return loss


def fixed_train_step(model, optimizer, x):
    """The same step, fixed: fresh gradients, BCE on logits summed over pixels, −KL, both averaged over the batch."""
    optimizer.zero_grad()
    logits, mu, logvar = model(x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    loss = recon + kl
    loss.backward()
    optimizer.step()
    return loss


FIX_STEPS = 300          # the checker's short training run (batches of 128, Adam 10⁻³)
ELBO_LEVEL = -150.0      # nats per image after FIX_STEPS steps (the reference reaches −139, −142 in smoke mode)
FIX_TEST_IMAGES = 2000


@functools.lru_cache(maxsize=2)
def checker_digits(device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(10,000 training digits, 64 binarized ones for diagnose, 2,000 test digits binarized once) on ``device``."""
    digits = data.load_mnist(device)
    x_train = digits.x_train[:10_000].clone()
    x_test = vae_mnist.fixed_binarization(digits.x_test[:FIX_TEST_IMAGES]).clone()
    return x_train, data.binarize(x_train[:64]), x_test


def short_training_elbo(step: Callable, seed: int = 0) -> float:
    """The honest test ELBO of the course's MLP VAE after :data:`FIX_STEPS` steps of ``step``."""
    device = runtime.get_device()
    x_train, _, x_test = checker_digits(str(device))
    torch.manual_seed(seed)
    model = models.MLPVAE().to(device)
    bugs.train_steps(model, step, x_train, FIX_STEPS, seed, desc="checking", verbose=False)
    return metrics.elbo_estimate(model, x_test, n_samples=1)["elbo"]


def diagnose_fixed_step(fn: Callable) -> str | None:
    """None if ``fn(model, optimizer, x)`` passes every test of ``diagnose`` and trains the model to ELBO_LEVEL.

    The first call goes through the core's :func:`learner_call` (private copies, re-seeding named, a crash said
    in words), on a copy of the model with an optimizer that cannot move it."""
    device = runtime.get_device()
    _, batch, _ = checker_digits(str(device))
    torch.manual_seed(0)
    model = models.MLPVAE().to(device)
    trial = copy.deepcopy(model)
    where = "(called with the course's MLPVAE, an optimizer and a batch of 64 images)"
    try:
        learner_call(fn, (trial, torch.optim.SGD(trial.parameters(), lr=0.0), batch), where, returns=None)
    except NotAttempted:
        if any(p.grad is not None for p in trial.parameters()):   # it ran a backward pass: it forgot to return
            return "Your step returns nothing: return the loss (as the tutorial's step does), so diagnose can read it."
        raise
    try:
        report = diagnose(model, batch, train_step=fn)
    except DiagnosisError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - the learner's step crashed inside a test: say so in words
        return f"Your step raised {type(error).__name__}: {error}"
    if report.problems:
        found = [f for f in report.findings if f.passed is False]
        return (f"diagnose finds {len(found)} problem(s):\n" + "\n".join(f"  • {f.name}: {f.message}" for f in found))
    elbo = short_training_elbo(fn)
    if not elbo >= ELBO_LEVEL:
        return (f"diagnose finds nothing wrong, but after {FIX_STEPS} steps the test ELBO is {elbo:.1f} nats per "
                f"image, below {ELBO_LEVEL:.0f}: does the step use the optimizer it is given, once per call?")
    return None


fix_the_step = Exercise(
    title="Fix the training step",
    reference=fixed_train_step,
    diagnose=diagnose_fixed_step,
    time_limit_s=60.0,   # a right answer trains FIX_STEPS steps on one CPU thread: room for a slow machine
    hint_text="Four things: clear the old gradients first (optimizer.zero_grad()); the model returns logits, so no "
              "sigmoid before a with-logits loss; sum the BCE over pixels and divide by the batch size, as the KL; "
              "and the KL is −½Σ(1 + log σ² − μ² − σ²), with the minus in front.",
)
