"""The lesson-09 exercise (Chen et al.'s minibatch estimate of log q(z)): the reference and other right forms
pass, the stub is 'not attempted', and each known-wrong answer is rejected with a message naming its mistake."""

import math

import numpy as np
import pytest
import torch

from vaecourse import exercises as ex
from vaecourse import tc

LOG_2PI = math.log(2 * math.pi)


def stub(z, mu, logvar, dataset_size):
    # YOUR CODE HERE
    raise NotImplementedError


def log_densities(z, mu, logvar):
    """(M, M, D): sample i under posterior k, latent j, written out as a learner would."""
    return -0.5 * (LOG_2PI + logvar[None] + (z[:, None] - mu[None]) ** 2 / logvar[None].exp())


def right(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    weight = math.log(dataset_size * z.shape[0])
    return (torch.logsumexp(log_q.sum(2), dim=1) - weight,
            (torch.logsumexp(log_q, dim=1) - weight).sum(1))


def with_distributions(z, mu, logvar, dataset_size):
    normal = torch.distributions.Normal(mu[None], torch.exp(0.5 * logvar[None]))
    log_q = normal.log_prob(z[:, None])
    log_nm = torch.log(torch.tensor(float(dataset_size * len(z)), dtype=z.dtype))
    return log_q.sum(2).logsumexp(1) - log_nm, (log_q.logsumexp(1) - log_nm).sum(-1)


def test_reference_and_other_right_forms_pass():
    for fn in (tc.minibatch_weighted_log_qz, right, with_distributions):
        assert ex.minibatch_log_qz.verdict(fn)[0] == "correct", ex.minibatch_log_qz.verdict(fn)[1]


def test_stub_is_not_attempted_and_use_falls_back():
    status, message = ex.minibatch_log_qz.verdict(stub)
    assert status == "not attempted" and "not attempted yet" in message
    assert ex.minibatch_log_qz.use(stub) is tc.minibatch_weighted_log_qz


def no_weight(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    return torch.logsumexp(log_q.sum(2), dim=1), torch.logsumexp(log_q, dim=1).sum(1)


def mean_over_batch(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    m = math.log(len(z))
    return torch.logsumexp(log_q.sum(2), dim=1) - m, (torch.logsumexp(log_q, dim=1) - m).sum(1)


def weight_once_for_product(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    w = math.log(dataset_size * len(z))
    return torch.logsumexp(log_q.sum(2), dim=1) - w, torch.logsumexp(log_q, dim=1).sum(1) - w


def summed_before_marginals(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar).sum(2)  # the latents summed first, for both
    w = math.log(dataset_size * len(z))
    return torch.logsumexp(log_q, dim=1) - w, torch.logsumexp(log_q, dim=1) - z.shape[1] * w


def naive_log_mean(z, mu, logvar, dataset_size):
    q = torch.exp(log_densities(z, mu, logvar))
    nm = dataset_size * len(z)
    return torch.log(q.prod(2).sum(1) / nm), torch.log(q.sum(1) / nm).sum(1)


def sum_of_logs(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    w = math.log(dataset_size * len(z))
    return log_q.sum(2).sum(1) - w, (log_q.sum(1) - w).sum(1)


def mean_of_logs(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    w = math.log(dataset_size * len(z))
    return log_q.sum(2).mean(1) - w, (log_q.mean(1) - w).sum(1)


def wrong_axis(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    w = math.log(dataset_size * len(z))
    return torch.logsumexp(log_q.sum(2), dim=0) - w, (torch.logsumexp(log_q, dim=0) - w).sum(1)


def hard_coded_dataset_size(z, mu, logvar, dataset_size):
    return right(z, mu, logvar, 737_280)


def unit_variance(z, mu, logvar, dataset_size):
    return right(z, mu, torch.zeros_like(logvar), dataset_size)


def logvar_as_log_std(z, mu, logvar, dataset_size):
    return right(z, mu, 2 * logvar, dataset_size)


def in_place(z, mu, logvar, dataset_size):
    z -= 0.0 * z  # changes nothing, but in place: the core names it
    mu.sub_(mu.mean(0))
    return right(z, mu, logvar, dataset_size)


def detached(z, mu, logvar, dataset_size):
    a, b = right(z, mu.detach(), logvar.detach(), dataset_size)
    return a.detach(), b.detach()


def via_numpy(z, mu, logvar, dataset_size):
    a, b = right(z.detach(), mu.detach(), logvar.detach(), dataset_size)
    return torch.from_numpy(np.asarray(a)), torch.from_numpy(np.asarray(b))


def marginals_not_summed(z, mu, logvar, dataset_size):
    log_q = log_densities(z, mu, logvar)
    w = math.log(dataset_size * len(z))
    return torch.logsumexp(log_q.sum(2), dim=1) - w, torch.logsumexp(log_q, dim=1) - w


def one_tensor(z, mu, logvar, dataset_size):
    return torch.stack(right(z, mu, logvar, dataset_size))


@pytest.mark.parametrize("mistake, words", [
    (no_weight, "left out the log(N·M) weight"),
    (mean_over_batch, "subtracted log M only"),
    (weight_once_for_product, "once for the whole product"),
    (summed_before_marginals, "summed over the latent dimensions before the log-sum-exp"),
    (naive_log_mean, "log(sum(exp(...))) directly"),
    (sum_of_logs, "a sum of logs"),
    (mean_of_logs, "a mean of logs"),
    (wrong_axis, "wrong index"),
    (hard_coded_dataset_size, "ignores its argument `dataset_size`"),
    (unit_variance, "ignores its argument `logvar`"),
    (logvar_as_log_std, "treats logvar as log σ"),
    (in_place, "in place"),
    (detached, "no gradient"),
    (via_numpy, "no gradient"),
    (marginals_not_summed, "one value per latent"),
    (one_tensor, "should return two tensors"),
])
def test_each_mistake_is_named(mistake, words):
    status, message = ex.minibatch_log_qz.verdict(mistake)
    assert status == "incorrect" and words in message, message


def test_a_detached_input_is_named():
    def mu_detached(z, mu, logvar, dataset_size):
        return right(z, mu.detach(), logvar, dataset_size)

    status, message = ex.minibatch_log_qz.verdict(mu_detached)
    assert status == "incorrect" and "`mu`" in message, message
