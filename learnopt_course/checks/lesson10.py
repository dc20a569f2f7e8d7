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


def _hvp_case(seed: int, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        n_ = n or 3 + seed
        M = torch.randn(n_, n_, generator=g, dtype=torch.float64)
        return {"loss_fn": _loss(torch.randn(n_, generator=g, dtype=torch.float64), M @ M.T / n_),
                "w": torch.randn(n_, generator=g, dtype=torch.float64),
                "v": torch.randn(n_, generator=g, dtype=torch.float64)}

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
        "that is the gradient itself: the product needs a second differentiation": (
            lambda loss_fn, w, v: _gradient(loss_fn, w)
        ),
        "that is the elementwise product of the gradient with v; the Hessian product needs second derivatives": (
            lambda loss_fn, w, v: _gradient(loss_fn, w) * v
        ),
        "only the diagonal of the Hessian is there: the mixed second derivatives are missing": (
            lambda loss_fn, w, v: torch.diagonal(_hessian(loss_fn, w)) * v
        ),
    },
    hint="Pearlmutter's trick from the text: a Hessian-vector product is the gradient of a scalar built from the "
         "gradient and v; the first gradient must stay on the graph",
    hidden=lambda s: [_hvp_case(s + k, (1, 9, 2)[k]) for k in range(3)],
    library=(ift.hvp, ift.hessian_operator),
)


def _neumann_case(seed: int, n: int | None = None, K: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(100 + seed)
        n_ = n or 4 + seed
        M = torch.randn(n_, n_, generator=g, dtype=torch.float64)
        H = M @ M.T / n_ + 0.2 * torch.eye(n_, dtype=torch.float64)
        alpha = float(1.0 / torch.linalg.eigvalsh(H).max())
        return {"hvp_fn": lambda x: H @ x, "v": torch.randn(n_, generator=g, dtype=torch.float64),
                "K": K or (1, 3, 10, 25)[seed % 4], "alpha": alpha}

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
        "one term too many: K terms, as in the text (the authors' code counts K loop iterations, i.e. K + 1 "
        "terms)": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, terms_offset=1)
        ),
        "the series needs the step alpha outside the sum too": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, outer=False)
        ),
        "each term must be scaled by the step alpha inside as well: that is what makes the series converge": (
            lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, inner_alpha=False)
        ),
    },
    hint="the truncated Neumann series of the text (Lorraine 2023, Alg. 6 with step alpha): build each term from "
         "the previous one with one Hessian product",
    hidden=lambda s: [_neumann_case(s + k, (2, 12, 6)[k], (2, 40, 7)[k]) for k in range(3)],
    library=(ift.neumann, ift.solve),
)


def _assemble_case(seed: int, n: int = 7, m: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(200 + seed)
        k = m or 2 + seed % 4
        X = torch.randn(n + 2, n, generator=g, dtype=torch.float64)
        y = torch.randn(n + 2, generator=g, dtype=torch.float64)
        P = torch.randn(k, n, generator=g, dtype=torch.float64)
        w = torch.randn(n, generator=g, dtype=torch.float64).requires_grad_(True)
        hyper = torch.randn(k, generator=g, dtype=torch.float64).requires_grad_(True)
        train = ((X @ w - y) ** 2).mean() + 0.5 * ((hyper @ P).exp() * w**2).sum() + (hyper * w[:k]).sum()
        flat_grad = torch.autograd.grad(train, w, create_graph=True)[0]
        return {"direct": torch.randn(k, generator=g, dtype=torch.float64),
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
        "the indirect term has the wrong sign: look at the sign of the best-response Jacobian": (
            lambda direct, u, flat_grad, hyper: direct + _mixed(u, flat_grad, hyper)
        ),
        "the direct term is part of the hypergradient (it is zero for weight decay, not in general)": (
            lambda direct, u, flat_grad, hyper: -_mixed(u, flat_grad, hyper)
        ),
        "the direct term alone ignores how the weights respond to the hyperparameters": (
            lambda direct, u, flat_grad, hyper: direct
        ),
    },
    hint="Lorraine (2023), eq. 3.3 in the text: the direct term and the indirect term; the mixed product is one "
         "more backward pass of the training gradient",
    hidden=lambda s: [_assemble_case(s + k, (3, 9, 5)[k], (1, 4, 2)[k]) for k in range(3)],
    library=(ift.assemble, ift.hypergradient),
)


hvp = checker(HVP, "Hessian-vector products on 4 smooth non-quadratic losses.")
neumann = checker(NEUMANN, "the truncated Neumann series with K = 1, 3, 10 and 25 terms.")
assemble_hypergradient = checker(ASSEMBLE, "direct - u^T M on 4 problems with a non-zero direct term.")
