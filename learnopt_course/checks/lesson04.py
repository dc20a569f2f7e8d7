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


def _case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        return {
            "f": FUNCTIONS[seed % len(FUNCTIONS)],
            "mu": torch.tensor(0.5 * seed - 0.5, dtype=torch.float64),
            "sigma": torch.tensor(0.5 + 0.4 * seed, dtype=torch.float64),
            "eps": torch.randn(50, generator=g, dtype=torch.float64),
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
        "d log N(x; mu, sigma^2) / dmu = (x - mu) / sigma^2 = eps / sigma: divide by sigma": (
            lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "no_sigma")
        ),
        "the score is (x - mu) / sigma^2, not x / sigma^2": lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "x_not_eps"),
        "the score enters with a plus sign: f(x) * d log p / dmu": lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "sign"),
    },
    hint="x = mu + sigma * eps; return f(x) * eps / sigma (one estimate per sample)",
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
        "dx/dsigma = eps, so the sigma column is f'(x) * eps": lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "no_eps"),
        "dx/dsigma = eps, not x": lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "x"),
        "one estimate per sample: differentiate f(x).sum() (the mean divides every row by n)": (
            lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "mean")
        ),
    },
    hint="x = mu + sigma eps with grad enabled; df = grad(f(x).sum(), x); return stack([df, df * eps], -1)",
)


def _values_case(seed: int) -> Callable[[], dict]:
    return lambda: {"values": torch.randn(5 + 3 * seed, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)}


BASELINE = Exercise(
    id="4.3",
    name="leave_one_out_baseline",
    reference=estimators.leave_one_out_baseline,
    cases=[_values_case(s) for s in range(4)],
    grad_wrt=("values",),
    mistakes={
        "leave sample i out: the plain mean includes v_i and biases the estimator": (
            lambda values: values.mean().expand_as(values)
        ),
        "there are n - 1 other samples: divide by n - 1": lambda values: (values.sum() - values) / values.shape[0],
    },
    hint="b_i = (sum of all values - v_i) / (n - 1)",
)


score_function_estimate = checker(SCORE, '4 functions, means and widths, 50 samples each.')
pathwise_estimate = checker(PATHWISE, '4 differentiable functions, both columns.')
leave_one_out_baseline = checker(BASELINE, '4 sample sizes, values and gradients.')
