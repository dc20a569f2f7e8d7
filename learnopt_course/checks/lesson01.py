"""Checkers for lesson 01, SGD and momentum.

Exercise 1.1 ``heavy_ball_step(x, x_prev, grad, lr, momentum)``: Polyak's step (Crouther 2023, eq. 1.2.2).
Exercise 1.2 ``polyak_parameters(mu, L) -> (lr, momentum)``: the optimal heavy-ball tuning on a quadratic.
Exercise 1.3 ``nesterov_step(x, x_prev, grad_fn, lr, momentum)``: Nesterov's look-ahead step (eq. 1.2.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import optimizers as optim
from .. import theory
from ..tasks.landscapes import Quadratic, Rosenbrock
from .core import Exercise, checker


def _tensor_case(seed: int, n: int = 5) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, generator=g, dtype=torch.float64)
        return {
            "x": x,
            "x_prev": x + 0.3 * torch.randn(n, generator=g, dtype=torch.float64),
            "grad": torch.randn(n, generator=g, dtype=torch.float64),
            "lr": torch.tensor(0.05 + 0.1 * seed, dtype=torch.float64),
            "momentum": torch.tensor(0.55 + 0.1 * seed, dtype=torch.float64),
        }

    return make


HEAVY_BALL = Exercise(
    id="1.1",
    name="heavy_ball_step",
    reference=optim.polyak_step,
    cases=[_tensor_case(s) for s in range(4)],
    grad_wrt=("x", "x_prev", "lr", "momentum"),
    mistakes={
        "the momentum term points backwards: it is + momentum * (x - x_prev)": lambda x, x_prev, grad, lr, momentum: (
            x - lr * grad + momentum * (x_prev - x)
        ),
        "the gradient step goes uphill: subtract lr * grad": lambda x, x_prev, grad, lr, momentum: (
            x + lr * grad + momentum * (x - x_prev)
        ),
        "lr scales only the gradient, not the momentum term": lambda x, x_prev, grad, lr, momentum: (
            x - lr * (grad - momentum * (x - x_prev))
        ),
        "you returned the plain gradient step; add the momentum term": lambda x, x_prev, grad, lr, momentum: (
            x - lr * grad
        ),
    },
    hint="x_next = x - lr * grad + momentum * (x - x_prev)",
)


def _spectrum_case(mu: float, L: float) -> Callable[[], dict]:
    return lambda: {"mu": mu, "L": L}


POLYAK = Exercise(
    id="1.2",
    name="polyak_parameters",
    reference=theory.polyak_parameters,
    cases=[_spectrum_case(mu, L) for mu, L in [(1.0, 1.0), (0.01, 1.0), (0.5, 8.0), (0.003, 2.5)]],
    mistakes={
        "use sqrt(kappa), not kappa, in the momentum": lambda mu, L: (
            4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((L / mu - 1) / (L / mu + 1)) ** 2
        ),
        "the momentum is the rate squared: ((sqrt k - 1) / (sqrt k + 1))**2": lambda mu, L: (
            4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, theory.heavy_ball_rate(mu, L)
        ),
        "the step is 4 / (sqrt(L) + sqrt(mu))**2, not gradient descent's 2 / (L + mu)": lambda mu, L: (
            2 / (L + mu), theory.polyak_parameters(mu, L)[1]
        ),
    },
    hint="lr = 4 / (sqrt(L) + sqrt(mu))**2 and momentum = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))**2",
)


def _nesterov_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        case = _tensor_case(seed, n=2)()
        land = Rosenbrock() if seed % 2 else Quadratic(kappa=20.0)
        return {k: case[k] for k in ("x", "x_prev", "lr", "momentum")} | {
            "lr": case["lr"] * 0.01,
            "grad_fn": land.gradient,
        }

    return make


NESTEROV = Exercise(
    id="1.3",
    name="nesterov_step",
    reference=optim.nesterov_position_step,
    cases=[_nesterov_case(s) for s in range(4)],
    grad_wrt=("x", "x_prev", "lr", "momentum"),
    mistakes={
        "evaluate the gradient at the look-ahead point y = x + momentum * (x - x_prev), not at x": (
            lambda x, x_prev, grad_fn, lr, momentum: x - lr * grad_fn(x) + momentum * (x - x_prev)
        ),
        "the look-ahead goes forwards: y = x + momentum * (x - x_prev)": (
            lambda x, x_prev, grad_fn, lr, momentum: (lambda y: y - lr * grad_fn(y))(x + momentum * (x_prev - x))
        ),
        "take the gradient step from the look-ahead point y, not from x": (
            lambda x, x_prev, grad_fn, lr, momentum: x - lr * grad_fn(x + momentum * (x - x_prev))
        ),
    },
    hint="y = x + momentum * (x - x_prev); x_next = y - lr * grad_fn(y)",
)


heavy_ball_step = checker(HEAVY_BALL, 'values on 4 seeded cases and gradients through every input.')
polyak_parameters = checker(POLYAK, "Polyak's optimal step and momentum on 4 spectra, including kappa = 1.")
nesterov_step = checker(NESTEROV, 'the look-ahead step on a quadratic and on Rosenbrock, values and gradients.')
