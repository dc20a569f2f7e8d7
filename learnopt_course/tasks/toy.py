"""The 1-D toy meta-loss of Metz (2021), used by Crouther (2023, sec. 4.1) and in lessons 01 and 02.

Inner loss ``f(x) = log(x^2 + 1 + sin 3x) + 1.5`` (note: defined everywhere, since ``x^2 + 1 + sin 3x >= 0.224``).
Inner optimizer: SGD with momentum ``v <- mom v + f'(x); x <- x - lr v`` from ``x0 = -4`` for 50 steps.
Outer (meta-)loss: the mean inner loss over the run, each step's loss taken where its gradient is evaluated
(``x_0 ... x_{T-1}``), as in Metz's JAX code. As a function of ``lr`` it is chaotic: tiny changes of the
learning rate change which basin the iterate ends in.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Task


def toy_loss(x: Tensor) -> Tensor:
    """``f(x) = log(x^2 + 1 + sin 3x) + 1.5`` (Metz 2021; Crouther 2023, sec. 4.1), elementwise."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    return torch.log(x**2 + 1 + torch.sin(3 * x)) + 1.5


def toy_grad(x: Tensor) -> Tensor:
    """``f'(x) = (2x + 3 cos 3x) / (x^2 + 1 + sin 3x)``, elementwise."""
    return (2 * x + 3 * torch.cos(3 * x)) / (x**2 + 1 + torch.sin(3 * x))


def toy_outer_loss(
    lr: float | Tensor,
    momentum: float | Tensor = 0.9,
    x0: float = -4.0,
    steps: int = 50,
    *,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Mean of ``f(x_0), ..., f(x_{T-1})`` along ``T = steps`` heavy-ball steps on :func:`toy_loss` from ``x0``.

    ``lr`` and ``momentum`` may be tensors (broadcast together, one run per entry, vectorised) and may require
    grad: the result is then differentiable with respect to them.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    from ..meta.engine import unroll

    lr_t = torch.as_tensor(lr, dtype=dtype)
    mom_t = torch.as_tensor(momentum, dtype=dtype, device=lr_t.device)
    shape = torch.broadcast_shapes(lr_t.shape, mom_t.shape)
    x = torch.full(shape, float(x0), dtype=dtype, device=lr_t.device)
    run = unroll(ToyTask(), "heavy_ball", x, steps, hp={"lr": lr_t, "momentum": mom_t}, graph=True, meta="mean",
                 grad_fn=lambda x, t: toy_grad(x), last_loss=False)
    return run.meta_loss


class ToyTask(Task):
    """The toy problem as a task: parameters ``x`` of any shape (independent runs), loss :func:`toy_loss`."""

    name = "toy"

    def __init__(self, x0: float = -4.0) -> None:
        self.x0 = x0

    def init_params(self, generator: torch.Generator | None = None) -> Tensor:
        return torch.tensor(self.x0, dtype=torch.float64)

    def loss(self, params: Tensor, batch: object = None) -> Tensor:
        return toy_loss(params)
