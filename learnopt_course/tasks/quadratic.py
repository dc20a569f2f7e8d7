"""Random quadratics ``f(theta) = ||W theta - y||^2`` (Andrychowicz et al. 2016, sec. 3.1), a batch at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .base import Task, TaskFamily


@dataclass
class QuadraticBatch(Task):
    """``B`` independent problems: ``W`` ``[B, d, d]`` and ``y`` ``[B, d]`` with i.i.d. standard normal entries."""

    W: Tensor
    y: Tensor

    @classmethod
    def sample(cls, batch: int = 128, dim: int = 10, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> QuadraticBatch:
        """Draw on the CPU from ``generator`` (the same problems on every device), then move to ``device`` (default:
        the lesson's ``cfg.device``)."""
        from ..config import default_device

        for name, value in (("batch", batch), ("dim", dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        g = generator or torch.Generator().manual_seed(0)
        device = default_device() if device is None else device
        return cls(torch.randn(batch, dim, dim, generator=g, dtype=dtype).to(device),
                   torch.randn(batch, dim, generator=g, dtype=dtype).to(device))

    @property
    def batch(self) -> int:  # type: ignore[override]  (a deterministic task: step_loss needs no data)
        return self.W.shape[0]

    @property
    def dim(self) -> int:
        return self.W.shape[-1]

    def init(self, generator: torch.Generator | None = None) -> Tensor:
        """Initial parameters ``[B, d]`` drawn from N(0, 1)."""
        g = generator or torch.Generator().manual_seed(0)
        return torch.randn(self.batch, self.dim, generator=g, dtype=self.W.dtype).to(self.W.device)

    init_params = init

    def step_loss(self, params: Tensor, t: int) -> Tensor:
        return self.loss(params)

    def loss(self, theta: Tensor, batch: Any = None) -> Tensor:
        """Per-problem losses ``[B]``; sum them to train all problems at once (their gradients do not interact)."""
        if theta.shape != (self.batch, self.dim):
            raise ValueError(f"theta must have shape {(self.batch, self.dim)}; got {tuple(theta.shape)}")
        residual = torch.einsum("bij,bj->bi", self.W, theta) - self.y
        return (residual**2).sum(-1)

    def minimum(self) -> Tensor:
        """The least-squares minimum value of each problem (0 when ``W`` is invertible)."""
        solution = torch.linalg.lstsq(self.W.double(), self.y.double().unsqueeze(-1)).solution.squeeze(-1)
        return self.loss(solution.to(self.W.dtype))


@dataclass
class QuadraticFamily(TaskFamily):
    """Random quadratics of Andrychowicz et al. (2016), sec. 3.1: ``batch`` problems of dimension ``dim`` per task."""

    batch: int = 128
    dim: int = 10
    dtype: torch.dtype = torch.float32
    device: torch.device | str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"quadratic-{self.dim}d"

    def sample(self, generator: torch.Generator) -> QuadraticBatch:
        return QuadraticBatch.sample(self.batch, self.dim, generator, self.dtype, self.device)


@dataclass
class LeastSquares(Task):
    """One least-squares problem ``||W theta - y||^2 / dim`` with parameters ``{"theta": [dim]}``."""

    W: Tensor
    y: Tensor
    theta0: Tensor

    def init_params(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"theta": self.theta0.clone()}

    def loss(self, params: dict[str, Tensor], batch: Any = None) -> Tensor:
        return ((self.W @ params["theta"] - self.y) ** 2).sum() / self.W.shape[-1]

    def evaluate(self, params: dict[str, Tensor], split: str = "train") -> dict[str, float]:
        """The loss itself on every split (there is no data to hold out)."""
        with torch.no_grad():
            return {"loss": float(self.loss(params))}


@dataclass
class LeastSquaresFamily(TaskFamily):
    """Random ``dim``-d least-squares problems: Gaussian ``W``, ``y`` and starting point (lesson 07's fast task)."""

    dim: int = 20
    dtype: torch.dtype = torch.float32
    device: torch.device | str | None = None  # default: the lesson's cfg.device

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"dim must be a positive integer; got {self.dim!r}")

    def sample(self, generator: torch.Generator) -> LeastSquares:
        from ..config import default_device

        device = default_device() if self.device is None else self.device
        draw = lambda *shape: torch.randn(*shape, generator=generator, dtype=self.dtype).to(device)  # noqa: E731
        W = draw(self.dim, self.dim)
        y = draw(self.dim)
        return LeastSquares(W, y, draw(self.dim))
