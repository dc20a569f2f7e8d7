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


def _tensor_case(seed: int, n: int = 5, shape: tuple[int, ...] | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        size = shape or (n,)
        x = torch.randn(size, generator=g, dtype=torch.float64)
        return {
            "x": x,
            "x_prev": x + 0.3 * torch.randn(size, generator=g, dtype=torch.float64),
            "grad": torch.randn(size, generator=g, dtype=torch.float64),
            "lr": torch.tensor(0.05 + 0.1 * (seed % 4), dtype=torch.float64),
            "momentum": torch.tensor(0.55 + 0.1 * (seed % 4), dtype=torch.float64),
        }

    return make


HEAVY_BALL = Exercise(
    id="1.1",
    name="heavy_ball_step",
    reference=optim.polyak_step,
    cases=[_tensor_case(s) for s in range(4)],
    grad_wrt=("x", "x_prev", "lr", "momentum"),
    mistakes={
        "the momentum term points backwards: it should carry on in the direction of the last move": (
            lambda x, x_prev, grad, lr, momentum: x - lr * grad + momentum * (x_prev - x)
        ),
        "the gradient step goes uphill: a descent step moves against the gradient": (
            lambda x, x_prev, grad, lr, momentum: x + lr * grad + momentum * (x - x_prev)
        ),
        "the learning rate scales only the gradient, not the momentum term": lambda x, x_prev, grad, lr, momentum: (
            x - lr * (grad - momentum * (x - x_prev))
        ),
        "you returned the plain gradient step; the momentum term is missing": lambda x, x_prev, grad, lr, momentum: (
            x - lr * grad
        ),
    },
    hint="compare each of the three terms with Crouther (2023) eq. 1.2.2 in the text above",
    hidden=lambda s: [_tensor_case(s + k, shape=((3, 4), (7,), (2, 2, 2))[k]) for k in range(3)],
    library=(optim.polyak_step, optim.heavy_ball.rule),
)


def _spectrum_case(mu: float, L: float) -> Callable[[], dict]:
    return lambda: {"mu": mu, "L": L}


def _spectrum(seed: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    L = float(10 ** (2 * torch.rand((), generator=g) - 1))
    return L * float(10 ** (-3 * torch.rand((), generator=g))), L


POLYAK = Exercise(
    id="1.2",
    name="polyak_parameters",
    reference=theory.polyak_parameters,
    cases=[_spectrum_case(mu, L) for mu, L in [(1.0, 1.0), (0.01, 1.0), (0.5, 8.0), (0.003, 2.5)]],
    mistakes={
        "the momentum depends on the square root of the condition number, not on the condition number itself": (
            lambda mu, L: (4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((L / mu - 1) / (L / mu + 1)) ** 2)
        ),
        "you returned the convergence rate as the momentum; the momentum is its square (the written question "
        "below asks why)": lambda mu, L: (4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, theory.heavy_ball_rate(mu, L)),
        "that is gradient descent's optimal step; Polyak's step uses the square roots of the extreme eigenvalues": (
            lambda mu, L: (2 / (L + mu), theory.polyak_parameters(mu, L)[1])
        ),
    },
    hint="both parameters are in the text's section on Polyak's tuning (Crouther 2023, sec. 1.2.2, with the rate "
         "of eq. 1.2.3); check them at a condition number of one, where the momentum must vanish",
    hidden=lambda s: [_spectrum_case(*_spectrum(s + k)) for k in range(3)],
    library=(theory.polyak_parameters,),
)


def _nesterov_case(seed: int, shape: tuple[int, ...] = (2,)) -> Callable[[], dict]:
    def make() -> dict:
        case = _tensor_case(seed, shape=shape)()
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
        "you evaluated the gradient at x; Nesterov evaluates it at the look-ahead point": (
            lambda x, x_prev, grad_fn, lr, momentum: x - lr * grad_fn(x) + momentum * (x - x_prev)
        ),
        "the look-ahead goes backwards: it should continue the last move": (
            lambda x, x_prev, grad_fn, lr, momentum: (lambda y: y - lr * grad_fn(y))(x + momentum * (x_prev - x))
        ),
        "the gradient step should start from the look-ahead point, not from x": (
            lambda x, x_prev, grad_fn, lr, momentum: x - lr * grad_fn(x + momentum * (x - x_prev))
        ),
    },
    hint="two stages, as in Crouther (2023) eq. 1.2.4 above: first the look-ahead point, then a gradient step from "
         "it",
    hidden=lambda s: [_nesterov_case(s + k, ((3, 2), (2,), (2, 2, 2))[k]) for k in range(3)],
    library=(optim.nesterov_position_step, optim.nesterov.rule),
)


heavy_ball_step = checker(HEAVY_BALL, 'values on 4 seeded cases and gradients through every input.')
polyak_parameters = checker(POLYAK, "Polyak's optimal step and momentum on 4 spectra, including kappa = 1.")
nesterov_step = checker(NESTEROV, 'the look-ahead step on a quadratic and on Rosenbrock, values and gradients.')
