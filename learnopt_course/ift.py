"""Implicit-function-theorem hypergradients (Lorraine, Vicol & Duvenaud 2020; Lorraine 2023, ch. 3).

At a stationary point of the training loss, ``grad_w L_T(w*(lam), lam) = 0``; differentiating this identity gives the
best-response Jacobian ``dw*/dlam = -H^{-1} M`` with ``H = d^2 L_T / dw dw`` and ``M = d^2 L_T / dw dlam``, so

    dL_V/dlam = dL_V/dlam (direct) - v^T H^{-1} M,      v = dL_V/dw                   (Lorraine 2023, eq. 3.3)

computed as one inverse-Hessian-vector product ``u = H^{-1} v`` (exact solve, conjugate gradient, or the truncated
Neumann series ``alpha sum_{j<K} (I - alpha H)^j v``) and one mixed vector-Jacobian product ``u^T M``. Hessians are
never formed except by the ``exact`` method (small problems only): products come from double backward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

import torch
from torch import Tensor

Tree = Union[Tensor, Mapping[str, Tensor]]
METHODS = ("exact", "cg", "neumann")


def _leaves(tree: Tree, name: str) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, Mapping) and all(isinstance(v, Tensor) for v in tree.values()):
        return list(tree.values())
    raise TypeError(f"{name} must be a tensor or a mapping of names to tensors; got {type(tree).__name__}")


def _rebuild(tree: Tree, leaves: list[Tensor]) -> Tree:
    return leaves[0] if isinstance(tree, Tensor) else dict(zip(tree, leaves))


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _split(vector: Tensor, like: list[Tensor]) -> list[Tensor]:
    out, offset = [], 0
    for t in like:
        out.append(vector[offset : offset + t.numel()].view_as(t))
        offset += t.numel()
    return out


def _scalar(value: Tensor, name: str) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"{name} must return a scalar tensor; got {shape}")
    return value


def _with_grad(tree: Tree) -> tuple[Tree, list[Tensor]]:
    leaves = [t.detach().requires_grad_(True) for t in _leaves(tree, "tree")]
    return _rebuild(tree, leaves), leaves


def hvp(loss_fn: Callable[[Tree], Tensor], w: Tree, v: Tensor) -> Tensor:
    """Hessian-vector product ``H v`` (flat), by double backward (Pearlmutter 1994): ``grad_w <grad_w L, v>``."""
    tree, leaves = _with_grad(w)
    loss = _scalar(loss_fn(tree), "loss_fn")
    grads = torch.autograd.grad(loss, leaves, create_graph=True)
    flat = _flat(grads)
    if v.shape != flat.shape:
        raise ValueError(f"v must have shape {tuple(flat.shape)} (one entry per weight); got {tuple(v.shape)}")
    return _flat(torch.autograd.grad(flat, leaves, grad_outputs=v, allow_unused=True, retain_graph=False))


def inverse_hvp(loss_fn: Callable[[Tree], Tensor], w: Tree, v: Tensor, method: str = "cg", *, iterations: int = 20,
                alpha: float = 0.01, tol: float = 1e-10) -> Tensor:
    """``u ~= H^{-1} v`` for the Hessian of ``loss_fn`` at ``w``.

    ``exact``: form H (one HVP per weight) and solve; ``cg``: ``iterations`` conjugate-gradient steps (H symmetric
    positive definite); ``neumann``: ``alpha sum_{j<iterations} (I - alpha H)^j v`` (converges for
    ``0 < alpha < 2 / lambda_max``; Lorraine 2023, Alg. 4). ``iterations`` is K."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer; got {iterations!r}")
    H = lambda x: hvp(loss_fn, w, x)  # noqa: E731
    if method == "exact":
        n = v.numel()
        columns = [H(torch.eye(n, dtype=v.dtype)[i]) for i in range(n)]
        return torch.linalg.solve(torch.stack(columns, dim=1), v)
    if method == "neumann":
        term, total = v.clone(), v.clone()
        for _ in range(iterations - 1):
            term = term - alpha * H(term)
            total = total + term
        return alpha * total
    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rs = r @ r
    for _ in range(iterations):
        if rs <= tol**2:
            break
        Hp = H(p)
        step = rs / (p @ Hp)
        x = x + step * p
        r = r - step * Hp
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def hypergradient(train_loss: Callable[[Tree, Tree], Tensor], val_loss: Callable[[Tree, Tree], Tensor], w: Tree,
                  hyper: Tree, method: str = "cg", *, iterations: int = 20, alpha: float = 0.01) -> Tree:
    """``dL_V/dlam`` at an (approximate) optimum ``w`` of ``train_loss(w, hyper)``: direct term minus
    ``(H^{-1} v)^T M`` (Lorraine 2023, eq. 3.3 and Alg. 4). Returns the same structure as ``hyper``."""
    _leaves(w, "w"), _leaves(hyper, "hyper")  # fail early, naming the argument
    w_tree, w_leaves = _with_grad(w)
    h_tree, h_leaves = _with_grad(hyper)
    val = _scalar(val_loss(w_tree, h_tree), "val_loss")
    v_grads = torch.autograd.grad(val, w_leaves + h_leaves, allow_unused=True)
    v = _flat([g if g is not None else torch.zeros_like(t) for g, t in zip(v_grads[: len(w_leaves)], w_leaves)])
    direct = [g if g is not None else torch.zeros_like(t) for g, t in zip(v_grads[len(w_leaves) :], h_leaves)]
    u = inverse_hvp(lambda ww: train_loss(ww, _rebuild(hyper, [h.detach() for h in h_leaves])), w, v, method,
                    iterations=iterations, alpha=alpha).detach()
    # mixed product u^T M = grad_lam < grad_w L_T(w, lam), u >
    w_tree, w_leaves = _with_grad(w)
    h_tree, h_leaves = _with_grad(hyper)
    train = _scalar(train_loss(w_tree, h_tree), "train_loss")
    g_w = torch.autograd.grad(train, w_leaves, create_graph=True)
    mixed = torch.autograd.grad(_flat(g_w), h_leaves, grad_outputs=u, allow_unused=True)
    if all(m is None for m in mixed):
        raise ValueError("the hyperparameters do not affect the training loss's gradient: the implicit hypergradient "
                         "is only the direct term (IFT needs hyperparameters that move the optimum)")
    result = [d - (m if m is not None else torch.zeros_like(d)) for d, m in zip(direct, mixed)]
    return _rebuild(hyper, [r.detach() for r in result])
