"""Checkers for lesson 03, adjoints.

Exercise 3.1 ``costate_step(lam_next, f_x, c_x)``: one step of the backward costate recursion.
Exercise 3.2 ``adjoint_sweep(f_x, f_u, c_x, c_u, lam_T)``: the whole backward sweep, returning dJ/dU.
Exercise 3.3 ``rk4_step(F, x, h)``: one classical Runge-Kutta step (the solver of the continuous adjoint).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..meta import adjoint
from .core import Exercise, checker


def _mats(seed: int, D: int = 3, M: int = 2, T: int = 5) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    return {"f_x": r(T, D, D), "f_u": r(T, D, M), "c_x": r(T, D), "c_u": r(T, M), "lam_T": r(D)}


def _step_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        m = _mats(seed)
        return {"lam_next": m["lam_T"], "f_x": m["f_x"][0], "c_x": m["c_x"][0]}

    return make


COSTATE = Exercise(
    id="3.1",
    name="costate_step",
    reference=adjoint.costate_step,
    cases=[_step_case(s) for s in range(4)],
    grad_wrt=("lam_next", "f_x", "c_x"),
    mistakes={
        "transpose the Jacobian: lambda_t = c_x + f_x.T @ lambda_{t+1} (a row vector times f_x)": (
            lambda lam_next, f_x, c_x: c_x + f_x @ lam_next
        ),
        "add the stage cost's own gradient c_x": lambda lam_next, f_x, c_x: f_x.T @ lam_next,
        "the two terms add: the cost enters the Lagrangian with a plus sign": (
            lambda lam_next, f_x, c_x: c_x - f_x.T @ lam_next
        ),
    },
    hint="lambda_t = c_x + f_x.T @ lam_next",
)


def _sweep_wrong(f_x, f_u, c_x, c_u, lam_T, late=False, transpose=True):
    lam = lam_T
    grads = torch.empty_like(c_u)
    for t in range(c_u.shape[0] - 1, -1, -1):
        if late:
            lam = adjoint.costate_step(lam, f_x[t], c_x[t])
        fu = f_u[t].T if transpose else f_u[t].T.flip(0)
        grads[t] = c_u[t] + fu @ lam
        if not late:
            lam = adjoint.costate_step(lam, f_x[t], c_x[t])
    return grads


SWEEP = Exercise(
    id="3.2",
    name="adjoint_sweep",
    reference=adjoint.adjoint_sweep,
    cases=[(lambda s=s: _mats(s, T=3 + s)) for s in range(4)],
    grad_wrt=("f_x", "f_u", "c_x", "c_u", "lam_T"),
    mistakes={
        "off by one: dJ/du_t uses lambda_{t+1}, so take the control gradient before updating lambda to lambda_t": (
            lambda f_x, f_u, c_x, c_u, lam_T: _sweep_wrong(f_x, f_u, c_x, c_u, lam_T, late=True)
        ),
        "the sweep runs backwards in time, from t = T-1 down to 0": (
            lambda f_x, f_u, c_x, c_u, lam_T: adjoint.adjoint_sweep(f_x.flip(0), f_u.flip(0), c_x.flip(0), c_u.flip(0), lam_T).flip(0)
        ),
    },
    hint="lam = lam_T; for t from T-1 down to 0: grads[t] = c_u[t] + f_u[t].T @ lam; then lam = c_x[t] + f_x[t].T @ lam",
)


def _ode_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(3, 3, generator=g, dtype=torch.float64)
        return {"F": lambda x: torch.tanh(W @ x) - 0.5 * x, "x": torch.randn(3, generator=g, dtype=torch.float64),
                "h": 0.1 + 0.2 * seed}

    return make


def _rk_wrong(F, x, h, kind):
    if kind == "euler":
        return x + h * F(x)
    k1 = F(x)
    k2 = F(x + h / 2 * k1)
    k3 = F(x + h / 2 * k2)
    k4 = F(x + h * k3)
    if kind == "equal":
        return x + h / 4 * (k1 + k2 + k3 + k4)
    if kind == "midpoint_full":
        k2 = F(x + h * k1)
        k3 = F(x + h * k2)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    raise ValueError(kind)


RK4 = Exercise(
    id="3.3",
    name="rk4_step",
    reference=adjoint.rk4_step,
    cases=[_ode_case(s) for s in range(4)],
    grad_wrt=("x",),
    mistakes={
        "that is an Euler step; RK4 averages four slopes": lambda F, x, h: _rk_wrong(F, x, h, "euler"),
        "the weights are 1/6, 2/6, 2/6, 1/6": lambda F, x, h: _rk_wrong(F, x, h, "equal"),
        "k2 and k3 are evaluated half a step ahead: x + h/2 * k": lambda F, x, h: _rk_wrong(F, x, h, "midpoint_full"),
    },
    hint="k1 = F(x); k2 = F(x + h/2 k1); k3 = F(x + h/2 k2); k4 = F(x + h k3); x + h/6 (k1 + 2 k2 + 2 k3 + k4)",
)


costate_step = checker(COSTATE, '4 random (lambda, f_x, c_x), values and gradients.')
adjoint_sweep = checker(SWEEP, '4 random linearised trajectories of 3 to 6 steps.')
rk4_step = checker(RK4, '4 nonlinear vector fields and step sizes.')
