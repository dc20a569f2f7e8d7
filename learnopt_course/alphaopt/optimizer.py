"""The update rules of the capstone as functional optimizers (the library's one optimizer interface), and the
trained agent as ``AlphaOpt``, a ``torch.optim.Optimizer``.

* :class:`CoordinateSGD`: ``theta - exp(log_lr) * grad`` with ``hp["log_lr"]`` a tree of per-coordinate log
  learning rates (what the environment applies for the agent's action);
* :class:`AgentRule`: a frozen coordinatewise agent choosing those rates from each tensor's own history (its
  deterministic mean action), the per-tensor state being the previous gradient, step and action;
* :class:`AlphaOpt`: :class:`~learnopt_course.optimizers.TorchOptimizer` over an :class:`AgentRule`: drop it in for
  ``torch.optim.Adam`` in an unchanged ``loss.backward(); opt.step()`` loop.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..core import trees
from ..optimizers.torch_adapter import TorchOptimizer
from .features import coordinate_features
from .rules import action_log_lr, per_coordinate_update


class CoordinateSGD:
    """Per-coordinate SGD: ``hp["log_lr"]`` is shaped like the parameters (a tensor or a dict of tensors)."""

    name = "coordinate_sgd"
    defaults: dict[str, float] = {}

    def init(self, params: Any) -> dict:
        return {}

    def step(self, params: Any, grads: Any, state: dict, hp: Mapping[str, Any] | None = None) -> tuple[Any, dict]:
        if not hp or "log_lr" not in hp:
            raise ValueError("CoordinateSGD needs hp={'log_lr': ...}, per-coordinate log learning rates shaped like "
                             "the parameters")
        new = trees.tree_map(per_coordinate_update, params, grads, hp["log_lr"])
        return new, state


class AgentRule:
    """A frozen coordinatewise agent (e.g. :class:`~.policy.CoordinateActorCritic`) as an update rule; ``lr_range``
    is the environment's map from actions to learning rates (default: the one the agent was trained with,
    ``agent.config.lr_range``)."""

    name = "alphaopt"
    defaults: dict[str, float] = {}

    def __init__(self, agent: nn.Module, lr_range: tuple[float, float] | None = None) -> None:
        self.agent = agent
        if lr_range is None:
            lr_range = getattr(getattr(agent, "config", None), "lr_range", (1e-3, 1.0))
        self.log_lo, self.log_hi = math.log10(lr_range[0]), math.log10(lr_range[1])

    def init(self, params: Tensor) -> dict:
        return {"prev_grad": None, "step": None, "action": None}

    def step(self, params: Any, grads: Any, state: dict, hp: Mapping[str, Any] | None = None) -> tuple[Any, dict]:
        """One step on a tensor, or on a tree of tensors seen as one flat vector (the environment's view; the
        features are per coordinate, so only the bookkeeping differs)."""
        if isinstance(params, Tensor):
            return self._step(params, grads, state)
        new, state = self._step(trees.flat(params), trees.flat(grads), state)
        return trees.split(new, params), state

    def _step(self, params: Tensor, grads: Tensor, state: dict) -> tuple[Tensor, dict]:
        features = coordinate_features(grads, state["prev_grad"], state["step"], state["action"])
        with torch.no_grad():
            u = self.agent.mean_action(features.reshape(-1).to(torch.float32)).to(params.dtype).reshape(params.shape)
        u = u.clamp(-1.0, 1.0)
        new = per_coordinate_update(params, grads, action_log_lr(u, self.log_lo, self.log_hi))
        return new, {"prev_grad": grads.detach().clone(), "step": (new - params).detach(), "action": u}


class AlphaOpt(TorchOptimizer):
    """The trained agent as a ``torch.optim.Optimizer``: each parameter tensor keeps its own history; the agent is a
    frozen copy (the caller's network stays trainable), taking its deterministic mean action."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], agent: nn.Module,
                 lr_range: tuple[float, float] | None = None) -> None:
        self.agent = copy.deepcopy(agent).eval().requires_grad_(False)
        super().__init__(params, AgentRule(self.agent, lr_range))
