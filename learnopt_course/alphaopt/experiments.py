"""The capstone's experiments as functions (lesson 11). E11.1, the proposal's 2-D convex test (R8): ``f = 1/2
theta^T diag(10, 1) theta`` (our :class:`~learnopt_course.tasks.landscapes.Quadratic` with ``L = 10``, ``kappa = 10``,
unrotated), starts ``theta_0 ~ N(0, 2^2 I)``, ``T = 50`` steps; success is ``f - f* < 1e-3`` at the end (the lesson
notes' inferred threshold), over 100 held-out starts; the baseline is gradient descent with its one learning rate
tuned on 20 other starts by the area under the loss curve."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..meta.engine import unroll
from ..tasks.landscapes import Quadratic
from .env import CoordinateLREnv
from .optimizer import AgentRule
from .policy import CoordinateActorCritic

D = torch.float64
QUADRATIC = Quadratic(kappa=10.0, L=10.0, angle=0.0)


def quadratic_sampler(generator: torch.Generator) -> tuple[Quadratic, torch.Tensor]:
    """E11.1's task and a start ``N(0, 2^2 I)``."""
    return QUADRATIC, 2.0 * torch.randn(2, generator=generator, dtype=D)


def held_out_starts(n: int = 100, seed: int = 12345) -> torch.Tensor:
    """Starts never seen in training (``n x 2``)."""
    return 2.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=D)


@dataclass
class Score:
    """Success rate (final loss below ``tol``), mean area under the loss curve, and the loss curves ``[n, T+1]``."""

    success: float
    auc: float
    curves: torch.Tensor = field(repr=False)


def score(optimizer, starts: torch.Tensor, steps: int = 50, hp: dict | None = None, tol: float = 1e-3,  # noqa: ANN001
          task: Quadratic = QUADRATIC) -> Score:
    """Run ``optimizer`` (any functional optimizer, e.g. ``"sgd"`` or an :class:`~.optimizer.AgentRule`) from every
    start through the unroll engine."""
    curves = torch.stack([unroll(task, optimizer, s.clone(), steps, hp=hp).losses.detach() for s in starts])
    finite = torch.where(torch.isfinite(curves), curves, torch.full_like(curves, float("inf")))
    return Score(float((finite[:, -1] - task.min_value < tol).double().mean()), float(finite.sum(1).mean()), curves)


def tuned_gd(steps: int = 50, tune_seed: int = 999, grid: np.ndarray | None = None) -> tuple[float, Score]:
    """Gradient descent's learning rate chosen on 20 other starts by the mean area under the curve, and its score on
    the held-out starts."""
    tune = held_out_starts(20, tune_seed)
    grid = np.logspace(-3, 0, 31) if grid is None else grid
    best = min(grid, key=lambda lr: score("sgd", tune, steps, {"lr": float(lr)}).auc)
    return float(best), score("sgd", held_out_starts(), steps, {"lr": float(best)})


def train_agent(reward: str, env_steps: int, seed: int = 0, horizon: int = 50) -> tuple[CoordinateActorCritic, dict]:
    """PPO (the course's, with the coordinatewise actor-critic plugged in) on :class:`~.env.CoordinateLREnv` over
    E11.1's tasks with the given reward; returns the agent and ``{"seconds", "returns"}`` (episode returns in
    training order)."""
    from ..rl import PPO, PPOConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        agent = CoordinateActorCritic()
    config = PPOConfig(n_steps=500, batch_size=100, epochs=5, lr=3e-3, normalize_obs=False, seed=seed, gamma=0.99)
    start = time.perf_counter()
    ppo = PPO(lambda: CoordinateLREnv(quadratic_sampler, horizon=horizon, reward=reward), config, net=agent)
    ppo.learn(env_steps)
    return agent, {"seconds": time.perf_counter() - start, "returns": [h["return"] for h in ppo.history]}


def agent_score(agent: CoordinateActorCritic, steps: int = 50) -> Score:
    """The frozen agent's deterministic rule on the held-out starts."""
    return score(AgentRule(agent), held_out_starts(), steps)


# --- E11.2: non-convex 2-D landscapes (the proposal's claim 19) -------------------------------------------------------


def landscape_starts(landscape, n: int, seed: int) -> torch.Tensor:  # noqa: ANN001
    """``n`` starts drawn uniformly in the landscape's plotting window."""
    g = torch.Generator().manual_seed(seed)
    (x0, x1), (y0, y1) = landscape.bounds
    u = torch.rand(n, 2, generator=g, dtype=D)
    return torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1)


def landscape_success(optimizer, landscape, starts: torch.Tensor, steps: int = 200, hp: dict | None = None,  # noqa: ANN001
                      tol: float = 1e-2) -> float:
    """The fraction of runs ending within ``tol`` of one of the landscape's known minimizers."""
    hits = 0
    for s in starts:
        end = unroll(landscape, optimizer, s.clone(), steps, hp=hp, last_loss=False).params.detach()
        if bool(torch.isfinite(end).all()):
            hits += int(float((landscape.minima.to(D) - end).norm(dim=1).min()) < tol)
    return hits / len(starts)


def tuned_adam(landscape, steps: int = 200, tune_seed: int = 999, n_tune: int = 20,  # noqa: ANN001
               grid: np.ndarray | None = None) -> float:
    """Adam's learning rate chosen on ``n_tune`` other starts by success rate (ties: the smaller final mean loss)."""
    tune = landscape_starts(landscape, n_tune, tune_seed)
    grid = np.logspace(-3, 0, 13) if grid is None else grid

    def key(lr: float) -> tuple[float, float]:
        finals = [float(unroll(landscape, "adam", s.clone(), steps, hp={"lr": float(lr)}).losses[-1]) for s in tune]
        finite = [f for f in finals if np.isfinite(f)]
        return (-landscape_success("adam", landscape, tune, steps, {"lr": float(lr)}),
                float(np.mean(finite)) if finite else np.inf)

    return float(min(grid, key=key))
