"""Implicit-function-theorem hypergradients (Lorraine, Vicol & Duvenaud 2020; Lorraine 2023, ch. 3).

At a stationary point of the training loss, ``grad_w L_T(w*(lam), lam) = 0``; differentiating this identity gives the
best-response Jacobian ``dw*/dlam = -H^{-1} M`` with ``H = d^2 L_T / dw dw`` and ``M = d^2 L_T / dw dlam``, so

    dL_V/dlam = dL_V/dlam (direct) - v^T H^{-1} M,      v = dL_V/dw                   (Lorraine 2023, eq. 3.3)

computed as one inverse-Hessian-vector product ``u = H^{-1} v`` (exact solve, conjugate gradient, or the truncated
Neumann series ``alpha sum_{j<K} (I - alpha H)^j v``) and one mixed vector-Jacobian product ``u^T M``. Hessians are
never formed except by the ``exact`` method (small problems only): products come from double backward.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..core import trees
from ..core.trees import Tree

METHODS = ("exact", "cg", "neumann")


def _scalar(value: Tensor, name: str) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"{name} must return a scalar tensor; got {shape}")
    return value


HessianOperator = Callable[[Tensor], Tensor]


def hessian_operator(flat_grad: Tensor, leaves: list[Tensor]) -> HessianOperator:
    """``v -> H v`` for the Hessian behind ``flat_grad`` (a gradient taken with ``create_graph=True`` with respect
    to ``leaves``): each product is one more backward pass through the same graph (Pearlmutter 1994)."""

    def H(v: Tensor) -> Tensor:
        if v.shape != flat_grad.shape:
            raise ValueError(f"v must have shape {tuple(flat_grad.shape)} (one entry per weight); got {tuple(v.shape)}")
        grads = torch.autograd.grad(flat_grad, leaves, grad_outputs=v, retain_graph=True, allow_unused=True)
        return trees.flat([g if g is not None else torch.zeros_like(t) for g, t in zip(grads, leaves)])

    return H


def _gradient_graph(loss_fn: Callable[[Tree], Tensor], w: Tree) -> tuple[Tensor, list[Tensor]]:
    tree = trees.fresh_leaves(w)
    leaves = trees.leaves(tree)
    loss = _scalar(loss_fn(tree), "loss_fn")
    return trees.flat(torch.autograd.grad(loss, leaves, create_graph=True)), leaves


def hvp(loss_fn: Callable[[Tree], Tensor], w: Tree, v: Tensor) -> Tensor:
    """Hessian-vector product ``H v`` (flat), by double backward (Pearlmutter 1994): ``grad_w <grad_w L, v>``."""
    return hessian_operator(*_gradient_graph(loss_fn, w))(v)


def neumann(hvp_fn: HessianOperator, v: Tensor, K: int, alpha: float) -> Tensor:
    """``alpha sum_{j<K} (I - alpha H)^j v`` ~= ``H^{-1} v`` with ``hvp_fn(x) = H x`` (Lorraine 2023, Alg. 6 with the
    step ``alpha``; converges for ``0 < alpha < 2 / lambda_max``; K terms reproduce K steps of unrolled SGD from
    ``w*``, sec. 3.4.2). The authors' code counts loop iterations instead, i.e. K + 1 terms."""
    term, total = v.clone(), v.clone()
    for _ in range(K - 1):
        term = term - alpha * hvp_fn(term)
        total = total + term
    return alpha * total


def conjugate_gradient(H: HessianOperator, v: Tensor, iterations: int, tol: float = 1e-10) -> Tensor:
    """``iterations`` steps of conjugate gradient on ``H x = v`` from ``x = 0`` (H symmetric positive definite).

    Stops early once the residual is below ``tol * |v|``, or when a direction has no positive curvature (then H is
    not positive definite along it, or float rounding has taken over): the iterate so far is returned. That is
    said with a ``RuntimeWarning`` when it happens at the first step (the solve returns 0, so a hypergradient would
    silently reduce to its direct term) or when the curvature is not finite."""
    import warnings

    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rs = r @ r
    stop = (tol * v.norm()) ** 2
    for k in range(iterations):
        if rs <= stop:
            break
        Hp = H(p)
        curvature = p @ Hp
        if not torch.isfinite(curvature) or curvature <= 0:
            if k == 0 or not torch.isfinite(curvature):
                warnings.warn(f"conjugate_gradient stopped at step {k}: curvature p.Hp = {float(curvature):.3g} "
                              "(H is not positive definite along p, e.g. a non-convex inner problem away from a "
                              "minimum); the solution returned is the iterate so far"
                              + (" (zero)" if k == 0 else ""), RuntimeWarning, stacklevel=2)
            break
        step = rs / curvature
        x = x + step * p
        r = r - step * Hp
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def solve(H: HessianOperator, v: Tensor, method: str = "cg", *, iterations: int = 20, alpha: float = 0.01,
          tol: float = 1e-10) -> Tensor:
    """``u ~= H^{-1} v`` with a Hessian given only as products: ``exact`` (form H from ``len(v)`` products and
    solve: small problems only), ``cg`` or ``neumann`` (``iterations`` = K)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer; got {iterations!r}")
    if method == "exact":
        eye = torch.eye(v.numel(), dtype=v.dtype, device=v.device)
        return torch.linalg.solve(torch.stack([H(e) for e in eye], dim=1), v)
    if method == "neumann":
        return neumann(H, v, iterations, alpha)
    return conjugate_gradient(H, v, iterations, tol)


def inverse_hvp(loss_fn: Callable[[Tree], Tensor], w: Tree, v: Tensor, method: str = "cg", *, iterations: int = 20,
                alpha: float = 0.01, tol: float = 1e-10) -> Tensor:
    """``u ~= H^{-1} v`` for the Hessian of ``loss_fn`` at ``w`` (see :func:`solve`; one gradient graph is built and
    every product reuses it)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return solve(hessian_operator(*_gradient_graph(loss_fn, w)), v, method, iterations=iterations, alpha=alpha,
                 tol=tol)


def assemble(direct: list[Tensor], u: Tensor, flat_grad: Tensor, hyper: list[Tensor]) -> list[Tensor]:
    """The hypergradient ``direct - u^T M`` (Lorraine 2023, eq. 3.3 and Alg. 5), ``u = H^{-1} v``: the mixed product
    ``u^T M = grad_lam <grad_w L_T, u>`` is one backward pass of ``flat_grad`` (on the graph) into ``hyper``."""
    mixed = torch.autograd.grad(flat_grad, hyper, grad_outputs=u, retain_graph=True, allow_unused=True)
    if all(m is None for m in mixed):
        raise ValueError("the hyperparameters do not affect the training loss's gradient: the implicit hypergradient "
                         "is only the direct term (IFT needs hyperparameters that move the optimum)")
    return [d - (m if m is not None else torch.zeros_like(d)) for d, m in zip(direct, mixed)]


def hypergradient(train_loss: Callable[[Tree, Tree], Tensor], val_loss: Callable[[Tree, Tree], Tensor], w: Tree,
                  hyper: Tree, method: str = "cg", *, iterations: int = 20, alpha: float = 0.01) -> Tree:
    """``dL_V/dlam`` at an (approximate) optimum ``w`` of ``train_loss(w, hyper)``: direct term minus
    ``(H^{-1} v)^T M`` (Lorraine 2023, eq. 3.3 and Alg. 5). Returns the same structure as ``hyper``.

    One graph of ``grad_w L_T`` serves all K Hessian products and the mixed product: memory is that of one
    gradient, whatever the number of inner steps that produced ``w``."""
    trees.leaves(w, "w"), trees.leaves(hyper, "hyper")  # fail early, naming the argument
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    w_tree, h_tree = trees.fresh_leaves(w), trees.fresh_leaves(hyper)
    w_leaves, h_leaves = trees.leaves(w_tree), trees.leaves(h_tree)
    val = _scalar(val_loss(w_tree, h_tree), "val_loss")
    v_grads = torch.autograd.grad(val, w_leaves + h_leaves, allow_unused=True)
    v = trees.flat([g if g is not None else torch.zeros_like(t) for g, t in zip(v_grads[: len(w_leaves)], w_leaves)])
    direct = [g if g is not None else torch.zeros_like(t) for g, t in zip(v_grads[len(w_leaves) :], h_leaves)]
    train = _scalar(train_loss(w_tree, h_tree), "train_loss")
    flat_grad = trees.flat(torch.autograd.grad(train, w_leaves, create_graph=True))
    if not flat_grad.requires_grad:
        raise ValueError("the training gradient does not depend on the weights or hyperparameters (a linear loss?): "
                         "the Hessian is zero and IFT does not apply")
    u = solve(hessian_operator(flat_grad, w_leaves), v, method, iterations=iterations, alpha=alpha).detach()
    result = assemble(direct, u, flat_grad, h_leaves)
    return trees.rebuild(hyper, [r.detach() for r in result])
