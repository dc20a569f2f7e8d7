"""Lesson 11 checkers (registered with the notebook) accept independent answers and reject: a step up the gradient,
the log rate used as a rate, base 10; a flipped or averaged return, L_0 counted; a mean over coordinates, an unsummed
log-probability, log_std read as a log variance, the missing constant."""

import math

import torch

from learnopt_course.checks import lesson11
from learnopt_course.checks.lesson11 import _prob_wrong, _return_wrong

from checker_harness import make_checker_tests


def _return_loop(losses, kind):
    total = torch.zeros((), dtype=losses.dtype)
    for t in range(1, losses.shape[0]):
        total = total + (losses[t - 1] - losses[t] if kind == "delta" else -losses[t])
    return total


def _log_prob_manual(mu, log_std, u):
    var = torch.exp(log_std) ** 2
    return (-(u - mu) ** 2 / (2 * var) - torch.log(torch.sqrt(2 * math.pi * var))).sum(-1)


CHECKERS = {
    "11.1": (
        lesson11.per_coordinate_update,
        lambda theta, grad, log_lr: theta - log_lr.exp() * grad,
        {
            "uphill": (lambda theta, grad, log_lr: theta + torch.exp(log_lr) * grad, "against the gradient"),
            "log as rate": (lambda theta, grad, log_lr: theta - log_lr * grad, "exponentiate"),
            "base 10": (lambda theta, grad, log_lr: theta - 10**log_lr * grad, "natural"),
        },
    ),
    "11.2": (
        lesson11.episode_return,
        _return_loop,
        {
            "flipped": (lambda losses, kind: _return_wrong(losses, kind, flip=True), "positive return"),
            "L_0 counted": (lambda losses, kind: _return_wrong(losses, kind, include_first=True), "not a reward"),
        },
    ),
    "11.3": (
        lesson11.coordinate_log_prob,
        _log_prob_manual,
        {
            "mean": (lambda mu, log_std, u: _prob_wrong(mu, log_std, u, reduce="mean"), "not the mean"),
            "unsummed": (lambda mu, log_std, u: _prob_wrong(mu, log_std, u, reduce="none"), "sum over the coordinates"),
            "variance": (lambda mu, log_std, u: _prob_wrong(mu, log_std, u, variance=True), "not of the variance"),
            "no constant": (lambda mu, log_std, u: _prob_wrong(mu, log_std, u, constant=False), "normalising constant"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
