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

Step = Callable[[Tensor], Tensor]


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


def max_lyapunov(step: Step, w0: Tensor, k: int, iterations: int = 50, generator: torch.Generator | None = None,
                 tol: float = 1e-10) -> float:
    """``(1/k) log sigma_max(J_k(w0))`` by power iteration on ``J_k^T J_k`` (one JVP and one VJP per iteration)."""
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
            return -math.inf
        u = jtju / norm
        if abs(new_sigma - sigma) <= tol * max(new_sigma, 1.0):
            sigma = new_sigma
            break
        sigma = new_sigma
    return math.log(sigma) / k if sigma > 0 else -math.inf
