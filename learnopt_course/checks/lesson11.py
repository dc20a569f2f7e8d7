"""Checkers for lesson 11, the AlphaOpt capstone (registered with the lesson's notebook).

Exercise 11.1 ``per_coordinate_update(theta, grad, log_lr)``: one step with a learning rate per coordinate.
Exercise 11.2 ``episode_return(losses, kind)``: the return under the proposal's -delta-L reward (it telescopes) and
under the area under the loss curve.
Exercise 11.3 ``coordinate_log_prob(mu, log_std, u)``: a factorised Gaussian policy's log-probability, summed over
coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..alphaopt import rules
from .core import Exercise, checker

D = torch.float64


def _update_case(seed: int, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(1100 + seed)
        k = n or (3, 5, 2, 7)[seed % 4]
        return {"theta": torch.randn(k, generator=g, dtype=D), "grad": torch.randn(k, generator=g, dtype=D),
                "log_lr": torch.log(torch.rand(k, generator=g, dtype=D) * 0.9 + 0.01)}

    return make


UPDATE = Exercise(
    id="11.1",
    name="per_coordinate_update",
    reference=rules.per_coordinate_update,
    cases=[_update_case(s) for s in range(4)],
    atol=1e-10,
    mistakes={
        "a descent step goes against the gradient": (lambda theta, grad, log_lr: theta + torch.exp(log_lr) * grad),
        "the action is a log learning rate: exponentiate it to get the rate": (
            lambda theta, grad, log_lr: theta - log_lr * grad),
        "the log is natural, not base 10": (lambda theta, grad, log_lr: theta - 10**log_lr * grad),
        "each coordinate has its own rate (no average over coordinates)": (
            lambda theta, grad, log_lr: theta - torch.exp(log_lr).mean() * grad),
    },
    hint="the proposal's update with the learning rate chosen per parameter: each coordinate moves against its own "
         "gradient, scaled by its own positive rate",
    hidden=lambda s: [_update_case(s + k, (1, 9, 4)[k]) for k in range(3)],
    library=(rules.per_coordinate_update,),
)


def _return_case(seed: int, T: int | None = None, kind: str | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(1110 + seed)
        t = T or (4, 6, 3, 8)[seed % 4]
        return {"losses": torch.rand(t + 1, generator=g, dtype=D) * 3 + 0.1, "kind": kind or ("delta", "auc")[seed % 2]}

    return make


def _return_wrong(losses, kind, *, flip=False, include_first=False, mean=False):  # noqa: ANN001, ANN202
    if kind == "delta":
        value = (losses[1:] - losses[:-1]).sum()
        return value if flip else -value
    terms = losses if include_first else losses[1:]
    return -(terms.mean() if mean else terms.sum())


RETURN = Exercise(
    id="11.2",
    name="episode_return",
    reference=rules.episode_return,
    cases=[_return_case(s) for s in range(4)],
    atol=1e-10,
    mistakes={
        "the reward is the decrease of the loss, -(L_t - L_(t-1)): a run that lowers the loss earns a positive return": (
            lambda losses, kind: _return_wrong(losses, kind, flip=True)),
        "rewards start after the first step: L_0 is where the episode starts, not a reward": (
            lambda losses, kind: _return_wrong(losses, kind, include_first=True)),
        "a return is a sum of rewards, not their mean": (lambda losses, kind: _return_wrong(losses, kind, mean=True)),
    },
    hint="the undiscounted sum over the episode's T steps of the reward the kind names; for delta, write out the sum "
         "and see what is left",
    hidden=lambda s: [_return_case(s + k, (1, 9, 5)[k], ("delta", "auc", "delta")[k]) for k in range(3)],
    library=(rules.episode_return,),
)


def _prob_case(seed: int, n: int | None = None, batch: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(1120 + seed)
        k, b = n or (3, 6, 2, 5)[seed % 4], batch or (2, 1, 4, 3)[seed % 4]
        log_std = torch.tensor(-0.7 + 0.3 * (seed % 4), dtype=D)  # bounded for any grading seed
        return {"mu": torch.randn(b, k, generator=g, dtype=D), "log_std": log_std,
                "u": torch.randn(b, k, generator=g, dtype=D)}

    return make


def _prob_wrong(mu, log_std, u, *, reduce="sum", variance=False, constant=True):  # noqa: ANN001, ANN202
    sigma2 = torch.exp(log_std) if variance else torch.exp(2 * log_std)
    per = -0.5 * (u - mu) ** 2 / sigma2 - (0.5 * log_std if variance else log_std)
    if constant:
        per = per - 0.5 * math.log(2 * math.pi)
    if reduce == "none":
        return per
    return per.mean(-1) if reduce == "mean" else per.sum(-1)


PROB = Exercise(
    id="11.3",
    name="coordinate_log_prob",
    reference=rules.coordinate_log_prob,
    cases=[_prob_case(s) for s in range(4)],
    grad_wrt=("mu", "log_std"),
    atol=1e-10,
    mistakes={
        "the coordinates are independent: the joint log-probability is the sum over coordinates, not the mean (a mean "
        "shrinks the policy gradient by the number of parameters)": (
            lambda mu, log_std, u: _prob_wrong(mu, log_std, u, reduce="mean")),
        "one log-probability per joint action: sum over the coordinates": (
            lambda mu, log_std, u: _prob_wrong(mu, log_std, u, reduce="none")),
        "log_std is the log of the standard deviation, not of the variance": (
            lambda mu, log_std, u: _prob_wrong(mu, log_std, u, variance=True)),
        "the Gaussian density has a normalising constant per coordinate": (
            lambda mu, log_std, u: _prob_wrong(mu, log_std, u, constant=False)),
    },
    hint="the log-density of a Gaussian with independent coordinates, written out per coordinate and combined for the "
         "whole action",
    hidden=lambda s: [_prob_case(s + k, (1, 8, 3)[k], (1, 2, 5)[k]) for k in range(3)],
    library=(rules.coordinate_log_prob,),
)


per_coordinate_update = checker(UPDATE, "the updated parameters on 4 cases.")
episode_return = checker(RETURN, "both kinds of return on 4 episodes.")
coordinate_log_prob = checker(PROB, "the log-probability and its gradients on 4 batches of actions.")
