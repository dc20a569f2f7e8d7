"""Per-coordinate learning-rate control as a Gymnasium environment (the AlphaOpt proposal's MDP, with its naming
mapped: its "outer loop" is our training task, its "inner loop" the agent's learning).

An episode trains one task sampled by ``sample(generator) -> (task, params0)`` for ``horizon`` steps. At each step
the agent sees :func:`~.features.coordinate_features` for every parameter (flat, ``n x FEATURES``) and chooses
``u`` in ``[-1, 1]^n``; the learning rates are ``10 ** (log lo + (u + 1) / 2 (log hi - log lo))`` (the same
log-uniform map as :class:`~learnopt_course.rl.LRControlEnv`), and one step ``theta - alpha * grad``
(:class:`~.optimizer.CoordinateSGD`) runs through the unroll engine.

Rewards (``reward``): ``"delta"``, the proposal's ``-(L_t - L_{t-1}) / L_0``, which telescopes to
``(L_0 - L_T) / L_0`` over an episode; ``"auc"``, ``-L_t / L_0``, the area under the loss curve; ``"log_delta"``
(ours), ``-(log L_t - log L_{t-1})``, which telescopes to ``log(L_0 / L_T)`` and so rewards every decade of progress
alike, where ``delta`` is earned almost entirely in the first steps.

A non-finite loss, or one above ``cap = diverge * L_0``, ends the episode (a loss growing by orders of magnitude would
otherwise give rewards of -1e6 that swamp every other signal PPO sees). What the end pays (``penalty``):
``"threshold"`` (default) charges the episode as if the loss had jumped to ``cap`` and stayed there until the horizon
(``delta``: ``(L_{t-1} - cap) / L_0``; ``log_delta``: ``log(L_{t-1} / cap)``; ``auc``: ``-diverge`` for every step
left), so diverging never pays better than any run that stays below the cap; ``"fixed"`` pays -1 (lesson 07's
penalty), which can pay *better* than staying: under ``auc`` a run that diverges at once escapes all later negative
rewards, and under ``log_delta`` a tenfold rise of the loss costs -2.3, more than -1. Agents learn to diverge on
purpose — reward hacking, shown in lesson 11.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from ..core import trees
from ..meta.engine import unroll
from .features import FEATURES, coordinate_features
from .optimizer import CoordinateSGD
from .rules import action_log_lr

REWARDS = ("delta", "auc", "log_delta")
PENALTIES = ("threshold", "fixed")


class CoordinateLREnv(gym.Env):
    """``sample(generator)`` returns a task (any engine task, or a function ``(params, t) -> loss``) and its starting
    parameters (a tensor or a dict of tensors, the same number ``n`` of entries every time)."""

    metadata = {"render_modes": []}

    def __init__(self, sample: Callable[[torch.Generator], tuple[Any, Any]], *, horizon: int = 50,
                 lr_range: tuple[float, float] = (1e-3, 1.0), reward: str = "delta", diverge: float = 10.0,
                 penalty: str = "threshold") -> None:
        super().__init__()
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer; got {horizon!r}")
        lo, hi = lr_range
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high; got {lr_range!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}; got {reward!r}")
        if penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}; got {penalty!r}")
        self.penalty = penalty
        if not diverge > 1:
            raise ValueError(f"diverge must be > 1 (a factor on the starting loss); got {diverge!r}")
        self.sample, self.horizon, self.reward_kind, self.diverge = sample, horizon, reward, float(diverge)
        self.log_lo, self.log_hi = math.log10(lo), math.log10(hi)
        _, params = sample(torch.Generator().manual_seed(0))
        self.n = trees.numel(params)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.n,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self.n * FEATURES,), dtype=np.float32)
        self._g = torch.Generator().manual_seed(0)

    def log_lr(self, action: Tensor) -> Tensor:
        """Natural-log learning rates for actions in ``[-1, 1]`` (clipped)."""
        return action_log_lr(action, self.log_lo, self.log_hi)

    def _gradient(self, params: Any) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            leaves = trees.fresh_leaves(params)
            loss = self.task.step_loss(leaves, self.t) if hasattr(self.task, "step_loss") else self.task(leaves, self.t)
            grads = torch.autograd.grad(loss.sum(), trees.leaves(leaves))
        return loss.detach().sum(), trees.flat(list(grads)).detach()

    def _reward(self, previous: float, loss: float) -> float:
        """The reward of a step from loss ``previous`` to ``loss`` (see the module docstring)."""
        if self.reward_kind == "delta":
            return (previous - loss) / self.scale
        if self.reward_kind == "auc":
            return -loss / self.scale
        return math.log(max(previous, 1e-300)) - math.log(max(loss, 1e-300))

    def _end_reward(self, previous: float, cap: float) -> float:
        """The reward of the step that diverged: -1 (``"fixed"``), or the loss at ``cap`` from here to the horizon
        (``"threshold"``; only the area reward pays again for every step left)."""
        if self.penalty == "fixed":
            return -1.0
        steps_left = self.horizon - self.t + 1 if self.reward_kind == "auc" else 1
        return self._reward(previous, cap) * steps_left

    def _observe(self) -> np.ndarray:
        obs = coordinate_features(self.grad, self.prev_grad, self.step_taken, self.prev_action)
        return obs.reshape(-1).to(torch.float32).numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._g.manual_seed(seed)
        self.task, params = self.sample(self._g)
        self.params = trees.detach(params)
        self.t = 0
        self.loss, self.grad = self._gradient(self.params)
        self.loss0 = float(self.loss)
        self.scale = max(abs(self.loss0), 1e-12)
        self.prev_grad = self.step_taken = self.prev_action = None
        return self._observe(), {"loss": self.loss0}

    def step(self, action: Any):
        u = torch.as_tensor(np.asarray(action, dtype=np.float64)).reshape(-1).clamp(-1.0, 1.0)
        if u.numel() != self.n:
            raise ValueError(f"action must have one entry per parameter ({self.n}); got {u.numel()}")
        flat = trees.flat(self.params)
        log_lr = trees.split(self.log_lr(u).to(flat.dtype), self.params)
        known = trees.split(self.grad, self.params)  # the gradient at the current point, computed last step
        run = unroll(self.task, CoordinateSGD(), self.params, 1, hp={"log_lr": log_lr}, start=self.t, last_loss=False,
                     grad_fn=lambda w, t: known)
        new = trees.detach(run.params)
        self.t += 1
        previous = float(self.loss)
        loss, grad = self._gradient(new)
        cap = self.diverge * abs(self.loss0) + 1e-12
        if not (math.isfinite(float(loss)) and bool(torch.isfinite(grad).all())) or float(loss) > cap:
            return self._observe(), self._end_reward(previous, cap), True, False, {"loss": float("nan"), "diverged": True}
        self.prev_grad, self.step_taken, self.prev_action = self.grad, trees.flat(new) - flat, u.to(flat.dtype)
        self.params, self.loss, self.grad = new, loss, grad
        done = self.t >= self.horizon
        return self._observe(), self._reward(previous, float(loss)), False, done, {"loss": float(loss), "diverged": False}
