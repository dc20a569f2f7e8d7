"""Checkers for lesson 10, implicit-function-theorem hypergradients.

Exercise 10.1 ``hvp(loss_fn, w, v)``: the Hessian-vector product ``H v`` by double backward (Pearlmutter 1994).
Exercise 10.2 ``neumann(hvp_fn, v, K, alpha)``: ``alpha sum_{j<K} (I - alpha H)^j v`` (Lorraine 2023, Alg. 6).
Exercise 10.3 ``assemble_hypergradient(direct, u, flat_grad, hyper)``: ``direct - u^T M`` (Lorraine 2023, Alg. 5).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..meta import ift
from .core import Exercise, checker


def _loss(c: torch.Tensor, A: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda w: 0.5 * w @ A @ w + (torch.cos(w * c) ** 2).sum() + 0.25 * (w**4).sum()


def _hvp_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        n = 3 + seed
        M = torch.randn(n, n, generator=g, dtype=torch.float64)
        return {"loss_fn": _loss(torch.randn(n, generator=g, dtype=torch.float64), M @ M.T / n),
                "w": torch.randn(n, generator=g, dtype=torch.float64),
                "v": torch.randn(n, generator=g, dtype=torch.float64)}

    return make


def _gradient(loss_fn, w):
    w = w.detach().requires_grad_(True)
    return torch.autograd.grad(loss_fn(w), w)[0]


def _hessian(loss_fn, w):
    return torch.autograd.functional.hessian(loss_fn, w.detach())


HVP = Exercise(
    id="10.1",
    name="hvp",
    reference=ift.hvp,
    cases=[_hvp_case(s) for s in range(4)],
    mistakes={
        "that is the gradient itself: differentiate <gradient, v> a second time, with respect to w": (
            lambda loss_fn, w, v: _gradient(loss_fn, w)
        ),
        "that is the elementwise product gradient * v; H v needs the second derivative": (
            lambda loss_fn, w, v: _gradient(loss_fn, w) * v
        ),
        "that is diag(H) * v: the off-diagonal second derivatives are missing": (
            lambda loss_fn, w, v: torch.diagonal(_hessian(loss_fn, w)) * v
        ),
    },
    hint="g = torch.autograd.grad(loss_fn(w), w, create_graph=True)[0]; then torch.autograd.grad(g @ v, w)[0]",
)


def _neumann_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(100 + seed)
        n = 4 + seed
        M = torch.randn(n, n, generator=g, dtype=torch.float64)
        H = M @ M.T / n + 0.2 * torch.eye(n, dtype=torch.float64)
        alpha = float(1.0 / torch.linalg.eigvalsh(H).max())
        return {"hvp_fn": lambda x: H @ x, "v": torch.randn(n, generator=g, dtype=torch.float64),
                "K": (1, 3, 10, 25)[seed], "alpha": alpha}

    return make


def _neumann_wrong(hvp_fn, v, K, alpha, terms_offset=0, outer=True, inner_alpha=True):
    term, total = v.clone(), v.clone()
    for _ in range(K - 1 + terms_offset):
        term = term - (alpha if inner_alpha else 1.0) * hvp_fn(term)
        total = total + term
    return alpha * total if outer else total


NEUMANN = Exercise(
    id="10.2",
    name="neumann",
    reference=ift.neumann,
    cases=[_neumann_case(s) for s in range(4)],
    mistakes={
        "K terms means j = 0 .. K-1: the authors' code counts K loop iterations, i.e. K + 1 terms": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, terms_offset=1)
        ),
        "the series alpha sum (I - alpha H)^j v needs the factor alpha outside the sum too": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, outer=False)
        ),
        "each term multiplies by (I - alpha H), not (I - H): scaling by alpha is what makes it converge": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, inner_alpha=False)
        ),
    },
    hint="term = v; total = v; repeat K - 1 times: term = term - alpha * hvp_fn(term); total = total + term; "
         "return alpha * total",
)


def _assemble_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(200 + seed)
        n, m = 7, 2 + seed
        X = torch.randn(n + 2, n, generator=g, dtype=torch.float64)
        y = torch.randn(n + 2, generator=g, dtype=torch.float64)
        P = torch.randn(m, n, generator=g, dtype=torch.float64)
        w = torch.randn(n, generator=g, dtype=torch.float64).requires_grad_(True)
        hyper = torch.randn(m, generator=g, dtype=torch.float64).requires_grad_(True)
        train = ((X @ w - y) ** 2).mean() + 0.5 * ((hyper @ P).exp() * w**2).sum() + (hyper * w[:m]).sum()
        flat_grad = torch.autograd.grad(train, w, create_graph=True)[0]
        return {"direct": torch.randn(m, generator=g, dtype=torch.float64),
                "u": torch.randn(n, generator=g, dtype=torch.float64), "flat_grad": flat_grad, "hyper": hyper}

    return make


def _mixed(u, flat_grad, hyper):
    return torch.autograd.grad(flat_grad, hyper, grad_outputs=u, retain_graph=True)[0]


ASSEMBLE = Exercise(
    id="10.3",
    name="assemble_hypergradient",
    reference=lambda direct, u, flat_grad, hyper: ift.assemble([direct], u, flat_grad, [hyper])[0],
    cases=[_assemble_case(s) for s in range(4)],
    mistakes={
        "the indirect term enters with a minus sign: dw*/dlam = -H^{-1} M": (
            lambda direct, u, flat_grad, hyper: direct + _mixed(u, flat_grad, hyper)
        ),
        "the direct term dL_V/dlam is part of the hypergradient (it is zero for weight decay, not in general)": (
            lambda direct, u, flat_grad, hyper: -_mixed(u, flat_grad, hyper)
        ),
        "the direct term alone ignores how the weights respond: add the indirect term -u^T M": (
            lambda direct, u, flat_grad, hyper: direct
        ),
    },
    hint="mixed = torch.autograd.grad(flat_grad, hyper, grad_outputs=u)[0]; return direct - mixed",
)


hvp = checker(HVP, "Hessian-vector products on 4 smooth non-quadratic losses.")
neumann = checker(NEUMANN, "the truncated Neumann series with K = 1, 3, 10 and 25 terms.")
assemble_hypergradient = checker(ASSEMBLE, "direct - u^T M on 4 problems with a non-zero direct term.")
