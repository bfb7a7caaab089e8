"""Known VAE bugs, planted on purpose: lesson 05's three buggy losses and lesson 08's training script.

A buggy VAE usually trains without an error and prints plausible numbers, so the bug survives. The
lessons plant each common bug in otherwise correct code and measure what it does:

* lesson 05's three mistakes are loss functions for :func:`vaecourse.train.fit`;
* lesson 08's bugs live in one small training script, written once in the style of pytorch/examples
  ``vae/main.py`` (a model, ``loss_function``, a training step, ``test`` and sampling), with one
  switch per bug: ``bug="kl_wrong_sign"`` plants that bug and nothing else. Some bugs sit in the
  training step itself (a missing ``zero_grad``), which ``fit`` would not let us plant, so the script
  has its own short loop.

:func:`pieces` hands the script's parts, with a bug planted, to :func:`vaecourse.diagnosis.diagnose`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from vaecourse import data, losses, metrics, models

# --- Lesson 05: three mistakes in the loss, each a loss function for fit ---


def decoder_gets_mu(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Lesson 05's first mistake: the decoder is fed μ instead of a sample z."""
    mu, logvar = model.encode(x)
    logits = model.decode(mu)                       # BUG: the decoder must get z = μ + σ·ε, not μ (or μ, log σ²)
    return losses.negative_elbo(logits, x, mu, logvar)


def forgets_kl(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Lesson 05's second mistake: the loss is the reconstruction alone."""
    logits, mu, logvar = model(x)
    recon = losses.bernoulli_nll(logits, x).mean()
    return {"loss": recon, "recon": recon}          # BUG: the KL term is missing


def mse_on_binary_pixels(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Lesson 05's third mistake: squared error as the reconstruction term of 0/1 pixels."""
    logits, mu, logvar = model(x)
    recon = losses.squared_error(torch.sigmoid(logits), x).mean()  # BUG: squared error for 0/1 pixels
    kl = losses.gaussian_kl(mu, logvar).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


# --- Lesson 08: the small training script with one switch per planted bug ---

BUGS = {
    "decoder_gets_encoder_output": "the decoder is fed the encoder's raw output, (μ, log σ²) side by side, "
                                   "instead of a sampled z",
    "logvar_as_std": "log σ² is used as σ when sampling: z = μ + log σ²·ε",
    "kl_wrong_sign": "the KL has the wrong sign: ½Σ(1 + log σ² − μ² − σ²) without the minus in front",
    "kl_sigma_for_variance": "the KL uses σ where σ² belongs: ½Σ(μ² + σ − 1 − log σ²)",
    "double_sigmoid": "the decoder ends in a sigmoid and the loss is BCE *with logits*: a sigmoid applied twice",
    "bce_on_probabilities": "a hand-written BCE on probabilities, −[x log p + (1 − x) log(1 − p)]: NaN once p "
                            "reaches 0 or 1",
    "mean_over_pixels": "the reconstruction is averaged over pixels (F.binary_cross_entropy's default) "
                        "instead of summed: a hidden β of 784",
    "kl_weight_copied": "a per-dataset KL weight copied from another codebase: KL × batch size / dataset size "
                        "(128 / 60,000)",
    "maximises_elbo": "the training step backpropagates the ELBO instead of the negative ELBO",
    "no_zero_grad": "optimizer.zero_grad() is missing: every step adds to the gradients of all earlier ones",
    "no_eval": "model.eval() is forgotten in test and sampling, in a model with dropout (where it matters)",
    "samples_from_data": "'new samples' are decoded from encoded training images instead of from the prior",
    "batch_mixing_reshape": "a reshape that mixes images across the batch: x.view(784, -1).t() where "
                            "x.view(-1, 784) was meant",
}

# Which test of vaecourse.diagnosis.diagnose finds each bug (the lesson and the unit tests check that it does).
EXPECTED_FINDING = {
    "decoder_gets_encoder_output": "sampling", "logvar_as_std": "z_spread", "kl_wrong_sign": "kl_value",
    "kl_sigma_for_variance": "kl_value", "double_sigmoid": "decoder_output", "bce_on_probabilities": "saturation",
    "mean_over_pixels": "recon_value", "kl_weight_copied": "kl_weight", "maximises_elbo": "step_direction",
    "no_zero_grad": "zero_grad", "no_eval": "eval_mode", "samples_from_data": "prior_samples",
    "batch_mixing_reshape": "batch_independence",
}

BATCH_SIZE = 128
LR = 1e-3
DROPOUT = 0.3                      # only in the no_eval run: model.eval() matters only where dropout is
COPIED_KL_WEIGHT = 128 / 60_000    # "kld_weight = batch size / number of training images" from another codebase
PROBABILITY_OUTPUT = {"double_sigmoid", "bce_on_probabilities"}  # these decoders end in a sigmoid


def check_bug(bug: str | None) -> None:
    """A clear error for a bug name the script does not know."""
    if bug is not None and bug not in BUGS:
        raise ValueError(f"Unknown bug {bug!r}: use None (the correct script) or one of {', '.join(BUGS)}.")


class ScriptVAE(models.MLPVAE):
    """The course's 784-400-20 VAE (:class:`vaecourse.models.MLPVAE`) with the script's model bugs as switches.

    ``outputs_probabilities`` says what ``decode`` returns: pixel probabilities (a sigmoid at the end, as in
    pytorch/examples) for the two BCE bugs, Bernoulli logits otherwise.
    """

    def __init__(self, bug: str | None = None):
        check_bug(bug)
        super().__init__()
        self.bug = bug
        self.outputs_probabilities = bug in PROBABILITY_OUTPUT
        if bug == "decoder_gets_encoder_output":   # the decoder is built for the encoder's 2·20 outputs
            self.fc3 = nn.Linear(2 * self.latent_dim, self.fc3.out_features)
        if bug == "no_eval":                       # dropout on the input pixels and the decoder's hidden layer
            self.fc1 = nn.Sequential(nn.Dropout(DROPOUT), self.fc1)
            self.fc4 = nn.Sequential(nn.Dropout(DROPOUT), self.fc4)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.bug == "batch_mixing_reshape":
            x = x.view(x.shape[1], -1).t()          # BUG: x.view(-1, 784) was meant; this interleaves images
        return super().encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = super().decode(z)
        return torch.sigmoid(out) if self.outputs_probabilities else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        if self.bug == "decoder_gets_encoder_output":
            return self.decode(torch.cat([mu, logvar], dim=1)), mu, logvar   # BUG: no z at all
        if self.bug == "logvar_as_std":
            z = mu + logvar * torch.randn_like(mu)                            # BUG: σ is exp(½·log σ²)
        else:
            z = models.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  bug: str | None = None) -> dict[str, torch.Tensor]:
    """The script's loss: Bernoulli reconstruction + KL, summed over pixels and latents, averaged over the
    batch (the course's :func:`vaecourse.losses.negative_elbo`), with the loss bugs as switches."""
    if bug == "double_sigmoid":
        recon = F.binary_cross_entropy_with_logits(recon_x, x, reduction="none").sum(1)  # BUG: these are probabilities
    elif bug == "bce_on_probabilities":
        recon = -(x * torch.log(recon_x) + (1 - x) * torch.log(1 - recon_x)).sum(1)     # BUG: log(0) at p = 0 or 1
    elif bug == "mean_over_pixels":
        recon = F.binary_cross_entropy_with_logits(recon_x, x, reduction="none").mean(1)  # BUG: mean over pixels
    else:
        recon = losses.bernoulli_nll(recon_x, x)
    if bug == "kl_wrong_sign":
        kl = 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)              # BUG: the minus is missing
    elif bug == "kl_sigma_for_variance":
        kl = 0.5 * torch.sum(mu.pow(2) + torch.exp(0.5 * logvar) - 1 - logvar, dim=1)   # BUG: σ where σ² belongs
    else:
        kl = losses.gaussian_kl(mu, logvar)
    recon, kl = recon.mean(), kl.mean()
    weight = COPIED_KL_WEIGHT if bug == "kl_weight_copied" else 1.0                     # BUG when not 1
    return {"loss": recon + weight * kl, "recon": recon, "kl": kl}


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               bug: str | None = None) -> dict[str, torch.Tensor]:
    """One step on the batch ``x``: forward, loss, backward, update. Returns the logged terms (detached)."""
    if bug != "no_zero_grad":
        optimizer.zero_grad()                       # (the no_zero_grad bug leaves this line out)
    recon_x, mu, logvar = model(x)
    terms = loss_function(recon_x, x, mu, logvar, bug)
    loss = -terms["loss"] if bug == "maximises_elbo" else terms["loss"]   # BUG: backpropagates the ELBO
    loss.backward()
    optimizer.step()
    return {key: value.detach() for key, value in terms.items()}


@torch.no_grad()
def test(model: nn.Module, x_test: torch.Tensor, bug: str | None = None, batch_size: int = 1000) -> float:
    """The script's test loss (one z per image, its own loss function), as pytorch/examples prints it."""
    if bug != "no_eval":
        model.eval()                                # (the no_eval bug leaves this line out)
    total = 0.0
    for xb in x_test.split(batch_size):
        recon_x, mu, logvar = model(xb)
        total = total + loss_function(recon_x, xb, mu, logvar, bug)["loss"] * len(xb)
    return float(total) / len(x_test)


@torch.no_grad()
def sample(model: nn.Module, n: int, bug: str | None = None, x_train: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` new images (pixel probabilities): decode z ~ N(0, I), as pytorch/examples does after each epoch."""
    if bug != "no_eval":
        model.eval()
    device = next(model.parameters()).device
    if bug == "samples_from_data":
        if x_train is None:
            raise ValueError("the samples_from_data bug encodes training images: pass x_train.")
        mu, logvar = model.encode(x_train[:n])      # BUG: these are reconstructions, not new samples
        z = models.reparameterize(mu, logvar)
    elif bug == "decoder_gets_encoder_output":      # its decoder wants 40 numbers, so 40 random ones it gets
        z = torch.randn(n, 2 * model.latent_dim, device=device)
    else:
        z = torch.randn(n, model.latent_dim, device=device)
    out = model.decode(z)
    return out if getattr(model, "outputs_probabilities", False) else torch.sigmoid(out)


@dataclass
class Run:
    """What one short run of the script leaves behind: per-step logged terms, the script's own test loss,
    the course's honest measurements (test ELBO with sampled z in eval mode; ``None`` where the model has no
    latent z to sample), the samples it drew and their distance to the nearest training image."""

    bug: str | None
    steps: dict[str, list[float]]
    test_loss: float
    honest: dict[str, float] | None
    active_units: int | None
    posterior_std: float
    samples: torch.Tensor
    nearest_train_distance: float
    seconds: float
    first_nan_step: int | None = None
    model: nn.Module | None = field(default=None, repr=False)

    def last(self, key: str, window: int = 50) -> float:
        """The mean of the last ``window`` logged values of ``key`` (NaN if any is NaN)."""
        values = self.steps[key][-window:]
        return sum(values) / len(values)


def honest_log_likelihood(model: nn.Module):
    """The Bernoulli log-likelihood for :func:`vaecourse.metrics.elbo_estimate` in the model's own output
    convention (probabilities are clamped at 10⁻⁶ from 0 and 1, so a saturated pixel costs at most 13.8 nats)."""
    if not getattr(model, "outputs_probabilities", False):
        return metrics.bernoulli_log_likelihood
    return lambda decoded, x: metrics.bernoulli_log_likelihood(torch.logit(decoded, eps=1e-6), x)


@torch.no_grad()
def nearest_distance(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over ``images`` of the Euclidean distance to the nearest image of ``reference`` (pixel values)."""
    return float(torch.cdist(images.flatten(1), reference.flatten(1)).min(dim=1).values.mean())


def train_steps(model: nn.Module, step, x_train: torch.Tensor, steps: int, seed: int = 0, desc: str = "training",
                verbose: bool = True) -> list:
    """Call ``step(model, optimizer, batch)`` ``steps`` times with Adam (10⁻³) on shuffled, dynamically binarized
    batches of 128 from ``x_train`` (grey values), and return what each call returned (detached)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    returned: list = []
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not verbose, leave=False, mininterval=0.5)
    model.train()
    torch.set_flush_denormal(True)   # runaway bugs make tiny numbers that would slow a CPU down 10×
    try:
        while len(returned) < steps:
            for xb in data.batches(x_train, BATCH_SIZE, generator=generator):
                out = step(model, optimizer, data.binarize_dynamic(xb))
                returned.append({k: v.detach() for k, v in out.items()} if isinstance(out, dict) else
                                out.detach() if isinstance(out, torch.Tensor) else out)
                bar.update(1)
                if len(returned) == steps:
                    break
    finally:
        torch.set_flush_denormal(False)
        bar.close()
    return returned


def run(bug: str | None, x_train: torch.Tensor, x_test: torch.Tensor, steps: int, seed: int = 0,
        n_samples: int = 64, verbose: bool = True) -> Run:
    """Train the script with ``bug`` planted for ``steps`` steps (Adam 10⁻³, batches of 128, dynamic
    binarization) and measure it. ``x_train`` holds grey values; ``x_test`` is binarized once already."""
    check_bug(bug)
    torch.manual_seed(seed)
    model = ScriptVAE(bug).to(x_train.device)
    start = time.perf_counter()
    logged = train_steps(model, partial(train_step, bug=bug), x_train, steps, seed, bug or "correct", verbose)
    seconds = time.perf_counter() - start
    history = {key: torch.stack([terms[key] for terms in logged]).tolist() for key in logged[0]}
    bad = [i for i, value in enumerate(history["loss"]) if not math.isfinite(value)]
    test_loss = test(model, x_test, bug)
    samples = sample(model, n_samples, bug, x_train)
    honest, active, posterior_std = None, None, float("nan")
    if bug != "decoder_gets_encoder_output":
        honest = metrics.elbo_estimate(model, x_test, n_samples=1, log_likelihood=honest_log_likelihood(model))
        mu, logvar = metrics.encode_means(model, x_test)
        active, posterior_std = metrics.active_units(mu), float(torch.exp(0.5 * logvar).mean())
    return Run(bug, history, test_loss, honest, active, posterior_std, samples,
               nearest_distance(samples, x_train[:10_000]), seconds, bad[0] + 1 if bad else None, model)


def pieces(bug: str | None, x_train: torch.Tensor | None = None) -> dict:
    """The script's parts with ``bug`` planted, as :func:`vaecourse.diagnosis.diagnose` takes them: a fresh
    ``model`` and ``loss_fn(model, x)``, ``train_step(model, optimizer, x)``, ``sample(model, n)`` and
    ``evaluate(model, x)``. ``x_train`` is needed only by the samples_from_data bug's sampler."""
    check_bug(bug)

    def loss_fn(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        recon_x, mu, logvar = model(x)
        return loss_function(recon_x, x, mu, logvar, bug)

    return {"model": ScriptVAE(bug), "loss_fn": loss_fn, "train_step": partial(train_step, bug=bug),
            "sample": partial(sample, bug=bug, x_train=x_train), "evaluate": partial(test, bug=bug)}


# --- Reading the runs: the numbers of each, and the symptoms that point to bugs ---

def numbers(run: Run) -> dict[str, float]:
    """One run's fingerprint in numbers: the last 50 logged training values, the script's test loss, the honest
    test ELBO, KL and active latents (NaN where the model has no z to sample), mean posterior σ, and the mean
    distance from each sample to its nearest training image."""
    nan = float("nan")
    honest = run.honest or {"elbo": nan, "kl": nan}
    return {"loss": run.last("loss"), "kl": run.last("kl"), "test loss": run.test_loss, "test ELBO": honest["elbo"],
            "test KL": honest["kl"], "active": nan if run.active_units is None else run.active_units,
            "σ": run.posterior_std,
            "sample→train": run.nearest_train_distance}


def number_table(runs: dict[str, Run]) -> str:
    """The numbers of several runs as a text table, one row per run."""
    header = (f"{'':28s} {'loss':>9s} {'KL':>9s} {'test loss':>9s} │ {'test ELBO':>9s} {'test KL':>8s} {'active':>6s} "
              f"{'σ':>6s} {'sample→train':>12s}  NaN at step")
    lines = [f"{'':28s} {'as the script logs it':^29s} │ {'measured by the course, honestly':^46s}", header]
    for name, run in runs.items():
        n = numbers(run)
        lines.append(f"{name:28s} {n['loss']:9.4g} {n['kl']:9.4g} {n['test loss']:9.4g} │ {n['test ELBO']:9.1f} "
                     f"{n['test KL']:8.1f} {n['active']:6.0f} {n['σ']:6.3f} {n['sample→train']:12.2f}  "
                     f"{run.first_nan_step or '—'}")
    return "\n".join(lines)


SYMPTOMS = {
    "the training loss rises (or turns NaN)": lambda n, ok: not n["loss"] < n["first loss"],
    "a negative KL in the logs": lambda n, ok: n["kl"] < 0,
    "the loss is not on the scale of nats per image (below 10)": lambda n, ok: abs(n["loss"]) < 10,
    "the loss is stuck at 784·ln 2 = 543.4 (p = ½ for every pixel)":
        lambda n, ok: abs(n["loss"] - 784 * math.log(2)) < 2,
    "the script's test loss differs from the honest −ELBO by more than 3 nats":
        lambda n, ok: not abs(n["test loss"] + n["test ELBO"]) <= 3,
    "a training loss 10 nats better than a correct run's, and an honest ELBO worse than it":
        lambda n, ok: n["loss"] < ok["loss"] - 10 and not n["test ELBO"] > ok["test ELBO"],
    "no active latent: the codes say nothing about the image": lambda n, ok: n["active"] == 0,
    "a KL at least 3× a correct run's": lambda n, ok: not abs(n["kl"]) < 3 * ok["kl"],
    "posterior σ near 1 although the latents are active": lambda n, ok: n["σ"] > 0.9 and n["active"] > 0,
    "samples 15% closer to training images than a correct run's":
        lambda n, ok: n["sample→train"] < 0.85 * ok["sample→train"],
    "samples 15% farther from any training image than a correct run's":
        lambda n, ok: n["sample→train"] > 1.15 * ok["sample→train"],
    "an honest test ELBO 3 nats worse than a correct run's (or none at all)":
        lambda n, ok: not n["test ELBO"] > ok["test ELBO"] - 3,
}


def symptoms(run: Run, correct: Run) -> list[str]:
    """The :data:`SYMPTOMS` ``run`` shows, each measured against the ``correct`` run's numbers."""
    n, ok = numbers(run), numbers(correct)
    n["first loss"] = sum(run.steps["loss"][:50]) / len(run.steps["loss"][:50])
    return [name for name, shows in SYMPTOMS.items() if shows(n, ok)]


def symptom_table(runs: dict[str, Run], correct: Run) -> str:
    """A Markdown table, one row per symptom: the runs that show it (measured against ``correct``)."""
    shown = {name: symptoms(run, correct) for name, run in runs.items()}
    rows = ["| symptom, measured against the correct run | runs that show it |", "| --- | --- |"]
    for symptom in SYMPTOMS:
        who = [f"`{name}`" for name, found in shown.items() if symptom in found]
        rows.append(f"| {symptom} | {', '.join(who) or '—'} |")
    return "\n".join(rows)
