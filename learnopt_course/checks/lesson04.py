"""Checkers for lesson 04, score-function vs pathwise gradients.

Exercise 4.1 ``score_function_estimate(f, mu, sigma, eps)``: per-sample REINFORCE estimates of dE[f(x)]/dmu.
Exercise 4.2 ``pathwise_estimate(f, mu, sigma, eps)``: per-sample reparameterisation estimates of (d/dmu, d/dsigma).
Exercise 4.3 ``leave_one_out_baseline(values)``: the baseline that keeps REINFORCE unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import estimators
from .core import Exercise, checker

FUNCTIONS = (
    lambda x: x**2,
    lambda x: torch.sin(3 * x) + 0.1 * x**3,
    lambda x: torch.exp(-x) + x,
    lambda x: torch.tanh(x - 0.5) * x,
)


def _case(seed: int, n: int = 50) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        return {
            "f": FUNCTIONS[seed % len(FUNCTIONS)],
            "mu": torch.tensor(0.5 * (seed % 4) - 0.5, dtype=torch.float64),
            "sigma": torch.tensor(0.5 + 0.4 * (seed % 4), dtype=torch.float64),
            "eps": torch.randn(n, generator=g, dtype=torch.float64),
        }

    return make


def _sf(f, mu, sigma, eps, kind="right"):
    x = mu + sigma * eps
    if kind == "no_sigma":
        return f(x) * eps
    if kind == "x_not_eps":
        return f(x) * x / sigma**2
    if kind == "sign":
        return -f(x) * eps / sigma
    return f(x) * eps / sigma


SCORE = Exercise(
    id="4.1",
    name="score_function_estimate",
    reference=lambda f, mu, sigma, eps: estimators.score_function(f, mu, sigma, eps)[:, 0],
    cases=[_case(s) for s in range(4)],
    mistakes={
        "a factor of sigma is missing: write the score of the Gaussian in terms of eps and check the units": (
            lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "no_sigma")
        ),
        "the score measures the sample's distance from the mean, not the sample itself": (
            lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "x_not_eps")
        ),
        "the sign is flipped: the estimator multiplies f by the score itself": (
            lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "sign")
        ),
    },
    hint="the score-function (REINFORCE) estimator of the text: f at each sample times the derivative of log N with "
         "respect to mu, one estimate per sample (Williams 1992)",
    hidden=lambda s: [_case(s + k, (7, 120, 2)[k]) for k in range(3)],
    library=(estimators.score_function,),
)


def _pw(f, mu, sigma, eps, kind):
    x = (mu + sigma * eps).detach().requires_grad_(True)
    if kind == "mean":
        (df,) = torch.autograd.grad(f(x).mean(), x)
    else:
        (df,) = torch.autograd.grad(f(x).sum(), x)
    second = {"no_eps": df, "x": df * x.detach(), "mean": df * eps}[kind]
    return torch.stack([df, second], -1)


PATHWISE = Exercise(
    id="4.2",
    name="pathwise_estimate",
    reference=estimators.pathwise,
    cases=[_case(s) for s in range(4)],
    mistakes={
        "the sigma column needs the chain rule through the reparameterised sample": (
            lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "no_eps")
        ),
        "the derivative of the reparameterised sample with respect to sigma is the noise, not the sample": (
            lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "x")
        ),
        "one estimate per sample: averaging before differentiating divides every row by n": (
            lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "mean")
        ),
    },
    hint="the pathwise (reparameterisation) estimator of the text: write the sample as a function of mu, sigma and "
         "the noise, and differentiate f through it, one row per sample, one column per parameter",
    hidden=lambda s: [_case(s + k, (7, 120, 2)[k]) for k in range(3)],
    library=(estimators.pathwise,),
)


def _values_case(seed: int, n: int | None = None) -> Callable[[], dict]:
    size = 5 + 3 * seed if n is None else n
    return lambda: {"values": torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)}


BASELINE = Exercise(
    id="4.3",
    name="leave_one_out_baseline",
    reference=estimators.leave_one_out_baseline,
    cases=[_values_case(s) for s in range(4)],
    grad_wrt=("values",),
    mistakes={
        "leave sample i out: the plain mean includes its own value and biases the estimator": (
            lambda values: values.mean().expand_as(values)
        ),
        "you averaged over all n samples, but only the others count": (
            lambda values: (values.sum() - values) / values.shape[0]
        ),
    },
    hint="the leave-one-out baseline of the text: for each sample, the mean of all the other samples' values",
    hidden=lambda s: [_values_case(s + k, (2, 3, 40)[k]) for k in range(3)],
    library=(estimators.leave_one_out_baseline,),
)


score_function_estimate = checker(SCORE, '4 functions, means and widths, 50 samples each.')
pathwise_estimate = checker(PATHWISE, '4 differentiable functions, both columns.')
leave_one_out_baseline = checker(BASELINE, '4 sample sizes, values and gradients.')
