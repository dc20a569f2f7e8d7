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


def _step_case(seed: int, D: int = 3) -> Callable[[], dict]:
    def make() -> dict:
        m = _mats(seed, D=D)
        return {"lam_next": m["lam_T"], "f_x": m["f_x"][0], "c_x": m["c_x"][0]}

    return make


COSTATE = Exercise(
    id="3.1",
    name="costate_step",
    reference=adjoint.costate_step,
    cases=[_step_case(s) for s in range(4)],
    grad_wrt=("lam_next", "f_x", "c_x"),
    mistakes={
        "the Jacobian needs a transpose: the costate is a row vector multiplying f_x from the left": (
            lambda lam_next, f_x, c_x: c_x + f_x @ lam_next
        ),
        "the stage cost's own gradient is missing": lambda lam_next, f_x, c_x: f_x.T @ lam_next,
        "the two terms add: the cost enters the Lagrangian with a plus sign": (
            lambda lam_next, f_x, c_x: c_x - f_x.T @ lam_next
        ),
    },
    hint="the costate recursion of the text (the discrete adjoint equation of Pontryagin's principle) has two "
         "terms: the stage cost's gradient and the propagated costate",
    hidden=lambda s: [_step_case(s + k, (2, 5, 1)[k]) for k in range(3)],
    library=(adjoint.costate_step,),
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
        "off by one: the control gradient of step t uses the costate after step t, so take it before updating "
        "the costate": (
            lambda f_x, f_u, c_x, c_u, lam_T: _sweep_wrong(f_x, f_u, c_x, c_u, lam_T, late=True)
        ),
        "the sweep runs backwards in time, from the last step down to the first": (
            lambda f_x, f_u, c_x, c_u, lam_T: adjoint.adjoint_sweep(f_x.flip(0), f_u.flip(0), c_x.flip(0), c_u.flip(0), lam_T).flip(0)
        ),
    },
    hint="start from the terminal costate and walk backwards in time; each step needs the control gradient (its "
         "formula is in the text beside the costate recursion) and then your costate step",
    hidden=lambda s: [(lambda s=s + k, k=k: _mats(s, D=(2, 4, 3)[k], M=(1, 3, 2)[k], T=2 + (s % 5))) for k in range(3)],
    library=(adjoint.adjoint_sweep, adjoint.adjoint_gradient),
)


def _ode_case(seed: int, dim: int = 3) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(dim, dim, generator=g, dtype=torch.float64)
        return {"F": lambda x: torch.tanh(W @ x) - 0.5 * x, "x": torch.randn(dim, generator=g, dtype=torch.float64),
                "h": 0.1 + 0.2 * (seed % 4)}

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
        "the four slopes are not weighted equally: the two middle ones count twice": (
            lambda F, x, h: _rk_wrong(F, x, h, "equal")
        ),
        "the second and third slopes are evaluated half a step ahead, not a whole step": (
            lambda F, x, h: _rk_wrong(F, x, h, "midpoint_full")
        ),
    },
    hint="the classical Runge-Kutta scheme of the text: four slopes, at the start, twice at the midpoint and at "
         "the end, combined with Simpson's weights",
    hidden=lambda s: [_ode_case(s + k, (2, 5, 1)[k]) for k in range(3)],
    library=(adjoint.rk4_step, adjoint.odeint_rk4),
)


costate_step = checker(COSTATE, '4 random (lambda, f_x, c_x), values and gradients.')
adjoint_sweep = checker(SWEEP, '4 random linearised trajectories of 3 to 6 steps.')
rk4_step = checker(RK4, '4 nonlinear vector fields and step sizes.')
