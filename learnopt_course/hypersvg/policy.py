"""A learning-rate policy for HyperSVG: a log learning rate squashed by ``tanh`` onto ``[lr_min, lr_max]`` (the
thesis's BO bounds 1e-5 .. 1e-1 by default), the same log-uniform mapping as :meth:`rl.LRControlEnv.learning_rates`.
It is one free parameter (a constant learning rate), a vector of them (several independent constant policies trained
side by side, e.g. one per start of the thesis's grid), or an MLP of the state."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LRPolicy(nn.Module):
    """``log lr = lo + (tanh(u) + 1) / 2 (hi - lo)`` with ``u`` a parameter (``state_dim=None``) or ``u = MLP(s)``.
    ``init_lr`` sets the starting learning rate of the constant policy (and of the MLP's output bias); a sequence of
    rates makes ``u`` a vector, ``k`` independent constant policies whose ``forward()`` is ``[k]``."""

    def __init__(self, state_dim: int | None = None, init_lr: float | Sequence[float] = 1e-3,
                 lr_range: tuple[float, float] = (1e-5, 1e-1), hidden: int = 32) -> None:
        super().__init__()
        lo, hi = lr_range
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high; got {lr_range!r}")
        rates = [init_lr] if isinstance(init_lr, (int, float)) else list(init_lr)
        if not rates or any(not lo <= r <= hi for r in rates):
            raise ValueError(f"init_lr must lie inside lr_range {lr_range} (every entry, at least one); got {init_lr!r}")
        if state_dim is not None and not isinstance(init_lr, (int, float)):
            raise ValueError(f"a state-dependent policy (state_dim={state_dim}) takes one init_lr; got {init_lr!r}")
        self.lo, self.hi = math.log(lo), math.log(hi)
        # tanh reaches the ends only at infinity: a start at an end begins at u = +-4 (0.03 % of the log range in)
        u0 = [math.atanh(max(-math.tanh(4.0), min(math.tanh(4.0), 2 * (math.log(r) - self.lo) / (self.hi - self.lo) - 1)))
              for r in rates]
        self.state_dim = state_dim
        if state_dim is None:
            u = torch.tensor(u0, dtype=torch.float64)
            self.u = nn.Parameter(u[0] if isinstance(init_lr, (int, float)) else u)
        else:
            self.net = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()
            with torch.no_grad():
                self.net[-1].weight.zero_()
                self.net[-1].bias.fill_(u0[0])

    def forward(self, s: Tensor | None = None) -> Tensor:
        """The log learning rate (``[...]`` for states ``[..., d]``; a scalar for the constant policy)."""
        u = self.u if self.state_dim is None else self.net(s.to(torch.float64)).squeeze(-1)
        return self.lo + (torch.tanh(u) + 1) / 2 * (self.hi - self.lo)

    @property
    def size(self) -> int | None:
        """``k`` for a vector of constant policies, ``None`` for one constant or a state-dependent policy."""
        return None if self.state_dim is not None or self.u.ndim == 0 else self.u.shape[0]

    def lr(self, s: Tensor | None = None) -> float:
        """The learning rate (the mean over states for a state-dependent policy; a vector of policies: use
        :meth:`rates`)."""
        if self.size is not None:
            raise ValueError(f"this policy holds {self.size} constant policies; use rates() for their learning rates")
        with torch.no_grad():
            return float(self(s).exp().mean())

    def rates(self) -> list[float]:
        """Every constant policy's learning rate (one entry for a single constant policy)."""
        if self.state_dim is not None:
            raise ValueError("rates() is for constant policies; a state-dependent policy's rate depends on the state: lr(s)")
        with torch.no_grad():
            return self().exp().reshape(-1).tolist()
