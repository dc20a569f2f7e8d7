"""Adjoints: gradients of a trajectory's cost by a backward costate recursion, forward sensitivities, and the
continuous-time adjoint of an ODE.

Discrete-time optimal control (Crouther 2023, sec. 1.3, eqs. 1.3.3-1.3.23):

    J(U) = c_T(x_T) + sum_{t<T} c(x_t, u_t),     x_{t+1} = f(x_t, u_t).

With the Lagrangian ``L = J + sum_t lambda_{t+1}^T (f(x_t, u_t) - x_{t+1})``, stationarity in ``x`` gives the
costate (adjoint) recursion, run backwards:

    lambda_T = grad c_T(x_T),    lambda_t = grad_x c(x_t, u_t) + f_x(x_t, u_t)^T lambda_{t+1},

and the gradient ``dJ/du_t = grad_u c(x_t, u_t) + f_u(x_t, u_t)^T lambda_{t+1}``. This *is* reverse-mode
differentiation (Tedrake 2004): one backward sweep whatever the number of controls. Forward sensitivities
``S_t = dx_t/dU`` (eqs. 1.3.9-1.3.12) carry one column per control instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jacrev

Dynamics = Callable[[Tensor, Tensor], Tensor]
StageCost = Callable[[Tensor, Tensor], Tensor]
TerminalCost = Callable[[Tensor], Tensor]


@dataclass
class ControlProblem:
    """``x_{t+1} = dynamics(x_t, u_t)``; cost ``terminal(x_T) + sum_t stage(x_t, u_t)``; controls ``U`` ``[T, M]``."""

    dynamics: Dynamics
    stage: StageCost
    terminal: TerminalCost
    x0: Tensor

    def rollout(self, U: Tensor) -> Tensor:
        """States ``[T + 1, D]`` from ``x0`` under controls ``U`` ``[T, M]``."""
        if U.dim() != 2:
            raise ValueError(f"U must have shape [T, M]; got {tuple(U.shape)}")
        xs = [self.x0]
        for u in U:
            xs.append(self.dynamics(xs[-1], u))
        return torch.stack(xs)

    def cost(self, U: Tensor) -> Tensor:
        X = self.rollout(U)
        return self.terminal(X[-1]) + sum(self.stage(x, u) for x, u in zip(X[:-1], U))


def pendulum(dt: float = 0.1, gravity: float = 9.81, length: float = 1.0, damping: float = 0.1,
             control_cost: float = 0.01, T: int = 20) -> ControlProblem:
    """Swing a damped pendulum (state: angle, angular velocity; control: torque) towards upright (angle pi) in
    ``T`` semi-implicit Euler steps; quadratic costs on the distance to upright and on the torque."""
    target = torch.tensor([torch.pi, 0.0], dtype=torch.float64)

    def dynamics(x: Tensor, u: Tensor) -> Tensor:
        omega = x[1] + dt * (-gravity / length * torch.sin(x[0]) - damping * x[1] + u[0])
        return torch.stack([x[0] + dt * omega, omega])

    def stage(x: Tensor, u: Tensor) -> Tensor:
        return 0.1 * ((x - target) ** 2).sum() * dt + control_cost * (u**2).sum()

    def terminal(x: Tensor) -> Tensor:
        return ((x - target) ** 2).sum()

    problem = ControlProblem(dynamics, stage, terminal, torch.tensor([0.0, 0.0], dtype=torch.float64))
    problem.T = T  # type: ignore[attr-defined]
    return problem


def linear_quadratic(D: int, M: int, seed: int = 0) -> ControlProblem:
    """A random stable linear system ``x <- A x + B u`` with quadratic costs: the scaling benchmark."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(D, D, generator=g, dtype=torch.float64)
    A = 0.9 * A / torch.linalg.matrix_norm(A, ord=2)
    B = torch.randn(D, M, generator=g, dtype=torch.float64) / M**0.5
    x0 = torch.randn(D, generator=g, dtype=torch.float64)
    return ControlProblem(lambda x, u: A @ x + B @ u, lambda x, u: (x**2).sum() + 0.1 * (u**2).sum(),
                          lambda x: (x**2).sum(), x0)


def _partials(problem: ControlProblem, x: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    f_x, f_u = jacrev(problem.dynamics, argnums=(0, 1))(x, u)
    c_x, c_u = jacrev(problem.stage, argnums=(0, 1))(x, u)
    return f_x, f_u, c_x, c_u


def costate_step(lam_next: Tensor, f_x: Tensor, c_x: Tensor) -> Tensor:
    """``lambda_t = grad_x c_t + f_x^T lambda_{t+1}`` (Crouther 2023, eq. 1.3.19, backward recursion; the thesis's
    ``lambda_{t-1}`` is our ``lambda_t``, and its terminal condition eq. 1.3.21 is our ``lambda_T = grad c_T``)."""
    return c_x + f_x.T @ lam_next


def control_gradient(lam_next: Tensor, f_u: Tensor, c_u: Tensor) -> Tensor:
    """``dJ/du_t = grad_u c_t + f_u^T lambda_{t+1}`` (Crouther 2023, eq. 1.3.23; the printed eq. 1.3.22 repeats the
    terminal condition instead)."""
    return c_u + f_u.T @ lam_next


def adjoint_sweep(f_x: Tensor, f_u: Tensor, c_x: Tensor, c_u: Tensor, lam_T: Tensor) -> Tensor:
    """The backward costate sweep with explicit Jacobians: ``f_x`` ``[T, D, D]``, ``f_u`` ``[T, D, M]``, stage-cost
    gradients ``c_x`` ``[T, D]``, ``c_u`` ``[T, M]`` and ``lam_T = grad c_T(x_T)``; returns dJ/dU ``[T, M]``.

    Step ``t`` uses ``lambda_{t+1}`` (the costate *after* it) for both the control gradient and the new costate."""
    lam = lam_T
    grads = torch.empty_like(c_u)
    for t in range(c_u.shape[0] - 1, -1, -1):
        grads[t] = control_gradient(lam, f_u[t], c_u[t])
        lam = costate_step(lam, f_x[t], c_x[t])
    return grads


def adjoint_gradient(problem: ControlProblem, U: Tensor, *, jacobians: bool = False) -> Tensor:
    """dJ/dU ``[T, M]`` by one forward rollout and one backward costate sweep.

    By default each step uses vector-Jacobian products (``f_x^T lambda`` and ``f_u^T lambda`` without forming a
    Jacobian), which is what makes the adjoint cheap; ``jacobians=True`` forms ``f_x``, ``f_u`` explicitly and uses
    :func:`costate_step` and :func:`control_gradient` as written in the lesson.
    """
    with torch.no_grad():
        X = problem.rollout(U)
    lam = jacrev(problem.terminal)(X[-1])
    if jacobians:
        parts = [_partials(problem, X[t], U[t]) for t in range(U.shape[0])]
        return adjoint_sweep(*(torch.stack(p) for p in zip(*parts)), lam)
    grads = torch.empty_like(U)
    for t in range(U.shape[0] - 1, -1, -1):
        _, vjp_f = torch.func.vjp(problem.dynamics, X[t], U[t])
        _, vjp_c = torch.func.vjp(problem.stage, X[t], U[t])
        fx_lam, fu_lam = vjp_f(lam)
        c_x, c_u = vjp_c(torch.ones((), dtype=lam.dtype))
        grads[t] = c_u + fu_lam
        lam = c_x + fx_lam
    return grads


def forward_sensitivity_gradient(problem: ControlProblem, U: Tensor) -> Tensor:
    """dJ/dU ``[T, M]`` by forward sensitivities ``S_{t+1} = f_x S_t + f_u E_t`` with ``S_t = dx_t/dU``
    (``[D, T*M]``): one column per control, so the cost grows with the number of controls (eqs. 1.3.9-1.3.12)."""
    T, M = U.shape
    with torch.no_grad():
        X = problem.rollout(U)
    S = torch.zeros(X.shape[1], T * M, dtype=U.dtype)
    grad = torch.zeros(T * M, dtype=U.dtype)
    for t in range(T):
        f_x, f_u, c_x, c_u = _partials(problem, X[t], U[t])
        grad += c_x @ S
        grad[t * M : (t + 1) * M] += c_u
        S = f_x @ S
        S[:, t * M : (t + 1) * M] += f_u
    grad += jacrev(problem.terminal)(X[-1]) @ S
    return grad.reshape(T, M)


def autograd_gradient(problem: ControlProblem, U: Tensor) -> Tensor:
    """dJ/dU by ``torch.autograd`` through the rollout (reverse mode, for comparison)."""
    leaf = U.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(problem.cost(leaf), leaf)
    return g


# --- Continuous time -------------------------------------------------------------------------------------------

ODE = Callable[[Tensor, Tensor], Tensor]  # F(x, theta) -> dx/dt


def rk4_step(F: Callable[[Tensor], Tensor], x: Tensor, h: float) -> Tensor:
    """One classical Runge-Kutta step of ``dx/dt = F(x)`` with step ``h``."""
    k1 = F(x)
    k2 = F(x + h / 2 * k1)
    k3 = F(x + h / 2 * k2)
    k4 = F(x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def odeint_rk4(F: ODE, x0: Tensor, theta: Tensor, t1: float, steps: int) -> Tensor:
    """Solve ``dx/dt = F(x, theta)`` from 0 to ``t1`` with ``steps`` fixed RK4 steps; returns ``x(t1)``."""
    h = t1 / steps
    x = x0
    for _ in range(steps):
        x = rk4_step(lambda y: F(y, theta), x, h)
    return x


def ode_adjoint_gradient(F: ODE, x0: Tensor, theta: Tensor, t1: float, steps: int,
                         loss: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """``(dL/dx0, dL/dtheta)`` for ``L = loss(x(t1))`` by the continuous adjoint (Pontryagin; Chen et al. 2018):
    solve ``da/dt = -a^T dF/dx`` and ``dg/dt = -a^T dF/dtheta`` backwards from ``a(t1) = dL/dx(t1)``, together with
    ``x`` itself, by RK4. It equals backprop through the solver only up to the discretisation error, O(h^4)."""
    with torch.no_grad():
        x1 = odeint_rk4(F, x0, theta, t1, steps)
    a1 = jacrev(loss)(x1)
    D = x0.numel()

    def augmented(state: Tensor) -> Tensor:
        x, a = state[:D], state[D : 2 * D]
        _, vjp_fn = torch.func.vjp(lambda xx, th: F(xx, th), x, theta)
        ax, ath = vjp_fn(a)
        return torch.cat([-F(x, theta), ax, ath])  # integrating in reversed time s = t1 - t

    state = torch.cat([x1, a1, torch.zeros_like(theta)])
    h = t1 / steps
    for _ in range(steps):
        state = rk4_step(augmented, state, h)
    return state[D : 2 * D], state[2 * D :]
