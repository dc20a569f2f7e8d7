"""The coordinatewise LSTM optimizer of Andrychowicz et al. (2016), as reimplemented by Schröter (2022), and the
functional optimizer it defines.

The update is ``theta_{t+1} = theta_t + lr * g_t`` with ``[g_t, h_{t+1}] = m(rho(grad_t), h_t; phi)`` (Schröter 2022,
eqs. 3.3, 3.7): one small LSTM, shared by every coordinate, each coordinate with its own state. ``lr`` is a
multiplier of the learned update (1 by default; a ``torch.optim`` scheduler can anneal it).

:meth:`CoordinateLSTM.optimizer` turns the network, or any set of meta-parameters ``phi`` for it, into an
:class:`~learnopt_course.optimizers.base.Optimizer` with ``init``/``step`` like Adam's: the unroll engine
differentiates through it with respect to ``phi``, :class:`~.torch_adapter.LearnedOptimizer` runs it in a PyTorch
training loop and the RL environment can train with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..core import trees
from .base import Params

PREPROCESSING = ("none", "log_sign", "thesis")
HEADS = ("sum", "linear")
LSTMState = list[tuple[Tensor, Tensor]]


def preprocess_log_sign(grad: Tensor, p: float = 10.0) -> Tensor:
    """Andrychowicz et al. (2016), Appendix A: two channels ``(log|g|/p, sgn g)`` if ``|g| >= e^-p``, else
    ``(-1, e^p g)``. Injective and sign-preserving; returns ``[N, 2]``."""
    big = grad.abs() >= math.exp(-p)
    safe = torch.where(big, grad.abs(), torch.ones_like(grad))  # keep log away from 0 in the unused branch
    first = torch.where(big, torch.log(safe) / p, -torch.ones_like(grad))
    second = torch.where(big, torch.sign(grad), math.exp(p) * grad)
    return torch.stack([first, second], dim=-1)


def preprocess_thesis(grad: Tensor, p: float = 10.0) -> Tensor:
    """Schröter (2022), eq. 5.2: the one-channel ``rho(g) = (ln|g| / p) sgn g`` if ``|g| >= e^-p``, else ``-e^p g``,
    i.e. the product of the two channels above. Not injective: ``rho(2) = rho(-0.5)``. Returns ``[N, 1]``."""
    return preprocess_log_sign(grad, p).prod(dim=-1, keepdim=True)


@dataclass(frozen=True)
class LSTMConfig:
    """The architecture, saved with every checkpoint."""

    preprocessing: str = "log_sign"
    hidden: int = 20
    layers: int = 2
    output_scale: float = 0.01
    head: str = "sum"
    p: float = 10.0

    def __post_init__(self) -> None:
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING}; got {self.preprocessing!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}; got {self.head!r}")
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"hidden and layers must be positive; got hidden={self.hidden}, layers={self.layers}")


class CoordinateLSTM(nn.Module):
    """The coordinatewise LSTM optimizer ``m``: a ``[N]`` gradient and per-coordinate states in, a ``[N]`` update out.

    Head ``sum``: the update is ``alpha * sum_j h_j`` of the last layer (Schröter 2022, sec. 3.3), so
    ``|update| < hidden * alpha``; head ``linear``: a bias-free linear read-out (a bias would dominate, footnote 4).
    """

    def __init__(self, config: LSTMConfig | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = config or LSTMConfig(**overrides)  # type: ignore[arg-type]
        c = self.config
        inputs = {"none": 1, "log_sign": 2, "thesis": 1}[c.preprocessing]
        self.cells = nn.ModuleList([nn.LSTMCell(inputs if i == 0 else c.hidden, c.hidden) for i in range(c.layers)])
        self.readout = nn.Linear(c.hidden, 1, bias=False) if c.head == "linear" else None

    def init_state(self, n: int, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> LSTMState:
        """Zero (h, c) for ``n`` coordinates in every layer (default: the network's dtype and device)."""
        weight = self.cells[0].weight_ih
        dtype, device = dtype or weight.dtype, device or weight.device
        zeros = lambda: torch.zeros(n, self.config.hidden, dtype=dtype, device=device)  # noqa: E731
        return [(zeros(), zeros()) for _ in self.cells]

    def features(self, grad: Tensor) -> Tensor:
        c = self.config
        if c.preprocessing == "log_sign":
            return preprocess_log_sign(grad, c.p)
        if c.preprocessing == "thesis":
            return preprocess_thesis(grad, c.p)
        return grad.unsqueeze(-1)

    def forward(self, grad: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        if grad.dim() != 1:
            raise ValueError(f"grad must be a flat [N] tensor (one entry per coordinate); got shape {tuple(grad.shape)}")
        x = self.features(grad).to(self.cells[0].weight_ih.dtype)
        new_state = []
        for cell, (h, c) in zip(self.cells, state):
            h, c = cell(x, (h, c))
            new_state.append((h, c))
            x = h
        out = x.sum(-1) if self.readout is None else self.readout(x).squeeze(-1)
        return self.config.output_scale * out, new_state

    def optimizer(self, phi: Mapping[str, Tensor] | None = None) -> LSTMOptimizer:
        """The functional optimizer this network defines with meta-parameters ``phi`` (default: its own
        parameters, on the graph): ``opt.init(params)``, ``opt.step(params, grads, state)``."""
        return LSTMOptimizer(self, phi)


@dataclass(frozen=True)
class LSTMOptimizer:
    """The learned optimizer as a functional optimizer (the ``Optimizer`` interface of :mod:`.base`).

    All coordinates of all tensors are one flat vector for the network (one batched LSTM call per step); the state
    holds each coordinate's ``(h, c)`` in every layer. With ``phi`` the network is evaluated with those
    meta-parameters (``torch.func.functional_call``), so estimators can perturb them without touching the module.
    """

    net: CoordinateLSTM
    phi: Mapping[str, Tensor] | None = None
    name: str = "lstm"
    defaults: Mapping[str, float] = field(default_factory=lambda: {"lr": 1.0})

    def _dtype(self) -> torch.dtype:
        return (self.phi["cells.0.weight_ih"] if self.phi is not None else self.net.cells[0].weight_ih).dtype

    def init(self, params: Params) -> dict[str, Any]:
        """Zero LSTM states for every coordinate, on the parameters' device, in the network's dtype."""
        leaves = trees.leaves(params, "params")
        n = sum(t.numel() for t in leaves)
        return {"t": 0, "lstm": self.net.init_state(n, dtype=self._dtype(), device=leaves[0].device)}

    def step(self, params: Params, grads: Params, state: dict[str, Any],
             hp: Mapping[str, Any] | None = None) -> tuple[Params, dict[str, Any]]:
        """``theta + lr * m(rho(grad), h; phi)`` for every coordinate (Schröter 2022, eq. 3.3)."""
        unknown = set(hp or {}) - set(self.defaults)
        if unknown:
            raise KeyError(f"{self.name} has no hyperparameter {sorted(unknown)[0]!r}; expected some of ['lr']")
        if not isinstance(state, Mapping) or "lstm" not in state:
            raise TypeError(f"state must come from {self.name}.init(params); got {type(state).__name__}")
        lr = (hp or {}).get("lr", 1.0)
        g = trees.flat(grads).to(self._dtype())
        if self.phi is None:
            update, lstm = self.net(g, state["lstm"])
        else:
            update, lstm = functional_call(self.net, dict(self.phi), (g, state["lstm"]))
        theta = trees.flat(params)
        update = update.to(theta.dtype)
        theta = theta + (update if isinstance(lr, (int, float)) and lr == 1 else lr * update)
        return trees.split(theta, params), {"t": int(state["t"]) + 1, "lstm": lstm}


def response_to_constant_gradient(net: CoordinateLSTM, gradients: Tensor, steps: int) -> Tensor:
    """The updates ``[steps, len(gradients)]`` the optimizer applies when each coordinate sees the same gradient
    every step: a picture of the learned rule (growing steps = momentum; flat in the gradient's size = sign-like)."""
    state = net.init_state(gradients.numel())
    rows = []
    with torch.no_grad():
        for _ in range(steps):
            update, state = net(gradients, state)
            rows.append(update)
    return torch.stack(rows)


