"""Differentiating through optimization: unrolled hypergradients, truncation, graph memory and evolution strategies.

An unrolled inner run ``w_{t+1} = Phi(w_t, lambda)`` (any optimizer of :mod:`learnopt_course.optimizers`) is a
differentiable function of its hyperparameters ``lambda``; its meta-loss (the final loss, or the mean loss along the
run) can be differentiated

* in **reverse mode** (backpropagation through training; Maclaurin et al. 2015): one backward pass, memory O(P T);
* in **forward mode** (real-time recurrent learning; Franceschi et al. 2017): one JVP per hyperparameter direction,
  memory independent of T;
* **truncated** to the last K steps (Shaban et al. 2019): memory O(P K), but biased (Crouther 2023, sec. 1.2.7;
  Lorraine 2023, sec. 2.2).

Inner gradients are taken with ``torch.autograd.grad(..., create_graph=True)``; forward mode runs the same code on
dual numbers (``torch.autograd.forward_ad``), i.e. forward-over-reverse, so one unroll serves both modes and its
autograd graph can be measured with saved-tensor hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.autograd import forward_ad as fwad

from ..core.trees import Tree
from ..optimizers.base import Optimizer
from .engine import HyperSchedule, unroll

InnerLoss = Callable[[Tree, int], Tensor]
META_LOSSES = ("final", "mean")


def unrolled_loss(
    inner_loss: InnerLoss,
    params: Tree,
    optimizer: str | Optimizer,
    hp: HyperSchedule,
    steps: int,
    *,
    meta: str = "final",
    outer_loss: Callable[[Tree], Tensor] | None = None,
    truncate: int | None = None,
) -> Tensor:
    """Run ``steps`` optimizer steps on ``inner_loss(params, t)`` and return the meta-loss, on the autograd graph.

    ``hp`` is a mapping of hyperparameters or a function ``t -> mapping`` (a schedule). ``meta="final"`` returns
    ``outer_loss(w_T)`` (default: ``inner_loss(w_T, steps)``); ``meta="mean"`` the mean of ``inner_loss(w_t, t)``
    for ``t = 0..T-1`` (Andrychowicz et al. 2016's summed meta-loss, and the toy meta-loss of lesson 01).
    ``truncate=K`` cuts the graph before the last ``K`` steps: earlier steps still run, but no gradient flows
    through them (truncated backpropagation through time). One call of the unroll engine
    (:func:`learnopt_course.meta.engine.unroll`).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    if meta not in META_LOSSES:
        raise ValueError(f"meta must be one of {META_LOSSES}; got {meta!r}")
    return unroll(inner_loss, optimizer, params, steps, hp=hp, graph=True, truncate=truncate, meta=meta,
                  outer=outer_loss, last_loss=False).meta_loss


def hypergradient(
    meta_loss: Callable[..., Tensor], hyper: Sequence[Tensor], mode: str = "reverse"
) -> list[Tensor]:
    """d meta_loss(*hyper) / d hyper, in ``reverse`` mode (one backward pass) or ``forward`` mode (one JVP per
    scalar hyperparameter: cost grows with their number, memory does not grow with the unroll length)."""
    hyper = [torch.as_tensor(h) for h in hyper]
    if mode == "reverse":
        leaves = [h.detach().requires_grad_(True) for h in hyper]
        value = meta_loss(*leaves)
        if value.dim() != 0:
            raise ValueError(f"meta_loss must return a scalar; got shape {tuple(value.shape)}")
        return list(torch.autograd.grad(value, leaves, allow_unused=False))
    if mode == "forward":
        grads = [torch.zeros_like(h) for h in hyper]
        primals = [h.detach() for h in hyper]
        for i, h in enumerate(primals):
            for j in range(h.numel()):
                with fwad.dual_level():
                    duals = []
                    for k, p in enumerate(primals):
                        tangent = torch.zeros_like(p)
                        if k == i:
                            tangent.view(-1)[j] = 1.0
                        duals.append(fwad.make_dual(p, tangent))
                    value = meta_loss(*duals)
                    grads[i].view(-1)[j] = fwad.unpack_dual(value).tangent.detach()
        return grads
    raise ValueError(f"mode must be 'reverse' or 'forward'; got {mode!r}")


def quadratic_lr_sensitivity(A: Tensor, w0: Tensor, lr: float | Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Forward sensitivities of gradient descent on ``f(w) = 1/2 w^T A w``: returns ``(w_T, z_T)``, ``z = dw/dlr``.

    ``w_{t+1} = w_t - lr g_t`` with ``g_t = A w_t``, so ``z_{t+1} = (I - lr A) z_t - g_t`` (Crouther 2023, eq. 1.2.13
    corrected: the printed equation has the sign of ``g_t`` wrong, and eq. 1.2.14 drops the ``lr``).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    w, z = w0, torch.zeros_like(w0)
    for _ in range(steps):
        g = A @ w
        z = z - lr * (A @ z) - g
        w = w - lr * g
    return w, z


def quadratic_lr_hypergradients(A: Tensor, w0: Tensor, lr: float, steps: int) -> dict[str, float]:
    """Exact ``d f(w_T) / d lr`` for gradient descent on ``f(w) = 1/2 w^T A w``, with the greedy estimate beside it.

    ``full = g_T . z_T`` (eqs. 1.2.17-1.2.18); ``greedy = -g_T . g_{T-1}`` (eqs. 1.2.19-1.2.21, which the thesis
    presents as the unrolled gradient but which is exact only for T = 1). With a constant step on a quadratic every
    term of the full sum equals the greedy term, so ``full = T * greedy`` exactly: the greedy estimate has the
    right sign and a magnitude T times too small.
    """
    w_before, _ = quadratic_lr_sensitivity(A, w0, lr, steps - 1) if steps > 1 else (w0, None)
    w_T, z_T = quadratic_lr_sensitivity(A, w0, lr, steps)
    g_T, g_prev = A @ w_T, A @ w_before
    return {"full": float(g_T @ z_T), "greedy": float(-(g_T @ g_prev))}


def graph_bytes(fn: Callable[[], Tensor]) -> tuple[Tensor, int]:
    """Run ``fn`` and count the bytes of the tensors that its result's autograd graph still holds for backward.

    Every tensor saved for the backward pass is seen by ``torch.autograd.graph.saved_tensors_hooks``; those still
    alive when ``fn`` returns (kept by the graph of its output) are counted once per storage. This is the memory that
    reverse mode holds until ``backward``, measured rather than assumed.
    """
    import gc
    import weakref

    saved: list[tuple[weakref.ref, int]] = []

    def pack(t: Tensor) -> Tensor:
        # store a detached alias (same storage, no grad_fn): returning ``t`` itself would make a saved *output* refer
        # to its own grad_fn, a reference cycle that keeps dead graphs alive and would be counted here
        alias = t.detach()
        saved.append((weakref.ref(alias), t.untyped_storage().nbytes()))
        return alias

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    gc.collect()
    alive: dict[int, int] = {}
    for ref, nbytes in saved:
        t = ref()
        if t is not None:
            alive[t.untyped_storage().data_ptr()] = nbytes
    return out, sum(alive.values())


def antithetic_es_gradient(
    f: Callable[[Tensor], Tensor], theta: Tensor, sigma: float, pairs: int, generator: torch.Generator
) -> Tensor:
    """Antithetic evolution-strategies estimate of the gradient of the Gaussian-smoothed ``f`` at ``theta``:
    ``mean over eps of eps (f(theta + sigma eps) - f(theta - sigma eps)) / (2 sigma)`` (Salimans et al. 2017;
    Metz et al. 2021 apply it to chaotic meta-losses like Crouther 2023's toy problem, sec. 4.1). ``f`` may be
    evaluated on a batch ``[2 * pairs, dim]`` at once."""
    if not isinstance(pairs, int) or pairs < 1:
        raise ValueError(f"pairs must be a positive integer; got {pairs!r}")
    eps = torch.randn((pairs, *theta.shape), generator=generator, dtype=theta.dtype).to(theta.device)
    return es_gradient_from_noise(f, theta, sigma, eps)


def es_gradient_from_noise(f: Callable[[Tensor], Tensor], theta: Tensor, sigma: float, eps: Tensor) -> Tensor:
    """The antithetic ES estimate for given perturbation directions ``eps`` ``[pairs, *theta.shape]`` (the formula of
    :func:`learnopt_course.meta.gradients.antithetic_estimate`, all ``2 * pairs`` evaluations in one batch)."""
    from .gradients import antithetic_estimate

    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma!r}")
    pairs = eps.shape[0]
    values = f(torch.cat([theta + sigma * eps, theta - sigma * eps]))
    return antithetic_estimate(eps, values[:pairs], values[pairs:], sigma)


def clip_by_norm(g: Tensor, max_norm: float) -> Tensor:
    """Rescale ``g`` to norm ``max_norm`` when larger (Pascanu et al. 2013); clipping bounds a step, but it does not
    make a chaotic meta-gradient informative (Metz et al. 2021)."""
    norm = g.norm()
    return g * (max_norm / norm) if norm > max_norm else g
