"""Checkers for lesson 02, unrolling and truncated backpropagation through time.

Exercise 2.1 ``unrolled_final_loss(lr, A, w0, steps)``: T gradient-descent steps on ``1/2 w^T A w``, then ``f(w_T)``.
Exercise 2.2 ``lr_sensitivity(A, w0, lr, steps)``: the forward sensitivity ``dw_T/dlr`` by its recursion.
Exercise 2.3 ``es_gradient(f, theta, sigma, eps)``: the antithetic evolution-strategies gradient estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..meta import unroll
from .core import Exercise, checker


def _quadratic(A, w):
    return 0.5 * w @ A @ w


def _reference_final_loss(lr, A, w0, steps):
    return unroll.unrolled_loss(lambda w, t: _quadratic(A, w), w0, "sgd", {"lr": lr}, steps)


def _gd(lr, A, w0, steps, sign=-1.0, detach=False):
    w = w0
    for _ in range(steps):
        w = w + sign * lr * (A @ w)
        if detach:
            w = w.detach()
    return _quadratic(A, w)


def _case(seed: int, steps: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        M = torch.randn(4, 4, generator=g, dtype=torch.float64)
        return {
            "A": M @ M.T / 4 + 0.1 * torch.eye(4, dtype=torch.float64),
            "w0": torch.randn(4, generator=g, dtype=torch.float64),
            "lr": torch.tensor(0.05 + 0.05 * seed, dtype=torch.float64),
            "steps": steps,
        }

    return make


FINAL_LOSS = Exercise(
    id="2.1",
    name="unrolled_final_loss",
    reference=_reference_final_loss,
    cases=[_case(s, T) for s, T in ((0, 1), (1, 5), (2, 12), (3, 7))],
    grad_wrt=("lr",),
    mistakes={
        "you took one step too few: range(steps) runs exactly `steps` updates": (
            lambda lr, A, w0, steps: _gd(lr, A, w0, steps - 1)
        ),
        "you took one step too many": lambda lr, A, w0, steps: _gd(lr, A, w0, steps + 1),
        "gradient descent subtracts lr * grad": lambda lr, A, w0, steps: _gd(lr, A, w0, steps, sign=1.0),
    },
    hint="w = w - lr * (A @ w), `steps` times, then return 0.5 * w @ A @ w",
)


def _sensitivity(A, w0, lr, steps, sign=-1.0, with_lr=True, late=False):
    w, z = w0, torch.zeros_like(w0)
    for _ in range(steps):
        g = A @ w
        if late:
            w = w - lr * g
            g = A @ w
        z = z - (lr * (A @ z) if with_lr else A @ z) + sign * g
        if not late:
            w = w - lr * g
    return z


SENSITIVITY = Exercise(
    id="2.2",
    name="lr_sensitivity",
    reference=lambda A, w0, lr, steps: unroll.quadratic_lr_sensitivity(A, w0, lr, steps)[1],
    cases=[_case(s, T) for s, T in ((0, 1), (1, 5), (2, 12), (3, 7))],
    grad_wrt=("lr",),
    mistakes={
        "the direct term is -g_t: increasing lr moves w further along -g (Crouther's eq. 1.2.13 prints + here)": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, sign=1.0)
        ),
        "the Jacobian of the step is (I - lr A), not (I - A) (Crouther's eq. 1.2.14 drops the lr)": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, with_lr=False)
        ),
        "use the gradient g_t = A w_t from before the update, not after it": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, late=True)
        ),
    },
    hint="z starts at 0; each step: g = A @ w; z = z - lr * (A @ z) - g; w = w - lr * g",
)


def _es_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        c = torch.randn(3, generator=g, dtype=torch.float64)
        return {
            "f": lambda x: ((x - c) ** 2).sum(-1) + torch.sin(3 * x).sum(-1),
            "theta": torch.randn(3, generator=g, dtype=torch.float64),
            "sigma": 0.1 * (seed + 1),
            "eps": torch.randn(6 + seed, 3, generator=g, dtype=torch.float64),
        }

    return make


def _es_wrong(f, theta, sigma, eps, one_sided=False, factor=2.0, sign=1.0):
    plus = f(theta + sigma * eps)
    minus = f(theta) if one_sided else f(theta - sigma * eps)
    return sign * (eps * ((plus - minus) / (factor * sigma))[:, None]).mean(0)


ES = Exercise(
    id="2.3",
    name="es_gradient",
    reference=unroll.es_gradient_from_noise,
    cases=[_es_case(s) for s in range(4)],
    mistakes={
        "the antithetic difference f(theta + s eps) - f(theta - s eps) spans 2 sigma: divide by 2 * sigma": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, factor=1.0)
        ),
        "use antithetic pairs f(theta + s eps) - f(theta - s eps), not f(theta + s eps) - f(theta)": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, one_sided=True, factor=1.0)
        ),
        "the estimate points uphill (a gradient), not downhill": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, sign=-1.0)
        ),
    },
    hint="mean over pairs of eps * (f(theta + sigma eps) - f(theta - sigma eps)) / (2 sigma)",
)


unrolled_final_loss = checker(FINAL_LOSS, 'values for 1 to 12 steps and the derivative with respect to lr.')
lr_sensitivity = checker(SENSITIVITY, 'the forward sensitivity dw_T/dlr on 4 quadratics.')
es_gradient = checker(ES, 'the antithetic ES estimate for given noise on 4 smooth test functions.')
