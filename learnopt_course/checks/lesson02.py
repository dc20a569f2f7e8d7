"""Checkers for lesson 02, unrolling and truncated backpropagation through time.

Exercise 2.1 ``unrolled_final_loss(lr, A, w0, steps)``: T gradient-descent steps on ``1/2 w^T A w``, then ``f(w_T)``.
Exercise 2.2 ``lr_sensitivity(A, w0, lr, steps)``: the forward sensitivity ``dw_T/dlr`` by its recursion.
Exercise 2.3 ``es_gradient(f, theta, sigma, eps)``: the antithetic evolution-strategies gradient estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..meta import engine, gradients, unroll
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


def _case(seed: int, steps: int, dim: int = 4) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        M = torch.randn(dim, dim, generator=g, dtype=torch.float64)
        return {
            "A": M @ M.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64),
            "w0": torch.randn(dim, generator=g, dtype=torch.float64),
            "lr": torch.tensor(0.05 + 0.05 * (seed % 4), dtype=torch.float64),
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
        "your steps go uphill: gradient descent moves against the gradient": (
            lambda lr, A, w0, steps: _gd(lr, A, w0, steps, sign=1.0)
        ),
    },
    hint="run plain gradient descent on the quadratic of the text for exactly `steps` steps, then evaluate the "
         "loss at the last iterate; keep everything a tensor so that lr's derivative flows",
    hidden=lambda s: [_case(s + k, 2 + (s + k) % 9, (3, 6, 2)[k]) for k in range(3)],
    library=(unroll.unrolled_loss, engine.unroll),
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
        "the sign of the direct term is flipped: a larger lr moves w further against the gradient (Crouther's "
        "eq. 1.2.13 prints the wrong sign; the text corrects it)": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, sign=1.0)
        ),
        "the Jacobian of one step must contain the learning rate (Crouther's eq. 1.2.14 drops it)": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, with_lr=False)
        ),
        "use the gradient at w_t, from before the update, not the one after it": (
            lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, late=True)
        ),
    },
    hint="differentiate one step of the update with respect to lr: the recursion for the sensitivity has a "
         "Jacobian term and a direct term (Crouther 2023, eq. 1.2.13, as corrected in the text); it starts at zero",
    hidden=lambda s: [_case(s + k, 2 + (s + k) % 9, (3, 6, 2)[k]) for k in range(3)],
    library=(unroll.quadratic_lr_sensitivity, unroll.quadratic_lr_hypergradients),
)


def _es_case(seed: int, dim: int = 3) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        c = torch.randn(dim, generator=g, dtype=torch.float64)
        return {
            "f": lambda x: ((x - c) ** 2).sum(-1) + torch.sin(3 * x).sum(-1),
            "theta": torch.randn(dim, generator=g, dtype=torch.float64),
            "sigma": 0.1 * (seed % 4 + 1),
            "eps": torch.randn(6 + seed % 5, dim, generator=g, dtype=torch.float64),
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
        "the antithetic difference spans two sigmas, not one: check your normalisation": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, factor=1.0)
        ),
        "compare the plus perturbation with the minus one (antithetic pairs), not with the unperturbed point": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, one_sided=True, factor=1.0)
        ),
        "the sign is flipped: the estimate is of the gradient itself": (
            lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, sign=-1.0)
        ),
    },
    hint="see the antithetic estimator in the text (Salimans et al. 2017): one term per row of eps, each a "
         "direction weighted by a finite difference, averaged over the rows",
    hidden=lambda s: [_es_case(s + k, (2, 5, 1)[k]) for k in range(3)],
    library=(unroll.es_gradient_from_noise, unroll.antithetic_es_gradient, gradients.antithetic_estimate),
)


unrolled_final_loss = checker(FINAL_LOSS, 'values for 1 to 12 steps and the derivative with respect to lr.')
lr_sensitivity = checker(SENSITIVITY, 'the forward sensitivity dw_T/dlr on 4 quadratics.')
es_gradient = checker(ES, 'the antithetic ES estimate for given noise on 4 smooth test functions.')
