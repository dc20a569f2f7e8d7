"""Reinforcement learning for hyperparameter control (lesson 07): a learning-rate-control environment with the
Gymnasium API, registered as ``learnopt/LRControl-v0``, and a PPO written for reading."""

from __future__ import annotations

import gymnasium

from .env import LRControlEnv, reward
from .ppo import PPO, PPOConfig, RunningMeanStd, clipped_surrogate, evaluate, gae

ENV_ID = "learnopt/LRControl-v0"
if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="learnopt_course.rl.env:LRControlEnv")

__all__ = ["ENV_ID", "LRControlEnv", "PPO", "PPOConfig", "RunningMeanStd", "clipped_surrogate", "evaluate", "gae", "reward"]
