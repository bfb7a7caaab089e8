"""A doctor for any VAE: known-answer tests that find the common bugs in a model, its loss and its training step.

Most VAE bugs train without an error, so :func:`diagnose` does not train anything. It puts numbers whose
answer is known into the learner's own code and compares: the loss of a decoder that says p = ½ for every
pixel must be D·ln 2 per image, whatever the image; the KL at μ = 2, σ = 1 must be 2 per latent; z must
change from call to call with (z − μ)/σ ~ N(0, 1); gradients must reach μ and log σ² through z; and so on.

What it needs (nothing else about the model is assumed; the model itself is never changed, every test
works on a copy):

* ``model(x)`` returns ``(decoded, mu, logvar)``: the decoder's output for each image, one Bernoulli
  *logit* or one *probability* per pixel (any shape with the batch first; which of the two is read from
  the values, or given as ``outputs=``), and the Gaussian posterior's mean and log-variance, (N, latents).
* ``batch``: a few real training images (N ≥ 2, values in [0, 1]) on the model's device.
* ``loss_fn(model, x)`` returns the loss to minimise (a scalar tensor, or a dict with ``"loss"``). The loss
  tests call it with a *stand-in* model whose outputs are chosen by the test, so ``loss_fn`` must get what
  it needs from the model it is given: ``model(x)``, or ``model.encode(x)`` / ``model.reparameterize`` /
  ``model.decode(z)``. Without ``loss_fn``, a ``train_step`` that returns its loss serves.
* For the tests of z itself (its spread, the samples), a ``decode(z)`` method (or a ``decoder`` module)
  that ``forward`` calls with z; an ``encode`` method (or ``encoder`` module) lets the sampler test see
  whether the encoder was used.
* Optional parts, each tested when given: ``train_step(model, optimizer, x)`` (one step with the
  optimizer it is given), ``sample(model, n)`` (n new images) and ``evaluate(model, x)`` (a test loss).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from vaecourse import losses

LN2 = math.log(2.0)
SATURATED_LOGIT = 40.0        # sigmoid(40) is exactly 1.0 in float32
KL_POINTS = ((2.0, 0.0), (0.0, math.log(4.0)), (0.0, -math.log(4.0)), (1.0, 1.0))  # (μ, log σ²) per latent
Z_CALLS = 40                  # forward passes whose z are pooled in the z tests
PRIOR_SAMPLES = 500           # images asked of sample()
TOLERANCE_SE = 5.0            # statistical tests pass within this many standard errors


class DiagnosisError(ValueError):
    """The model or batch cannot be diagnosed at all; the message says what diagnose needs."""


@dataclass
class Finding:
    """One test: its ``name``, whether it ``passed`` (None: not run, or only a note) and what was measured."""

    name: str
    passed: bool | None
    message: str

    def __str__(self) -> str:
        mark = {True: "✅", False: "❌", None: "➖"}[self.passed]
        return f"{mark} {self.name:19s} {self.message}"


@dataclass
class Diagnosis:
    """The report of :func:`diagnose`: one :class:`Finding` per test, in the order they ran."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The names of the tests that failed."""
        return [f.name for f in self.findings if f.passed is False]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __getitem__(self, name: str) -> Finding:
        for finding in self.findings:
            if finding.name == name:
                return finding
        raise KeyError(f"no test named {name!r}; the tests are {[f.name for f in self.findings]}")

    def __str__(self) -> str:
        ran = sum(f.passed is not None for f in self.findings)
        verdict = "no problem found" if self.ok else f"{len(self.problems)} problem(s): {', '.join(self.problems)}"
        return "\n".join([f"diagnose: {ran} tests run, {verdict}"] + [str(f) for f in self.findings])


# --- Plumbing: calling the learner's code, watching a copy of the model ---

def loss_value(out) -> torch.Tensor:
    """The loss in what ``loss_fn`` returned: a tensor, a number, a dict with "loss", or a tuple led by it."""
    if isinstance(out, dict):
        if "loss" not in out:
            raise DiagnosisError(f"loss_fn returned a dict without 'loss' (keys: {sorted(out)}); "
                                 "put the value to minimise under 'loss'.")
        out = out["loss"]
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, (int, float)):
        return torch.tensor(float(out))
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise DiagnosisError(f"loss_fn must return one number (a scalar tensor) to minimise, got "
                             f"{type(out).__name__}{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}.")
    return out.reshape(())


class _NoUpdate:
    """An optimizer that changes nothing: lets a ``train_step`` that returns its loss serve as ``loss_fn``."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self, closure=None) -> None:
        pass


def loss_from_step(train_step: Callable) -> Callable:
    """``loss_fn(model, x)`` made of ``train_step(model, optimizer, x)``, which must return its loss."""
    def loss_fn(model: nn.Module, x: torch.Tensor):
        out = train_step(model, _NoUpdate(), x)
        if out is None:
            raise DiagnosisError("train_step returned None: return the loss from it, or give loss_fn as well.")
        return out
    return loss_fn


class _RecordingSGD(torch.optim.SGD):
    """Plain SGD that keeps a copy of the gradient it was asked to follow at each ``step``."""

    def __init__(self, params, lr: float = 1e-4):
        super().__init__(params, lr=lr)
        self.followed: list[torch.Tensor] = []

    def step(self, closure=None):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for g in self.param_groups for p in g["params"]]
        self.followed.append(torch.cat([g.detach().flatten() for g in grads]).clone())
        return super().step(closure)


@dataclass
class _Watch:
    """What a watched model did: how often its encoder and forward ran, what its decoder got, in which mode."""

    encoder_calls: int = 0
    forward_calls: int = 0
    decoder_inputs: list[torch.Tensor] = field(default_factory=list)
    training: list[bool] = field(default_factory=list)
    has_decoder: bool = False
    has_encoder: bool = False


def _part(model: nn.Module, method: str, module: str):
    """The model's ``decode`` method or ``decoder`` module (likewise encode/encoder), or None."""
    for name in (method, module):
        part = getattr(model, name, None)
        if callable(part):
            return name, part
    return None, None


@contextmanager
def watching(model: nn.Module) -> Iterator[_Watch]:
    """Record the calls of ``model``'s forward, encoder and decoder (the z it decodes) inside the block."""
    watch = _Watch()
    patched: list[str] = []

    def on_forward(module, args):
        watch.forward_calls += 1
        watch.training.append(module.training)

    hooks = [model.register_forward_pre_hook(on_forward)]

    def on_decode(z):
        watch.decoder_inputs.append(z.detach())
        watch.training.append(model.training)

    def on_encode():
        watch.encoder_calls += 1
        watch.training.append(model.training)

    for method, module, action in (("decode", "decoder", lambda args: on_decode(args[0])),
                                   ("encode", "encoder", lambda args: on_encode())):
        name, part = _part(model, method, module)
        if part is None:
            continue
        setattr(watch, "has_decoder" if method == "decode" else "has_encoder", True)
        if isinstance(part, nn.Module):
            hooks.append(part.register_forward_pre_hook(lambda m, args, action=action: action(args)))
        else:
            def wrapped(*args, _part=part, _action=action, **kwargs):
                _action(args)
                return _part(*args, **kwargs)
            object.__setattr__(model, name, wrapped)
            patched.append(name)
    try:
        yield watch
    finally:
        for hook in hooks:
            hook.remove()
        for name in patched:
            del model.__dict__[name]


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's random numbers seeded, leaving the caller's random state as it was."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _close(a: float, b: float, rel: float = 1e-3, abs_: float = 1e-3) -> bool:
    return math.isfinite(a) and math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# --- The stand-in model with known outputs, for the loss tests ---

class KnownOutputs(nn.Module):
    """Stands in for the learner's model in the loss tests: ``decoded`` (a batch of decoder outputs) and the same
    (μ, log σ²) rows for every image, whatever the input. Three zero parameters, added to the decoder's output,
    to μ and to log σ², carry the loss's gradient with respect to each (summed over its elements)."""

    def __init__(self, decoded: torch.Tensor, mu_row: torch.Tensor, logvar_row: torch.Tensor):
        super().__init__()
        zero = torch.zeros((), device=decoded.device)
        self.shift_decoded, self.shift_mu, self.shift_logvar = (nn.Parameter(zero.clone()) for _ in range(3))
        self.decoded, self.mu_row, self.logvar_row = decoded, mu_row, logvar_row
        self.latent_dim = len(mu_row)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        return self.mu_row.expand(n, -1) + self.shift_mu, self.logvar_row.expand(n, -1) + self.shift_logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoded[:len(z)] + self.shift_decoded

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(mu), mu, logvar


class _LossProbe:
    """Evaluates ``loss_fn`` on the stand-in: decoder output at p = ½ (or saturated), chosen (μ, log σ²)."""

    def __init__(self, loss_fn: Callable, x: torch.Tensor, decoded_shape: tuple, latent_dim: int):
        self.loss_fn, self.x, self.shape, self.latent_dim = loss_fn, x, decoded_shape[1:], latent_dim

    def __call__(self, convention: str, mu: float = 0.0, logvar: float = 0.0, x: torch.Tensor | None = None,
                 saturated: bool = False) -> float:
        stand_in, x = self.stand_in(convention, mu, logvar, x, saturated)
        with seeded(0, x.device):
            return float(loss_value(self.loss_fn(stand_in, x)).detach())

    def kl_gradients(self, convention: str, mu: float, logvar: float) -> tuple[float, float]:
        """The loss's gradient with respect to μ and to log σ² (each summed over all images and latents)."""
        stand_in, x = self.stand_in(convention, mu, logvar)
        with seeded(0, x.device):
            loss_and_gradient(stand_in, x, self.loss_fn)
        return tuple(float(p.grad) if p.grad is not None else 0.0 for p in (stand_in.shift_mu, stand_in.shift_logvar))

    def stand_in(self, convention: str, mu: float = 0.0, logvar: float = 0.0, x: torch.Tensor | None = None,
                 saturated: bool = False) -> tuple[KnownOutputs, torch.Tensor]:
        x = self.x if x is None else x
        if saturated:      # p = 1 where the pixel is above ½, else p = 0, exactly
            ink = (x > 0.5).reshape(len(x), *self.shape)
            decoded = (ink.float() if convention == "probabilities"
                       else torch.where(ink, SATURATED_LOGIT, -SATURATED_LOGIT).float())
        else:
            decoded = torch.full((len(x), *self.shape), 0.5 if convention == "probabilities" else 0.0)
        decoded = decoded.to(x.device)
        row = torch.ones(self.latent_dim, device=x.device)
        return KnownOutputs(decoded, mu * row, logvar * row), x


# --- The tests ---

def _outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    try:
        out = model(x)
    except Exception as error:  # noqa: BLE001 - say in one line what failed
        raise DiagnosisError(f"model(batch) raised {type(error).__name__}: {error}") from None
    if not (isinstance(out, (tuple, list)) and len(out) == 3 and all(isinstance(t, torch.Tensor) for t in out)):
        raise DiagnosisError("model(x) must return three tensors (decoded, mu, logvar): the decoder's logits or "
                             "probabilities, and the posterior's mean and log-variance.")
    decoded, mu, logvar = out
    n = len(x)
    if mu.shape != logvar.shape or mu.ndim != 2 or len(mu) != n or len(decoded) != n:
        raise DiagnosisError(f"model(x) returned decoded {tuple(decoded.shape)}, mu {tuple(mu.shape)}, logvar "
                             f"{tuple(logvar.shape)} for {n} images; mu and logvar must both be ({n}, latents) "
                             f"and decoded must have the batch ({n}) first.")
    return decoded, mu, logvar


def loss_and_gradient(model: nn.Module, x: torch.Tensor, loss_fn: Callable) -> tuple[torch.Tensor, list]:
    """``loss_fn(model, x)`` and the gradient it gives each parameter (None where it gives none)."""
    for p in model.parameters():
        p.grad = None
    loss = loss_value(loss_fn(model, x))
    if loss.requires_grad and loss.grad_fn is not None:
        try:
            loss.backward()
        except RuntimeError:
            pass  # a train_step serving as loss_fn has called backward already
    return loss.detach(), [p.grad for p in model.parameters()]


def _finite(model: nn.Module, x: torch.Tensor, loss_fn: Callable) -> Finding:
    m = copy.deepcopy(model).train()
    with seeded(1, x.device):
        with torch.no_grad():
            outputs = _outputs(m, x)
        loss, grads = loss_and_gradient(m, x, loss_fn)
    bad = [name for name, t in zip(("decoded", "mu", "logvar"), outputs) if not torch.isfinite(t).all()]
    if not torch.isfinite(loss):
        bad.append("the loss")
    grads = [g for g in grads if g is not None]
    if any(not torch.isfinite(g).all() for g in grads):
        bad.append("the gradients")
    if bad:
        return Finding("finite", False, f"NaN or inf in {', '.join(bad)} on this batch: look for log(0), "
                       "exp of a large number, or a division by zero.")
    if not grads:
        return Finding("finite", False, "The loss gives the model's parameters no gradient at all: "
                       "is it computed under torch.no_grad(), detached, or via .item()?")
    return Finding("finite", True, f"outputs, loss ({float(loss):.1f}) and gradients are finite")


def _in_unit_interval(t: torch.Tensor) -> bool:
    return bool(((t >= 0) & (t <= 1)).all())


def _convention_of(model: nn.Module, decoded: torch.Tensor, latent_dim: int, outputs: str | None) -> str:
    """"logits" or "probabilities": as given, else "logits" as soon as an output leaves [0, 1], for the batch or
    for codes ten times wider than the prior (an untrained decoder's logits may all lie in [0, 1] by chance)."""
    if outputs is not None:
        if outputs not in ("logits", "probabilities"):
            raise DiagnosisError(f"outputs must be 'logits' or 'probabilities', not {outputs!r}.")
        return outputs
    if not _in_unit_interval(decoded):
        return "logits"
    _, decoder = _part(model, "decode", "decoder")
    if decoder is not None:
        device = decoded.device
        try:
            with torch.no_grad(), seeded(10, device):
                wide = decoder(10 * torch.randn(64, latent_dim, device=device))
            if isinstance(wide, torch.Tensor) and not _in_unit_interval(wide):
                return "logits"
        except Exception:  # noqa: BLE001, S110 - a decoder that takes something else: judge by the batch alone
            pass
    return "probabilities"


TWICE_MESSAGE = {
    "model": "The decoder outputs probabilities (every value in [0, 1]) but the loss treats them as logits (BCE with "
             "logits): a sigmoid applied twice, so p stays between ½ and 0.73 and the background can never be "
             "predicted. Drop one sigmoid.",
    "loss": "The loss applies a sigmoid to the decoder's logits and then uses BCE *with logits*: a sigmoid applied "
            "twice, so p stays between ½ and 0.73. Give the logits to F.binary_cross_entropy_with_logits as they are.",
    "logits": "The decoder outputs logits (values outside [0, 1]) but the loss expects probabilities: apply "
              "torch.sigmoid in the decoder, or use F.binary_cross_entropy_with_logits.",
}


def _recon_candidates(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pixel values at p = ½ (logits 0) of the right reconstruction term and of two known wrong ones."""
    half = torch.full_like(x, 0.5)
    return {"bernoulli": torch.full_like(x, LN2), "squared error": (x - half) ** 2,
            "sigmoid twice": torch.nn.functional.softplus(half) - half * x}


def _match_recon(per_image: float, x: torch.Tensor) -> tuple[str, str] | None:
    """Which (term, reduction over pixels) gives ``per_image`` at p = ½, if a known one does."""
    for kind, values in _recon_candidates(x.flatten(1)).items():
        for reduction, value in (("sum", values.sum(1).mean()), ("mean", values.mean())):
            if _close(per_image, float(value)):
                return kind, reduction
    return None


def _loss_tests(probe: _LossProbe, x: torch.Tensor, model_convention: str, n_pixels: int,
                beta: float = 1.0) -> list[Finding]:
    """The known-answer tests of the loss: output convention, sign, reconstruction at p = ½, batch reduction,
    KL at known (μ, σ), and saturated outputs."""
    other = "logits" if model_convention == "probabilities" else "probabilities"

    def invariant(convention: str) -> bool:   # at p = ½, −log p(x|z) = D·ln 2 whatever the image: x and 1 − x agree
        return _close(probe(convention), probe(convention, x=1 - x), rel=1e-4, abs_=1e-4)

    convention, mismatch = model_convention, None
    if not invariant(model_convention) and invariant(other):
        convention, mismatch = other, ("model" if model_convention == "probabilities" else "logits")
    n = len(x)
    base, doubled = probe(convention), probe(convention, x=torch.cat([x, x]))
    sign = -1.0 if base < 0 else 1.0
    batch_factor = doubled / base if base else float("nan")
    per_image = sign * (base / n if _close(batch_factor, 2.0) else base)
    match = _match_recon(per_image, x)
    if match is not None and match[0] == "sigmoid twice" and convention == "logits":
        mismatch = mismatch or "loss"
    findings = [Finding("decoder_output", False, TWICE_MESSAGE[mismatch]) if mismatch else
                Finding("decoder_output", True, f"the decoder outputs {model_convention}, as the loss expects")]
    findings.append(Finding("loss_sign", False, f"At p = ½ the loss is {base:.1f}, negative: it is the ELBO "
                            "(to maximise). An optimizer minimises, so return −ELBO = recon + KL.") if sign < 0 else
                    Finding("loss_sign", True, "the loss is positive (−ELBO, to minimise)"))
    findings.append(_recon_finding(per_image, match, n_pixels))
    kl_measured, kl_doubled = [], []
    for mu, logvar in KL_POINTS:
        kl_measured.append(sign * (probe(convention, mu, logvar) - base))
        kl_doubled.append(sign * (probe(convention, mu, logvar, x=torch.cat([x, x])) - doubled))
    kl_factor = kl_doubled[0] / kl_measured[0] if kl_measured[0] else float("nan")
    findings.append(_batch_finding(batch_factor, kl_factor))
    batch_scale = n if _close(kl_factor, 2.0) else 1
    findings.append(_kl_finding([k / batch_scale for k in kl_measured], probe.latent_dim, x.device, beta))
    if findings[-1].passed:
        findings.append(_kl_gradient_finding(probe, convention, sign * batch_scale * beta))
    saturated = probe(convention, saturated=True)
    findings.append(Finding("saturation", True, f"finite ({saturated:.1f}) when the decoder is sure, p = 0 or 1")
                    if math.isfinite(saturated) else
                    Finding("saturation", False, f"The loss is {saturated} when the decoder is sure (p exactly 0 "
                            "or 1): log(0) is computed. Use F.binary_cross_entropy_with_logits on logits (or "
                            "F.binary_cross_entropy, which clamps the log); a trained decoder gets there."))
    return findings


def _kl_gradient_finding(probe: _LossProbe, convention: str, scale: float) -> Finding:
    """At μ = 2, σ² = 4 the KL's gradient, summed over images and latents, is d·μ = 2d for μ and d·½(σ² − 1) = 1.5d
    for log σ² (per image: times the batch size if the loss sums over the batch)."""
    mu, logvar = 2.0, math.log(4.0)
    got = probe.kl_gradients(convention, mu, logvar)
    want = (scale * probe.latent_dim * mu, scale * probe.latent_dim * 0.5 * (math.exp(logvar) - 1))
    if all(_close(g, w, rel=1e-3) for g, w in zip(got, want)):
        return Finding("kl_gradient", True, f"the KL's gradient is right: {got[0]:.4g} for μ and {got[1]:.4g} for "
                       "log σ² at μ = 2, σ² = 4")
    if all(_close(-g, w, rel=1e-3) for g, w in zip(got, want)):
        return Finding("kl_gradient", None, "not judged: the gradient is the KL's with the opposite sign, so the "
                       "step backpropagates −loss (see step_direction)")
    if all(abs(g) < 1e-9 for g in got):
        return Finding("kl_gradient", False, "The KL has the right value but gives μ and log σ² no gradient: it is "
                       "computed from detached numbers (.detach(), .item(), NumPy, torch.no_grad()), so nothing pulls "
                       "the codes towards the prior. Compute it with torch operations on μ and log σ².")
    return Finding("kl_gradient", False, f"At μ = 2, σ² = 4 the loss's gradient is {got[0]:.4g} for μ and {got[1]:.4g} "
                   f"for log σ², but the KL's is {want[0]:.4g} and {want[1]:.4g}: part of it is detached or wrong.")


def _recon_finding(per_image: float, match: tuple[str, str] | None, n_pixels: int) -> Finding:
    shown = f"at p = ½ the reconstruction is {per_image:.2f} per image (D·ln 2 = {n_pixels * LN2:.2f})"
    averaged = (f"; it is averaged over the {n_pixels} pixels instead of summed, a hidden β of {n_pixels} that pushes "
                "the KL to 0. Sum over pixels")
    if match is None:
        return Finding("recon_value", False, shown + ": not the Bernoulli −log p(x|z) summed over pixels (the binary "
                       "cross-entropy, summed over pixels).")
    kind, reduction = match
    if kind == "squared error":
        return Finding("recon_value", False, shown + ": it is the squared error Σ(x − p)², not the Bernoulli "
                       "−log p(x|z); use the binary cross-entropy" + (averaged if reduction == "mean" else "") + ".")
    if reduction == "mean":
        return Finding("recon_value", False, shown + averaged + ".")
    if kind == "sigmoid twice":
        return Finding("recon_value", True, "summed over pixels (its value is off only by the sigmoid applied twice)")
    return Finding("recon_value", True, shown)


def _batch_finding(recon_factor: float, kl_factor: float) -> Finding:
    """How the loss scales when every image of the batch comes twice: 1 (a mean) or 2 (a sum), alike for both terms."""
    for factor, how in ((1.0, "averaged over the batch (the same per image at any batch size)"),
                        (2.0, "summed over the batch (as in pytorch/examples; divide by the batch size to read it "
                              "per image)")):
        if _close(recon_factor, factor) and (_close(kl_factor, factor) or not math.isfinite(kl_factor)):
            return Finding("batch_reduction", True, "the loss is " + how)
    return Finding("batch_reduction", False, f"Doubling the batch multiplies the reconstruction by {recon_factor:.2f} "
                   f"and the KL by {kl_factor:.2f}: reduce both the same way over the batch (both means or both "
                   "sums), or their balance changes with the batch size.")


def _kl_finding(measured: list[float], latent_dim: int, device: torch.device, beta: float = 1.0) -> Finding:
    """Compare the KL measured at :data:`KL_POINTS` with the closed form, and name the mistake if it differs
    (the known wrong formulas are lesson 03's, where the exercise on this KL names them)."""
    from vaecourse.exercises.lesson03 import KL_MISTAKES  # here: the exercises import this module

    rows = torch.tensor(KL_POINTS, dtype=torch.float64, device=device)
    mu, logvar = (rows[:, :1].expand(-1, latent_dim), rows[:, 1:].expand(-1, latent_dim))
    measured = [m / beta for m in measured]   # the KL itself, when the loss weighs it by β on purpose
    expected = losses.gaussian_kl(mu, logvar).tolist()
    wrong_at = [i for i, (m, e) in enumerate(zip(measured, expected)) if not _close(m, e)]
    if not wrong_at:
        return Finding("kl_value", True, f"KL(μ = 2, σ = 1) = {measured[0] / latent_dim:.3f} per latent (2 in closed "
                       f"form); right at {len(KL_POINTS) - 1} more (μ, σ), 0 at the prior")
    i = wrong_at[0]
    point_mu, point_logvar = KL_POINTS[i]
    shown = (f"KL(μ = {point_mu:g}, σ² = {math.exp(point_logvar):.3g}) = {measured[i] / latent_dim:.3f} per latent, "
             f"should be {expected[i] / latent_dim:.3f}")
    if all(abs(m) < 1e-6 for m in measured):
        return Finding("kl_value", False, f"{shown}: the loss does not change when μ and σ leave the prior. The KL "
                       "term is missing, so nothing keeps the codes near N(0, I) and prior samples fail.")
    for message, mistake in KL_MISTAKES.items():
        wrong = mistake(mu, logvar).reshape(len(KL_POINTS), -1).sum(dim=1).tolist()
        if all(_close(m, w) for m, w in zip(measured, wrong)):
            return Finding("kl_value", False, f"{shown}. {message}")
    ratios = [m / e for m, e in zip(measured, expected)]
    if all(_close(r, ratios[0], rel=1e-3) for r in ratios):
        return Finding("kl_weight", False, f"{shown}: the KL is weighted by β = {ratios[0]:.4g}. With β ≠ 1 the loss "
                       "is not the ELBO (a weight copied from another codebase, or a mean where a sum belongs?).")
    return Finding("kl_value", False, f"{shown}: the closed form is ½Σ(μ² + σ² − 1 − log σ²), summed over latents.")


def _sampling(model: nn.Module, x: torch.Tensor, loss_fn: Callable) -> Finding:
    m = copy.deepcopy(model).train()
    with seeded(2, x.device):
        with torch.no_grad():
            first, second = m(x)[0], m(x)[0]
        loss_a, loss_b = (float(loss_value(loss_fn(m, x)).detach()) for _ in range(2))
    if torch.equal(first, second):
        return Finding("sampling", False, "model(x) gives the same output on every call (in training mode): the "
                       "decoder gets no random z = μ + σ·ε. Is it fed μ, or the encoder's raw output?")
    if loss_a == loss_b:
        return Finding("sampling", False, "The loss is the same on every call: it decodes no random z. "
                       "Decode z = μ + σ·ε (model(x)), not μ.")
    return Finding("sampling", True, "z is drawn afresh on every call")


def _z_spread(model: nn.Module, x: torch.Tensor) -> Finding:
    m = copy.deepcopy(model).train()
    x = x[:32]
    eps, raw = [], []
    with torch.no_grad(), seeded(3, x.device), watching(m) as watch:
        if not watch.has_decoder:
            return Finding("z_spread", None, "not tested: the model has no decode(z) method or decoder module")
        for _ in range(Z_CALLS):
            before = len(watch.decoder_inputs)
            _, mu, logvar = m(x)
            if len(watch.decoder_inputs) != before + 1:
                return Finding("z_spread", None, "not tested: forward did not call the decoder exactly once")
            z = watch.decoder_inputs[-1]
            if z.shape != mu.shape:
                return Finding("z_spread", False, f"The decoder gets an input of shape {tuple(z.shape)} while μ is "
                               f"{tuple(mu.shape)}: it is not fed z (the encoder's raw output, μ and log σ² side by "
                               "side?). Decode z = μ + σ·ε.")
            raw.append((z - mu, logvar))
            eps.append((z - mu) / torch.exp(0.5 * logvar))
            for dim, whom in ((0, "every image of the batch"), (1, "every latent of an image")):
                first = eps[-1].narrow(dim, 0, 1)
                if eps[-1].shape[dim] > 1 and bool((eps[-1] - first).abs().max() < 1e-6):
                    return Finding("z_spread", False, f"One ε is shared by {whom}: draw ε with the shape of μ "
                                   "(torch.randn_like(std)), one number per image and latent.")
    eps = torch.cat(eps).double()
    n = eps.numel()
    mean, std = float(eps.mean()), float(eps.std())
    shown = f"(z − μ)/σ has mean {mean:.3f} and standard deviation {std:.3f} over {n:,} draws"
    if abs(mean) < TOLERANCE_SE / math.sqrt(n) and abs(std - 1) < TOLERANCE_SE / math.sqrt(2 * n):
        return Finding("z_spread", True, shown + " (N(0, 1) as it should)")
    if std < 1e-6:
        return Finding("z_spread", False, shown + ": z = μ, no noise at all. Decode z = μ + σ·ε.")
    for name, wrong_std in (("log σ² is used as σ", lambda lv: lv.abs()), ("σ² is used as σ", torch.exp)):
        spread = float(torch.cat([(d / wrong_std(lv)) for d, lv in raw]).double().std())
        if abs(spread - 1) < 0.05:
            return Finding("z_spread", False, shown + f": {name}. σ = exp(½·log σ²).")
    return Finding("z_spread", False, shown + ": z is not μ + σ·ε with σ = exp(½·log σ²) and ε ~ N(0, I).")


def _gradient_through_z(model: nn.Module, x: torch.Tensor) -> Finding:
    m = copy.deepcopy(model).train()
    with seeded(4, x.device):
        decoded, mu, logvar = m(x)
        weights = torch.randn_like(decoded)
    if not (mu.requires_grad and logvar.requires_grad and decoded.requires_grad):
        return Finding("gradient_through_z", False, "model(x)'s outputs carry no gradient: is forward run under "
                       "torch.no_grad() or are they detached?")
    grads = torch.autograd.grad((decoded * weights).sum(), (mu, logvar), allow_unused=True)
    missing = [name for name, g in zip(("μ", "log σ²"), grads) if g is None or not bool(g.abs().sum() > 0)]
    if missing:
        return Finding("gradient_through_z", False, f"No gradient flows from the decoder's output back to "
                       f"{' and '.join(missing)}: z is detached or drawn without the trick (.sample(), "
                       "torch.normal(μ, σ)), so the encoder learns from the KL alone. Use z = μ + σ·ε.")
    return Finding("gradient_through_z", True, "the decoder's output has a gradient with respect to μ and log σ²")


def _batch_independence(model: nn.Module, x: torch.Tensor) -> Finding:
    m = copy.deepcopy(model).eval()
    changed = x.clone()
    changed[0] = 1 - x[0]
    with torch.no_grad():
        with seeded(5, x.device):
            a = m(x)
        with seeded(5, x.device):
            b = m(changed)
    moved = max(float((s[1:] - t[1:]).abs().max()) for s, t in zip(a, b))
    if moved > 1e-4 * (1 + max(float(t.abs().max()) for t in a)):
        return Finding("batch_independence", False, f"Changing image 0 changes the outputs of the other images (by up "
                       f"to {moved:.3g}, in eval mode): a reshape or view mixes images across the batch. Flatten with "
                       "x.view(len(x), -1), never x.view(784, -1).")
    return Finding("batch_independence", True, "each image's outputs depend on that image alone")


def _loss_after_move(model: nn.Module, x: torch.Tensor, loss_fn: Callable, direction: torch.Tensor,
                     size: float) -> float:
    """The loss (same random draws) after moving a copy of ``model``'s parameters by −size·direction."""
    m = copy.deepcopy(model).train()
    with torch.no_grad():
        for p, d in zip(m.parameters(), direction.split([p.numel() for p in m.parameters()])):
            p -= size * d.view_as(p)
    with seeded(11, x.device):
        return float(loss_value(loss_fn(m, x)).detach())


def _train_step_tests(model: nn.Module, x: torch.Tensor, loss_fn: Callable, train_step: Callable) -> list[Finding]:
    """Does one step go downhill on the loss, and does each step start from fresh gradients (zero_grad)?"""
    m = copy.deepcopy(model).train()
    optimizer = _RecordingSGD(m.parameters())
    with seeded(6, x.device):
        train_step(m, optimizer, x)
    if not optimizer.followed:
        return [Finding("step_direction", False, "train_step never called optimizer.step() on the optimizer it was "
                        "given; use that optimizer.")]
    followed = optimizer.followed[0]
    length = float(followed.norm())
    if not length > 0 or not math.isfinite(length):
        return [Finding("step_direction", False, f"The step followed a gradient of length {length}: the loss gave "
                        "the parameters no usable gradient.")]
    size = 1e-3 * float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm()) / length
    change = (_loss_after_move(model, x, loss_fn, followed, size) - _loss_after_move(model, x, loss_fn, followed, 0.0))
    if change < 0:
        direction = Finding("step_direction", True, f"the step goes downhill: a small move its way lowers the loss "
                            f"by {-change:.3g}")
    else:
        direction = Finding("step_direction", False, f"The step goes uphill: a small move its way raises the loss by "
                            f"{change:.3g}. It backpropagates the ELBO (or −loss); backpropagate −ELBO.")
    reference = copy.deepcopy(m)
    for p in reference.parameters():
        p.grad = None
    reference_optimizer = _RecordingSGD(reference.parameters())
    with seeded(7, x.device):
        train_step(m, optimizer, x)
    with seeded(7, x.device):
        train_step(reference, reference_optimizer, x)
    second, clean = optimizer.followed[-1], reference_optimizer.followed[-1]
    leftover = float((second - clean).norm() / clean.norm().clamp_min(1e-12))
    if leftover > 1e-3:
        zero_grad = Finding("zero_grad", False, f"The second step followed a gradient that differs from a clean one by "
                            f"{leftover:.0%}: the gradients of the earlier step were still there. Call "
                            "optimizer.zero_grad() before loss.backward().")
    else:
        zero_grad = Finding("zero_grad", True, "each step starts from fresh gradients")
    return [direction, zero_grad]


def _prior_samples(model: nn.Module, sample: Callable, latent_dim: int) -> Finding:
    m = copy.deepcopy(model)
    device = next(m.parameters()).device
    with torch.no_grad(), seeded(8, device), watching(m) as watch:
        sample(m, PRIOR_SAMPLES)
    if watch.encoder_calls or watch.forward_calls:
        return Finding("prior_samples", False, "sample() runs the encoder: its images are reconstructions of "
                       "encoded data, not new samples. Decode z ~ N(0, I) drawn from the prior.")
    if not watch.has_decoder or not watch.decoder_inputs:
        return Finding("prior_samples", None, "not tested: the model has no decode(z) method or decoder module")
    z = torch.cat(watch.decoder_inputs).double()
    if z.shape[-1] != latent_dim:
        return Finding("prior_samples", False, f"sample() decodes codes of width {z.shape[-1]}, but the encoder gives "
                       f"{latent_dim} latents.")
    n = z.numel()
    mean, std = float(z.mean()), float(z.std())
    shown = f"the decoded codes have mean {mean:.3f} and standard deviation {std:.3f}"
    if abs(mean) < TOLERANCE_SE / math.sqrt(n) and abs(std - 1) < TOLERANCE_SE / math.sqrt(2 * n):
        return Finding("prior_samples", True, shown + ": z ~ N(0, I), and the encoder is not used")
    return Finding("prior_samples", False, shown + ": new samples need z ~ N(0, I), the prior.")


def _eval_mode(model: nn.Module, x: torch.Tensor, sample: Callable | None, evaluate: Callable | None) -> Finding:
    modal = [type(m).__name__ for m in model.modules()
             if isinstance(m, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))]
    in_training = []
    for name, call in (("evaluate", evaluate), ("sample", sample)):
        if call is None:
            continue
        m = copy.deepcopy(model).train()
        with torch.no_grad(), seeded(9, x.device), watching(m) as watch:
            if name == "evaluate":
                call(m, x)
            else:
                call(m, 8)
        if any(watch.training):
            in_training.append(name)
    if not in_training:
        return Finding("eval_mode", True, "evaluation and sampling run the model in eval mode")
    where = " and ".join(in_training)
    if modal:
        return Finding("eval_mode", False, f"{where} ran the model in training mode, and it has "
                       f"{', '.join(sorted(set(modal)))}: call model.eval() first, or the numbers are noisy and wrong.")
    return Finding("eval_mode", True, f"{where} ran in training mode; harmless for this model (no dropout or batch "
                   "norm), but call model.eval() there")


def _guarded(name: str, test: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    """Run one test; when the learner's code raises inside it, that is the finding (one line, no traceback)."""
    try:
        found = test()
    except DiagnosisError:
        raise
    except Exception as error:  # noqa: BLE001 - any error of the learner's code is reported in words
        return [Finding(name, False, f"{type(error).__name__} in this test: {error}")]
    return found if isinstance(found, list) else [found]


def _loss_tests_or_note(probe: _LossProbe, x: torch.Tensor, convention: str, n_pixels: int,
                        beta: float) -> list[Finding]:
    try:
        return _loss_tests(probe, x, convention, n_pixels, beta)
    except (AttributeError, TypeError) as error:
        return [Finding("loss_tests", None, f"not run: the loss failed on diagnose's stand-in model "
                        f"({type(error).__name__}: {error}); it must get everything from model(x), model.encode, "
                        "model.reparameterize or model.decode")]


def diagnose(model: nn.Module, batch: torch.Tensor, loss_fn: Callable | None = None, *,
             train_step: Callable | None = None, sample: Callable | None = None, evaluate: Callable | None = None,
             outputs: str | None = None, beta: float = 1.0) -> Diagnosis:
    """Run the known-answer tests on a VAE and return a :class:`Diagnosis` naming each problem found.

    See the module's docstring for what ``model``, ``loss_fn`` and the optional parts must be; ``beta`` is the
    KL weight the loss is meant to have (1: the ELBO; a β-VAE's own β). Print the result for the report;
    ``.problems`` lists the names of the failed tests (empty when all is well).
    """
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise DiagnosisError(f"model must be a torch.nn.Module with parameters, got {type(model).__name__}.")
    if not isinstance(batch, torch.Tensor) or batch.ndim < 2 or len(batch) < 2:
        raise DiagnosisError("batch must be a tensor of at least 2 training images (values in [0, 1]), batch first.")
    if loss_fn is None:
        if train_step is None:
            raise DiagnosisError("Give loss_fn(model, x) (or a train_step(model, optimizer, x) that returns the loss).")
        loss_fn = loss_from_step(train_step)
    device = next(model.parameters()).device
    if batch.device != device:
        raise DiagnosisError(f"batch is on {batch.device} but the model is on {device}: move it with .to(device).")
    with seeded(0, device), torch.no_grad():
        decoded, mu, _ = _outputs(copy.deepcopy(model).train(), batch)
    latent_dim, n_pixels = mu.shape[1], decoded[0].numel()
    convention = _convention_of(copy.deepcopy(model).train(), decoded, latent_dim, outputs)
    probe = _LossProbe(loss_fn, batch, tuple(decoded.shape), latent_dim)
    tests: list[tuple[str, Callable]] = [
        ("finite", lambda: _finite(model, batch, loss_fn)),
        ("loss_tests", lambda: _loss_tests_or_note(probe, batch, convention, n_pixels, beta)),
        ("sampling", lambda: _sampling(model, batch, loss_fn)),
        ("z_spread", lambda: _z_spread(model, batch)),
        ("gradient_through_z", lambda: _gradient_through_z(model, batch)),
        ("batch_independence", lambda: _batch_independence(model, batch)),
    ]
    if train_step is not None:
        tests.append(("train_step", lambda: _train_step_tests(model, batch, loss_fn, train_step)))
    if sample is not None:
        tests.append(("prior_samples", lambda: _prior_samples(model, sample, latent_dim)))
    if sample is not None or evaluate is not None:
        tests.append(("eval_mode", lambda: _eval_mode(model, batch, sample, evaluate)))
    report = Diagnosis([Finding("outputs", True, f"decoded {tuple(decoded.shape)} ({convention}), μ and log σ² "
                                f"{tuple(mu.shape)}")])
    from vaecourse.exercises.core import one_thread  # here: the exercises import this module

    with one_thread():   # small tensors: one CPU thread is several times faster on a busy machine
        for name, test in tests:
            report.findings += _guarded(name, test)
    return report
