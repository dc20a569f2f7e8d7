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


def _gae_case(seed: int, T: int | None = None, E: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        steps, envs = T or 6 + seed % 4, E or 1 + seed % 3
        return {"rewards": torch.randn(steps, envs, generator=g, dtype=torch.float64),
                "values": torch.randn(steps, envs, generator=g, dtype=torch.float64),
                "dones": (torch.rand(steps, envs, generator=g) < 0.3).double(),
                "last_values": torch.randn(envs, generator=g, dtype=torch.float64),
                "gamma": 0.9 + 0.03 * (seed % 4), "lam": 0.7 + 0.05 * (seed % 4)}

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
        "an episode that ended at step t must not see the value or the advantages after it: mask them with done": (
            lambda **kw: _gae_wrong(**kw, mask=False)
        ),
        "the advantages decay by both discount factors per step, not by lambda alone": (
            lambda **kw: _gae_wrong(**kw, decay="l")
        ),
        "the second output is the value target, built from the advantages and the values": (
            lambda **kw: _gae_wrong(**kw, plus_values=False)
        ),
    },
    hint="generalized advantage estimation as in the text (Schulman et al. 2016, eqs. 11-16): a backward pass over "
         "time of TD errors, each episode end cutting the recursion",
    hidden=lambda s: [_gae_case(s + k, (1, 9, 4)[k], (2, 1, 5)[k]) for k in range(3)],
    library=(ppo.gae,),
)


def _surrogate_case(seed: int, n: int = 16) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(10 + seed)
        return {"log_ratio": 0.4 * torch.randn(n, generator=g, dtype=torch.float64),
                "advantages": torch.randn(n, generator=g, dtype=torch.float64), "clip": (0.1, 0.2, 0.3, 0.2)[seed % 4]}

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
        "clip the probability ratio, not the advantage": (
            lambda **kw: _surrogate_wrong(**kw, clip_adv=True)
        ),
        "the argument is the log of the ratio: turn it into the ratio first": (
            lambda **kw: _surrogate_wrong(**kw, raw=True)
        ),
    },
    hint="PPO's clipped objective as in the text (Schulman et al. 2017, eq. 7), returned as a loss to minimise",
    hidden=lambda s: [_surrogate_case(s + k, (1, 50, 7)[k]) for k in range(3)],
    library=(ppo.clipped_surrogate,),
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
        "the dense reward has the wrong sign: progress (a falling loss) must earn a positive reward": (
            lambda kind, previous_loss, loss, accuracy, done: (loss - previous_loss) if kind == "dense"
            else rl_env.reward(kind, previous_loss, loss, accuracy, done)
        ),
        "the sparse reward must be zero before the episode's last step": (
            lambda kind, previous_loss, loss, accuracy, done: rl_env.reward(kind, previous_loss, loss, accuracy, True)
        ),
        "without an accuracy (a quadratic) the sparse reward falls back on the final loss, made a reward": (
            lambda kind, previous_loss, loss, accuracy, done: (0.0 if accuracy is None else
                                                               rl_env.reward(kind, previous_loss, loss, accuracy, done))
        ),
    },
    hint="the two rewards of the text's MDP (Crouther 2023, sec. 2.2): dense rewards every step's progress, sparse "
         "only the result at the end",
    hidden=lambda s: [_random_reward_case(s + k) for k in range(4)],
    library=(rl_env.reward,),
)


def _random_reward_case(seed: int) -> Callable[[], dict]:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(4, generator=g).tolist()
    kind = "dense" if u[0] < 0.5 else "sparse"
    accuracy = None if u[1] < 0.3 else round(u[1], 3)
    return lambda: {"kind": kind, "previous_loss": 0.5 + 2 * u[2], "loss": 0.5 + 2 * u[3], "accuracy": accuracy,
                    "done": u[3] < 0.5}


gae = checker(GAE, "advantages and returns on 4 rollouts with episode ends inside them.")
clipped_surrogate = checker(SURROGATE, "the loss and its gradient on 4 batches, clip 0.1 to 0.3.")
reward = checker(REWARD, "dense and sparse rewards, before and at the end of the episode.")
