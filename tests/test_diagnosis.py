"""diagnose: every bug planted in lesson 08's script (and lesson 05's three) is flagged with its named finding;
the course's correct models and two independently written VAEs (other architectures and conventions) pass;
bad input is a clear error; the model diagnosed is left as it was."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vaecourse import bugs, data, dsprites, losses, models
from vaecourse.diagnosis import DiagnosisError, diagnose


@pytest.fixture(scope="module")
def digits():
    """(64 binarized training digits for diagnose, 500 grey ones for the samples_from_data sampler)."""
    x = data.load_mnist().x_train[:500]
    torch.manual_seed(0)
    return data.binarize_dynamic(x[:64]), x


def run_script(bug, digits):
    torch.manual_seed(0)
    parts = bugs.pieces(bug, digits[1])
    return diagnose(parts.pop("model"), digits[0], **parts)


def test_the_correct_script_passes_every_test(digits):
    report = run_script(None, digits)
    assert report.ok, str(report)
    ran = {f.name for f in report.findings if f.passed is not None}
    assert {"recon_value", "kl_value", "sampling", "z_spread", "gradient_through_z", "batch_independence",
            "step_direction", "zero_grad", "prior_samples", "eval_mode", "saturation", "batch_reduction"} <= ran


@pytest.mark.parametrize("bug", list(bugs.BUGS))
def test_every_planted_bug_is_flagged_with_its_finding(bug, digits):
    report = run_script(bug, digits)
    assert bugs.EXPECTED_FINDING[bug] in report.problems, str(report)


@pytest.mark.parametrize("bug, words", [
    ("kl_wrong_sign", "Sign error"), ("kl_sigma_for_variance", "σ where σ² belongs"),
    ("kl_weight_copied", "β = 0.002133"), ("mean_over_pixels", "averaged over the 784 pixels"),
    ("double_sigmoid", "sigmoid applied twice"), ("bce_on_probabilities", "log(0)"),
    ("logvar_as_std", "log σ² is used as σ"), ("decoder_gets_encoder_output", "same output on every call"),
    ("maximises_elbo", "uphill"), ("no_zero_grad", "zero_grad()"), ("no_eval", "Dropout"),
    ("samples_from_data", "runs the encoder"), ("batch_mixing_reshape", "mixes images across the batch"),
])
def test_each_finding_says_what_is_wrong(bug, words, digits):
    report = run_script(bug, digits)
    assert words in report[bugs.EXPECTED_FINDING[bug]].message


@pytest.mark.parametrize("loss_fn, finding", [
    (bugs.decoder_gets_mu, "sampling"), (bugs.forgets_kl, "kl_value"), (bugs.mse_on_binary_pixels, "recon_value"),
])
def test_lesson05_mistakes_are_flagged(loss_fn, finding, digits):
    torch.manual_seed(0)
    report = diagnose(models.MLPVAE(), digits[0], loss_fn)
    assert report.problems == [finding], str(report)


def test_the_course_mlp_vae_passes(digits):
    torch.manual_seed(0)
    assert diagnose(models.MLPVAE(), digits[0], losses.beta_vae_loss(1.0)).ok


def test_the_course_conv_vae_passes_and_its_beta_is_named():
    torch.manual_seed(0)
    sprites = dsprites.sample(16, resolution=32, seed=0).images
    model = models.ConvVAE(32)
    assert diagnose(model, sprites, losses.beta_vae_loss(1.0)).ok
    assert diagnose(model, sprites, losses.beta_vae_loss(4.0), beta=4.0).ok
    report = diagnose(model, sprites, losses.beta_vae_loss(4.0))
    assert report.problems == ["kl_weight"] and "β = 4" in report["kl_weight"].message


# --- Two VAEs written independently of the course ---

class ExamplesStyleVAE(nn.Module):
    """pytorch/examples' VAE as it is usually copied: probabilities out (a sigmoid), images (N, 1, 28, 28)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 200), nn.Linear(200, 8), nn.Linear(200, 8)
        self.fc3, self.fc4 = nn.Linear(8, 200), nn.Linear(200, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).view(-1, 1, 28, 28)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def examples_loss(model, x):
    """Summed over the batch, as pytorch/examples does; BCE on probabilities."""
    recon_x, mu, logvar = model(x)
    bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def examples_step(model, optimizer, x):
    model.train()
    optimizer.zero_grad()
    loss = examples_loss(model, x)
    loss.backward()
    optimizer.step()
    return loss


class ConvBatchNormVAE(nn.Module):
    """A convolutional VAE with batch norm, an ``encoder`` and a ``decoder`` module (no encode/decode methods),
    μ and log σ² from one layer split in two, torch.distributions for z, and logits out."""

    def __init__(self, latents=6):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1),
                                     nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 2 * latents))
        self.decoder = nn.Sequential(nn.Linear(latents, 16 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (16, 7, 7)),
                                     nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()
        return self.decoder(z), mu, logvar


def conv_loss(model, x):
    logits, mu, logvar = model(x)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(dim=1)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
    return {"loss": (nll + kl).mean()}


def conv_sample(model, n):
    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model.decoder(torch.randn(n, 6)))


def conv_evaluate(model, x):
    model.eval()
    with torch.no_grad():
        return conv_loss(model, x)["loss"]


def test_an_examples_style_vae_with_probabilities_and_batch_sums_passes(digits):
    torch.manual_seed(0)
    images = digits[0].view(-1, 1, 28, 28)
    report = diagnose(ExamplesStyleVAE(), images, examples_loss, train_step=examples_step,
                      sample=lambda model, n: model.decode(torch.randn(n, 8)))
    assert report.ok, str(report)
    assert "probabilities" in report["outputs"].message and "summed over the batch" in report["batch_reduction"].message


def test_a_conv_vae_with_batch_norm_and_modules_passes(digits):
    torch.manual_seed(0)
    images = digits[0].view(-1, 1, 28, 28)
    report = diagnose(ConvBatchNormVAE(), images, conv_loss, sample=conv_sample, evaluate=conv_evaluate)
    assert report.ok, str(report)
    assert report["z_spread"].passed and report["prior_samples"].passed  # z seen through the decoder module


def test_its_forgotten_eval_is_flagged_because_it_has_batch_norm(digits):
    torch.manual_seed(0)
    report = diagnose(ConvBatchNormVAE(), digits[0].view(-1, 1, 28, 28), conv_loss,
                      evaluate=lambda model, x: conv_loss(model, x)["loss"])
    assert report.problems == ["eval_mode"] and "BatchNorm2d" in report["eval_mode"].message


# --- Kinds of mistake beyond the planted ones ---

class DetachedZ(models.MLPVAE):
    def forward(self, x):
        mu, logvar = self.encode(x)
        z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()   # no gradient to mu, logvar
        return self.decode(z), mu, logvar


class NoiseVariant(models.MLPVAE):
    """The MLP VAE with ε drawn wrongly: ``noise(mu)`` replaces torch.randn_like(mu)."""

    def __init__(self, noise):
        super().__init__()
        self.noise = noise

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(mu + torch.exp(0.5 * logvar) * self.noise(mu)), mu, logvar


@pytest.mark.parametrize("noise, words", [
    (lambda mu: torch.randn(mu.shape[1]).expand_as(mu), "shared by every image"),
    (lambda mu: torch.randn(len(mu), 1).expand_as(mu), "shared by every latent"),
    (torch.rand_like, "is not μ + σ·ε"),
    (lambda mu: 0.5 * torch.randn_like(mu), "standard deviation 0.5"),
])
def test_wrongly_drawn_noise_is_flagged(noise, words, digits):
    torch.manual_seed(0)
    report = diagnose(NoiseVariant(noise), digits[0], losses.beta_vae_loss(1.0))
    assert report.problems == ["z_spread"] and words in report["z_spread"].message, str(report)


def test_a_kl_without_gradient_is_flagged(digits):
    def detached_kl(model, x):
        logits, mu, logvar = model(x)
        return losses.bernoulli_nll(logits, x).mean() + losses.gaussian_kl(mu.detach(), logvar.detach()).mean()

    torch.manual_seed(0)
    report = diagnose(models.MLPVAE(), digits[0], detached_kl)
    assert report.problems == ["kl_gradient"] and "no gradient" in report["kl_gradient"].message


def test_a_z_drawn_without_the_trick_is_flagged(digits):
    torch.manual_seed(0)
    report = diagnose(DetachedZ(), digits[0], losses.beta_vae_loss(1.0))
    assert "gradient_through_z" in report.problems and ".sample()" in report["gradient_through_z"].message


@pytest.mark.parametrize("loss_fn, finding, words", [
    (lambda m, x: -losses.beta_vae_loss(1.0)(m, x)["loss"], "loss_sign", "it is the ELBO"),
    (lambda m, x: (lambda o: losses.bernoulli_nll(o[0], x).mean()
                   + 0.5 * (o[1] ** 2 + o[2].exp() - 1 - o[2]).mean(dim=1).mean())(m(x)),
     "kl_value", "averaged over the latent dimensions"),
    (lambda m, x: (lambda o: losses.bernoulli_nll(o[0], x).mean() + losses.gaussian_kl(o[1], o[2]).sum())(m(x)),
     "batch_reduction", "the KL by 2.00"),
    (lambda m, x: (lambda o: F.binary_cross_entropy(o[0], x, reduction="sum") / len(x)
                   + losses.gaussian_kl(o[1], o[2]).mean())(m(x)), "decoder_output", "expects probabilities"),
])
def test_other_loss_mistakes_are_named(loss_fn, finding, words, digits):
    torch.manual_seed(0)
    report = diagnose(models.MLPVAE(), digits[0], loss_fn)
    assert finding in report.problems and words in report[finding].message, str(report)


def test_a_loss_that_crashes_on_the_real_model_is_a_finding_not_a_traceback(digits):
    def crashes(model, x):
        raise RuntimeError("all elements of input should be between 0 and 1")

    report = diagnose(models.MLPVAE(), digits[0], crashes)
    assert "finite" in report.problems and "RuntimeError" in report["finite"].message


@pytest.mark.parametrize("call, words", [
    (lambda m, x: diagnose(m, x[:1], losses.beta_vae_loss()), "at least 2 training images"),
    (lambda m, x: diagnose(m, x), "Give loss_fn"),
    (lambda m, x: diagnose(nn.Linear(784, 784), x, losses.beta_vae_loss()), "three tensors"),
    (lambda m, x: diagnose(m, x.double(), losses.beta_vae_loss()), "model(batch) raised"),
    (lambda m, x: diagnose(m, x, lambda model, xb: {"recon": 1.0}), "without 'loss'"),
    (lambda m, x: diagnose(m, x, losses.beta_vae_loss(), outputs="probs"), "'logits' or 'probabilities'"),
])
def test_bad_input_is_a_clear_error(call, words, digits):
    with pytest.raises(DiagnosisError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(models.MLPVAE(), digits[0])


def test_the_model_and_the_random_state_are_left_as_they_were(digits):
    model = models.MLPVAE().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    parts = bugs.pieces(None, digits[1])
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = diagnose(model, digits[0], parts["loss_fn"], train_step=parts["train_step"], sample=parts["sample"])
    assert torch.equal(torch.rand(3), expected)
    assert not model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    second = diagnose(model, digits[0], parts["loss_fn"], train_step=parts["train_step"], sample=parts["sample"])
    assert str(first) == str(second)
