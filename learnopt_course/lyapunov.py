"""Lyapunov exponents of an optimizer (Lorraine 2023, ch. 5): how fast nearby runs separate.

An optimizer step is a map ``F`` (``w_{t+1} = F(w_t)``). Its k-step Jacobian ``J_k(w_0) = dF(w_{k-1}) ... dF(w_0)``
says how a small change of the start grows over ``k`` steps; the maximal k-step Lyapunov exponent is
``lambda_k(w_0) = (1/k) log sigma_max(J_k(w_0))``. Positive exponents mark starts from which nearby runs diverge
(separatrices, saddles, bifurcations: where Ridge Rider branches), negative ones a basin. ``J_k`` is never formed:
products ``J_k u`` go forward through the k steps by forward-mode differentiation (JVP), ``J_k^T v`` backward (VJP),
and ``sigma_max`` comes from power iteration on ``J_k^T J_k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp, vjp

from .optimizers.base import Optimizer

Step = Callable[[Tensor], Tensor]


def optimizer_step(loss: Callable[[Tensor], Tensor], optimizer: str | Optimizer = "sgd",
                   hp: dict | None = None, gradient: Callable[[Tensor], Tensor] | None = None) -> Step:
    """The map ``F`` of one step of the engine's functional optimizer ``optimizer`` on ``loss`` (``w -> w'``), with the
    gradient from ``torch.func.grad``, so that ``F`` composes with ``torch.func.jvp``/``vjp`` (Lyapunov exponents).
    Stateless optimizers only (SGD: ``F(w) = w - lr grad loss(w)``): a momentum method's map acts on ``(w, buffers)``,
    whose state this map would drop. ``gradient``: the loss's gradient in closed form, when known (nesting
    ``torch.func.grad`` inside the JVPs and VJPs of an exponent costs several times more)."""
    from .optimizers import get

    opt = get(optimizer)
    gradient = torch.func.grad(loss) if gradient is None else gradient

    def step(w: Tensor) -> Tensor:
        return opt.step(w, gradient(w), opt.init(w), hp)[0]

    return step


def unrolled(step: Step, k: int) -> Step:
    """``F^k``: ``k`` applications of ``step``."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive number of steps; got {k!r}")

    def run(w: Tensor) -> Tensor:
        for _ in range(k):
            w = step(w)
        return w

    return run


def k_step_jacobian_product(step: Step, w0: Tensor, k: int, u: Tensor) -> Tensor:
    """``J_k(w0) u`` by forward-mode differentiation through ``k`` steps."""
    return jvp(unrolled(step, k), (w0,), (u,))[1]


def _power_iteration(step: Step, w0: Tensor, k: int, iterations: int, generator: torch.Generator | None,
                     tol: float | None) -> tuple[Tensor, float]:
    """Power iteration on ``J_k(w0)^T J_k(w0)`` (one JVP and one VJP per iteration): the unit direction ``J_k``
    stretches most and ``sigma_max``, the stretch of the last direction it was applied to. With ``tol`` it stops
    once ``sigma`` changes by at most ``tol`` (relative, or absolute below 1)."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1; got {iterations!r}")
    run = unrolled(step, k)
    _, pullback = vjp(run, w0)
    u = torch.randn(w0.shape, generator=generator, dtype=w0.dtype).to(w0.device)
    u = u / u.norm()
    sigma = 0.0
    for _ in range(iterations):
        ju = jvp(run, (w0,), (u,))[1]
        new_sigma = float(ju.norm())
        (jtju,) = pullback(ju)
        norm = jtju.norm()
        if float(norm) == 0.0:
            return u.detach(), 0.0
        u = jtju / norm
        converged = tol is not None and abs(new_sigma - sigma) <= tol * max(new_sigma, 1.0)
        sigma = new_sigma
        if converged:
            break
    return u.detach(), sigma


def max_lyapunov(step: Step, w0: Tensor, k: int, iterations: int = 50, generator: torch.Generator | None = None,
                 tol: float = 1e-10) -> float:
    """``(1/k) log sigma_max(J_k(w0))`` by power iteration on ``J_k^T J_k``."""
    sigma = _power_iteration(step, w0, k, iterations, generator, tol)[1]
    return math.log(sigma) / k if sigma > 0 else -math.inf


def exact_max_lyapunov(step: Step, w0: Tensor, k: int) -> float:
    """``(1/k) log sigma_max(J_k(w0))`` with ``J_k`` formed (forward mode, ``n`` JVPs) and its largest singular value
    computed exactly: for small ``n``, and to check :func:`max_lyapunov`'s power iteration."""
    J = torch.func.jacfwd(unrolled(step, k))(w0).reshape(w0.numel(), w0.numel())
    sigma = float(torch.linalg.matrix_norm(J, ord=2))
    return math.log(sigma) / k if sigma > 0 else -math.inf


def lyapunov_objective(step: Step, w0: Tensor, k: int, u: Tensor) -> Tensor:
    """``(1/k) log ||J_k(w0) u||`` for a unit direction ``u``: differentiable in ``w0`` (the objective of Lorraine 2023,
    sec. 5.4, with ``u`` the top right singular vector, it is the maximal exponent)."""
    return torch.log(k_step_jacobian_product(step, w0, k, u).norm()) / k


def top_direction(step: Step, w0: Tensor, k: int, iterations: int = 30,
                  generator: torch.Generator | None = None) -> Tensor:
    """The unit ``u`` that ``J_k(w0)`` stretches most (``iterations`` steps of power iteration on ``J_k^T J_k``)."""
    return _power_iteration(step, w0, k, iterations, generator, tol=None)[0]


def maximize(step: Step, w0: Tensor, k: int, steps: int, lr: float, generator: torch.Generator | None = None,
             iterations: int = 10) -> tuple[Tensor, list[float]]:
    """Gradient ascent on the maximal k-step exponent from ``w0`` (Lorraine 2023, sec. 5.4, step 1 of generalized
    Ridge Rider): each step re-estimates the top direction, then moves ``w`` along the gradient of
    :func:`lyapunov_objective` (through the ``k`` unrolled optimizer steps; ``iterations`` of power iteration for the
    direction). Returns the point and the exponents."""
    from .meta.engine import unroll

    def minus_exponent(w: Tensor, t: int) -> Tensor:  # the top direction is re-estimated at every step
        u = top_direction(step, w.detach(), k, iterations, generator=generator)
        return -lyapunov_objective(step, w, k, u)

    run = unroll(minus_exponent, "sgd", w0.detach().clone(), steps, hp={"lr": lr}, last_loss=False)
    return run.params.detach(), [-float(v) for v in run.losses]


def branch_directions(step: Step, w: Tensor, top: int = 1) -> Tensor:
    """The ``top`` leading eigenvectors of the one-step Jacobian ``dF(w)`` (by modulus; real parts of complex ones,
    normalised): where nearby runs separate fastest (Lorraine 2023, sec. 5.4, step 2)."""
    J = torch.func.jacfwd(step)(w)
    values, vectors = torch.linalg.eig(J)
    order = torch.argsort(values.abs(), descending=True)[:top]
    dirs = vectors[:, order].real.T
    return dirs / dirs.norm(dim=1, keepdim=True).clamp_min(1e-30)


def branch(step: Step, w: Tensor, eps: float, steps: int, top: int = 1,
           run: Callable[[Tensor], Tensor] | None = None) -> list[Tensor]:
    """Alg. 13's branching (Lorraine 2023): run the optimizer for ``steps`` steps from ``w +- eps e_i`` for the
    ``top`` leading directions of :func:`branch_directions`; returns the end points (2 per direction). ``run`` maps a
    start to its end point when the optimizer has a faster way than ``steps`` applications of ``step`` (e.g. the
    engine's :func:`~learnopt_course.meta.engine.minimize`)."""
    run = unrolled(step, steps) if run is None else run
    with torch.no_grad():
        return [run(w + sign * eps * d) for d in branch_directions(step, w, top) for sign in (1.0, -1.0)]


def ridge_rider(loss: Callable[[Tensor], Tensor], theta: Tensor, lr: float, steps: int,
                finish: int = 200) -> list[Tensor]:
    """Ridge Rider (Parker-Holder et al. 2020) from a saddle ``theta``: for every Hessian eigenvector with a negative
    eigenvalue and both signs, follow the ridge (``theta <- theta - lr e``, then the new Hessian's eigenvector most
    aligned with ``e``) while its eigenvalue stays negative, then ``finish`` steps of gradient descent (the engine's
    :func:`~learnopt_course.meta.engine.minimize`). Hessians from
    Hessian-vector products (lesson 10's :func:`learnopt_course.meta.ift.hvp`). Returns the end of every branch."""
    from .meta.engine import minimize
    from .meta.ift import hvp

    def hessian(t: Tensor) -> Tensor:
        return torch.stack([hvp(loss, t, e) for e in torch.eye(t.numel(), dtype=t.dtype)])

    values, vectors = torch.linalg.eigh(hessian(theta))
    ends = []
    for i in (j for j in range(len(values)) if values[j] < 0):
        for sign in (1.0, -1.0):
            t, e = theta.detach().clone(), sign * vectors[:, i]
            for _ in range(steps):
                t = t + lr * e  # along the ridge, downhill: a negative-curvature direction
                vals, vecs = torch.linalg.eigh(hessian(t))
                j = int((vecs.T @ e).abs().argmax())
                e = vecs[:, j] * torch.sign(vecs[:, j] @ e)
                if vals[j] >= 0:
                    break
            ends.append(minimize(loss, t, "sgd", {"lr": lr}, finish).final.detach())
    return ends
