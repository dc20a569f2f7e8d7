"""A learning-rate policy for HyperSVG: a log learning rate squashed by ``tanh`` onto ``[lr_min, lr_max]`` (the
thesis's BO bounds 1e-5 .. 1e-1 by default), the same log-uniform mapping as :meth:`rl.LRControlEnv.learning_rates`.
It is either one free parameter (a constant learning rate) or an MLP of the state."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LRPolicy(nn.Module):
    """``log lr = lo + (tanh(u) + 1) / 2 (hi - lo)`` with ``u`` a parameter (``state_dim=None``) or ``u = MLP(s)``.
    ``init_lr`` sets the starting learning rate of the constant policy (and of the MLP's output bias)."""

    def __init__(self, state_dim: int | None = None, init_lr: float = 1e-3, lr_range: tuple[float, float] = (1e-5, 1e-1),
                 hidden: int = 32) -> None:
        super().__init__()
        lo, hi = lr_range
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high; got {lr_range!r}")
        if not lo <= init_lr <= hi:
            raise ValueError(f"init_lr must lie inside lr_range {lr_range}; got {init_lr!r}")
        self.lo, self.hi = math.log(lo), math.log(hi)
        # tanh reaches the ends only at infinity: a start at an end begins at u = +-4 (0.03 % of the log range in)
        u0 = math.atanh(max(-math.tanh(4.0), min(math.tanh(4.0), 2 * (math.log(init_lr) - self.lo) / (self.hi - self.lo) - 1)))
        self.state_dim = state_dim
        if state_dim is None:
            self.u = nn.Parameter(torch.tensor(u0, dtype=torch.float64))
        else:
            self.net = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()
            with torch.no_grad():
                self.net[-1].weight.zero_()
                self.net[-1].bias.fill_(u0)

    def forward(self, s: Tensor | None = None) -> Tensor:
        """The log learning rate (``[...]`` for states ``[..., d]``; a scalar for the constant policy)."""
        u = self.u if self.state_dim is None else self.net(s.to(torch.float64)).squeeze(-1)
        return self.lo + (torch.tanh(u) + 1) / 2 * (self.hi - self.lo)

    def lr(self, s: Tensor | None = None) -> float:
        with torch.no_grad():
            return float(self(s).exp().mean())
