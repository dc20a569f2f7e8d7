"""The three formulas the capstone turns on (lesson 11's exercises 11.1-11.3).

* the per-coordinate update ``theta - exp(log alpha) * grad`` (the proposal's action is a learning rate per
  parameter; its "alpha grad" action is the step, not the rate);
* the episode return under the proposal's reward ``-delta L``: ``sum_t -(L_t - L_{t-1}) = L_0 - L_T`` — it telescopes,
  so with ``gamma = 1`` only the final loss counts, however it was reached; the area under the loss curve
  ``-sum_t L_t`` (Andrychowicz et al. 2016's and Li & Malik's meta-loss) rewards getting there fast;
* the log-probability of a factorised Gaussian over coordinates: the **sum** of the per-coordinate terms (a mean
  would scale the policy gradient down by the number of parameters).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

KINDS = ("delta", "auc")


def per_coordinate_update(theta: Tensor, grad: Tensor, log_lr: Tensor) -> Tensor:
    """``theta - exp(log_lr) * grad``, elementwise (``log_lr`` shaped like ``theta``, or broadcastable)."""
    return theta - torch.exp(log_lr) * grad


def action_log_lr(u: Tensor, log10_low: float, log10_high: float) -> Tensor:
    """Natural-log learning rates for actions ``u`` clipped to ``[-1, 1]``, mapped log-uniformly onto
    ``[10**log10_low, 10**log10_high]`` (the map of :meth:`learnopt_course.rl.LRControlEnv.learning_rates`)."""
    return math.log(10) * (log10_low + (u.clamp(-1.0, 1.0) + 1) / 2 * (log10_high - log10_low))


def episode_return(losses: Tensor, kind: str) -> Tensor:
    """The undiscounted return of an episode with losses ``L_0 .. L_T`` (``[T+1]``): ``"delta"`` sums the rewards
    ``-(L_t - L_{t-1})`` for ``t = 1..T`` (which telescopes to ``L_0 - L_T``); ``"auc"`` sums ``-L_t`` for ``t =
    1..T``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if losses.ndim != 1 or losses.numel() < 2:
        raise ValueError(f"losses must be [T+1] with T >= 1; got shape {tuple(losses.shape)}")
    if kind == "delta":
        return -(losses[1:] - losses[:-1]).sum()
    return -losses[1:].sum()


def coordinate_log_density(mu: Tensor, log_std: Tensor, u: Tensor) -> Tensor:
    """``log N(u_i | mu_i, exp(log_std)^2)`` for every coordinate, unsummed (``log_std`` broadcasts)."""
    z = (u - mu) / torch.exp(log_std)
    return -0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)


def coordinate_log_prob(mu: Tensor, log_std: Tensor, u: Tensor) -> Tensor:
    """``log N(u | mu, exp(log_std)^2)`` summed over the last dimension (the coordinates): the log-probability of
    one joint action of a factorised Gaussian policy. ``log_std`` broadcasts (one shared value, or one per
    coordinate)."""
    return coordinate_log_density(mu, log_std, u).sum(-1)
