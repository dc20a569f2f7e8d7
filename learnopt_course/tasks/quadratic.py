"""Random quadratics ``f(theta) = ||W theta - y||^2`` (Andrychowicz et al. 2016, sec. 3.1), a batch at a time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class QuadraticBatch:
    """``B`` independent problems: ``W`` ``[B, d, d]`` and ``y`` ``[B, d]`` with i.i.d. standard normal entries."""

    W: Tensor
    y: Tensor

    @classmethod
    def sample(cls, batch: int = 128, dim: int = 10, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> QuadraticBatch:
        for name, value in (("batch", batch), ("dim", dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        g = generator or torch.Generator().manual_seed(0)
        return cls(torch.randn(batch, dim, dim, generator=g, dtype=dtype), torch.randn(batch, dim, generator=g, dtype=dtype))

    @property
    def batch(self) -> int:
        return self.W.shape[0]

    @property
    def dim(self) -> int:
        return self.W.shape[-1]

    def init(self, generator: torch.Generator | None = None) -> Tensor:
        """Initial parameters ``[B, d]`` drawn from N(0, 1)."""
        g = generator or torch.Generator().manual_seed(0)
        return torch.randn(self.batch, self.dim, generator=g, dtype=self.W.dtype)

    def loss(self, theta: Tensor) -> Tensor:
        """Per-problem losses ``[B]``; sum them to train all problems at once (their gradients do not interact)."""
        if theta.shape != (self.batch, self.dim):
            raise ValueError(f"theta must have shape {(self.batch, self.dim)}; got {tuple(theta.shape)}")
        residual = torch.einsum("bij,bj->bi", self.W, theta) - self.y
        return (residual**2).sum(-1)

    def minimum(self) -> Tensor:
        """The least-squares minimum value of each problem (0 when ``W`` is invertible)."""
        solution = torch.linalg.lstsq(self.W.double(), self.y.double().unsqueeze(-1)).solution.squeeze(-1)
        return self.loss(solution.to(self.W.dtype))
