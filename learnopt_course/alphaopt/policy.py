"""A coordinatewise actor-critic for PPO (:class:`~learnopt_course.rl.PPO`'s pluggable ``net``): one small MLP maps
each coordinate's features to the mean of its action, so the policy has the same few hundred weights for a 2-D
landscape and for a CNN; the action distribution is a factorised Gaussian with one shared log standard deviation,
whose log-probability is the **sum** over coordinates (:func:`~.rules.coordinate_log_prob`). The critic sees the
coordinates' features pooled (mean and standard deviation of an embedding), so it too is size-independent.

PPO's probability ratio of a joint action over ``n`` coordinates is ``exp`` of a sum of ``n`` terms: for a CNN it
leaves the clipping range after tiny per-coordinate moves (the clipped fraction is printed by lesson 11), so PPO
barely learns. ``ratio="coordinate"`` treats coordinates as parallel environments sharing one reward: one ratio per
coordinate, each clipped alone (the policy gradient at the current policy is the same, up to the factor ``1/n``
that Adam absorbs; the trust region differs).

Observations are flat ``[..., n * FEATURES]`` (the environment's layout), actions ``[..., n]`` in ``[-1, 1]`` once
clipped by the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .features import FEATURES
from .rules import coordinate_log_density, coordinate_log_prob


class CoordinateNormal(torch.distributions.Distribution):
    """A factorised Gaussian over coordinates with the interface PPO uses: ``sample``, ``log_prob`` (summed over
    coordinates), ``entropy`` (summed) and ``mean``."""

    arg_constraints: dict = {}

    def __init__(self, mu: Tensor, log_std: Tensor, per_coordinate: bool = False) -> None:
        self.mu, self.log_std, self.per_coordinate = mu, log_std.expand_as(mu), per_coordinate
        super().__init__(batch_shape=mu.shape[:-1], event_shape=mu.shape[-1:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.mu

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            return self.mu + torch.exp(self.log_std) * torch.randn(self.mu.shape, dtype=self.mu.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        """The joint action's log-probability (summed over coordinates); with ``per_coordinate``, the terms
        ``[..., n]`` unsummed, for PPO to clip each coordinate's ratio alone."""
        if self.per_coordinate:
            return coordinate_log_density(self.mu, self.log_std, value)
        return coordinate_log_prob(self.mu, self.log_std, value)

    def entropy(self) -> Tensor:
        return (0.5 + 0.5 * torch.log(torch.tensor(2 * torch.pi)) + self.log_std).sum(-1)


RATIOS = ("joint", "coordinate")


@dataclass
class AgentConfig:
    """The coordinatewise actor-critic's shape: ``hidden`` units, the initial log standard deviation of the
    exploration noise, the number of features per coordinate, and the learning-rate range its actions in
    ``[-1, 1]`` map to (the environment's, kept with the agent so that a frozen agent applies the rates it learned)."""

    hidden: int = 32
    log_std_init: float = -0.5
    features: int = FEATURES
    lr_range: tuple[float, float] = (1e-3, 1.0)
    ratio: str = "joint"  # PPO's probability ratio: of the joint action, or one per coordinate ("coordinate")


class CoordinateActorCritic(nn.Module):
    """Actor: ``mu_i = MLP(features_i)`` (shared weights); critic: ``V = MLP([mean_i e_i, std_i e_i])`` with
    ``e_i`` an embedding of the features. ``log_std_init`` is the shared exploration noise's log standard deviation.
    A registered checkpoint kind (``"alphaopt"``)."""

    def __init__(self, hidden: int = 32, log_std_init: float = -0.5, features: int = FEATURES,
                 lr_range: tuple[float, float] = (1e-3, 1.0), ratio: str = "joint") -> None:
        super().__init__()
        if ratio not in RATIOS:
            raise ValueError(f"ratio must be one of {RATIOS}; got {ratio!r}")
        self.config = AgentConfig(hidden, log_std_init, features, tuple(float(x) for x in lr_range), ratio)
        self.k = features
        self.actor = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, 1))
        self.embed = nn.Sequential(nn.Linear(features, hidden), nn.Tanh())
        self.critic = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.log_std = nn.Parameter(torch.tensor(float(log_std_init)))
        self.discrete = False
        with torch.no_grad():
            self.actor[-1].weight.mul_(0.01)

    def _coordinates(self, obs: Tensor) -> Tensor:
        if obs.shape[-1] % self.k:
            raise ValueError(f"observations must hold {self.k} features per coordinate; got {obs.shape[-1]} numbers")
        return obs.reshape(*obs.shape[:-1], obs.shape[-1] // self.k, self.k)

    def mean_action(self, obs: Tensor) -> Tensor:
        """The deterministic action ``[..., n]`` (the frozen agent's choice)."""
        return self.actor(self._coordinates(obs)).squeeze(-1)

    def distribution(self, obs: Tensor) -> CoordinateNormal:
        return CoordinateNormal(self.mean_action(obs), self.log_std, self.config.ratio == "coordinate")

    def value(self, obs: Tensor) -> Tensor:
        e = self.embed(self._coordinates(obs))
        pooled = torch.cat([e.mean(-2), e.std(-2, unbiased=False)], dim=-1)
        return self.critic(pooled)
