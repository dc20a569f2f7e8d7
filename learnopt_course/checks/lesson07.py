"""Checkers for lesson 07, PPO as a learning-rate controller.

Exercise 7.1 ``gae(rewards, values, dones, last_values, gamma, lam)``: generalised advantage estimation.
Exercise 7.2 ``clipped_surrogate(log_ratio, advantages, clip)``: PPO's clipped policy loss.
Exercise 7.3 ``reward(kind, previous_loss, loss, accuracy, done)``: the dense and sparse rewards of the environment.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..rl import env as rl_env
from ..rl import ppo
from .core import Exercise, checker


def _gae_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        T, E = 6 + seed, 1 + seed % 3
        return {"rewards": torch.randn(T, E, generator=g, dtype=torch.float64),
                "values": torch.randn(T, E, generator=g, dtype=torch.float64),
                "dones": (torch.rand(T, E, generator=g) < 0.3).double(),
                "last_values": torch.randn(E, generator=g, dtype=torch.float64),
                "gamma": 0.9 + 0.03 * seed, "lam": 0.7 + 0.05 * seed}

    return make


def _gae_wrong(rewards, values, dones, last_values, gamma, lam, mask=True, decay="gl", plus_values=True):
    adv = torch.zeros_like(rewards)
    running, next_values = torch.zeros_like(last_values), last_values
    for t in reversed(range(rewards.shape[0])):
        alive = 1.0 - dones[t] if mask else torch.ones_like(dones[t])
        delta = rewards[t] + gamma * next_values * alive - values[t]
        running = delta + (gamma * lam if decay == "gl" else lam) * alive * running
        adv[t] = running
        next_values = values[t]
    return adv, (adv + values if plus_values else adv)


GAE = Exercise(
    id="7.1",
    name="gae",
    reference=ppo.gae,
    cases=[_gae_case(s) for s in range(4)],
    mistakes={
        "an episode that ended at step t must not see the value or the advantages after it: multiply by (1 - done)": (
            lambda **kw: _gae_wrong(**kw, mask=False)
        ),
        "the advantages decay by gamma * lambda per step, not lambda alone": lambda **kw: _gae_wrong(**kw, decay="l"),
        "the returns (value targets) are advantages + values": lambda **kw: _gae_wrong(**kw, plus_values=False),
    },
    hint="backwards in t: delta = r_t + gamma V_{t+1} (1 - done_t) - V_t; A_t = delta + gamma lam (1 - done_t) A_{t+1}",
)


def _surrogate_case(seed: int) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(10 + seed)
        n = 16
        return {"log_ratio": 0.4 * torch.randn(n, generator=g, dtype=torch.float64),
                "advantages": torch.randn(n, generator=g, dtype=torch.float64), "clip": (0.1, 0.2, 0.3, 0.2)[seed]}

    return make


def _surrogate_wrong(log_ratio, advantages, clip, reduce=torch.min, sign=-1.0, clip_adv=False, raw=False):
    ratio = log_ratio if raw else log_ratio.exp()
    clipped = ratio * advantages.clamp(-clip, clip) if clip_adv else ratio.clamp(1 - clip, 1 + clip) * advantages
    return sign * reduce(ratio * advantages, clipped).mean()


SURROGATE = Exercise(
    id="7.2",
    name="clipped_surrogate",
    reference=ppo.clipped_surrogate,
    cases=[_surrogate_case(s) for s in range(4)],
    grad_wrt=("log_ratio",),
    mistakes={
        "PPO takes the minimum (a pessimistic bound) of the clipped and unclipped objectives, not the maximum": (
            lambda **kw: _surrogate_wrong(**kw, reduce=torch.max)
        ),
        "return the loss to minimise: the negative of the mean clipped objective": (
            lambda **kw: _surrogate_wrong(**kw, sign=1.0)
        ),
        "clip the probability ratio to [1 - clip, 1 + clip], not the advantage": (
            lambda **kw: _surrogate_wrong(**kw, clip_adv=True)
        ),
        "the ratio is exp(log_ratio)": lambda **kw: _surrogate_wrong(**kw, raw=True),
    },
    hint="ratio = log_ratio.exp(); return -torch.min(ratio * A, ratio.clamp(1 - clip, 1 + clip) * A).mean()",
)


def _reward_case(kind: str, accuracy: float | None, done: bool) -> Callable[[], dict]:
    return lambda: {"kind": kind, "previous_loss": 1.7, "loss": 1.2, "accuracy": accuracy, "done": done}


REWARD = Exercise(
    id="7.3",
    name="reward",
    reference=rl_env.reward,
    cases=[_reward_case("dense", 0.6, False), _reward_case("dense", 0.7, True), _reward_case("sparse", 0.8, False),
           _reward_case("sparse", 0.8, True), _reward_case("sparse", None, True)],
    mistakes={
        "the dense reward is the loss *decrease*, previous_loss - loss (a positive reward for progress)": (
            lambda kind, previous_loss, loss, accuracy, done: (loss - previous_loss) if kind == "dense"
            else rl_env.reward(kind, previous_loss, loss, accuracy, done)
        ),
        "the sparse reward is 0 until the last step (done)": (
            lambda kind, previous_loss, loss, accuracy, done: rl_env.reward(kind, previous_loss, loss, accuracy, True)
        ),
        "without an accuracy (a quadratic), the sparse reward is -loss": (
            lambda kind, previous_loss, loss, accuracy, done: (0.0 if accuracy is None else
                                                               rl_env.reward(kind, previous_loss, loss, accuracy, done))
        ),
    },
    hint="dense: previous_loss - loss; sparse: 0.0 unless done, then accuracy (or -loss when accuracy is None)",
)


gae = checker(GAE, "advantages and returns on 4 rollouts with episode ends inside them.")
clipped_surrogate = checker(SURROGATE, "the loss and its gradient on 4 batches, clip 0.1 to 0.3.")
reward = checker(REWARD, "dense and sparse rewards, before and at the end of the episode.")
