"""Observation features and coordinate groups of Li & Malik (2017), sec. 3.5-3.6."""

from __future__ import annotations

import torch
from torch import Tensor


def observation_features(x_hist: Tensor, g_hist: Tensor, f_hist: Tensor) -> Tensor:
    """Psi at the last step ``t`` (L201-L211), three per coordinate, from the iterates ``x_hist [t+1, n]``, gradients
    ``g_hist [t+1, n]`` and objective values ``f_hist [t+1]`` so far:

    1. ``(f(t) - f(t-1)) / f(t-1)``, shared by every coordinate;
    2. ``g(t) / (|g(max(t-1, 0))| + 1)``;
    3. ``|x(max(t-1, 1)) - x(max(t-2, 0))| / (|x(t) - x(t-1)| + 0.1)``: the printed formula is garbled (a doubled
       denominator); this is the reading that matches the state features' third family.

    A feature that refers to a step before 0 is 0."""
    t = x_hist.shape[0] - 1
    if g_hist.shape != x_hist.shape or f_hist.shape != (t + 1,):
        raise ValueError(f"x_hist and g_hist must be [t+1, n] and f_hist [t+1]; got {tuple(x_hist.shape)}, "
                         f"{tuple(g_hist.shape)}, {tuple(f_hist.shape)}")
    n = x_hist.shape[1]
    zeros = torch.zeros(n, dtype=x_hist.dtype)
    first = ((f_hist[t] - f_hist[t - 1]) / f_hist[t - 1]).expand(n) if t >= 1 else zeros
    second = g_hist[t] / (g_hist[max(t - 1, 0)].abs() + 1)
    if t >= 1:
        third = (x_hist[max(t - 1, 1)] - x_hist[max(t - 2, 0)]).abs() / ((x_hist[t] - x_hist[t - 1]).abs() + 0.1)
    else:
        third = zeros
    return torch.stack([first, second, third], -1)


def coordinate_groups(params: dict[str, Tensor]) -> dict[str, int]:
    """Sec. 3.5: one group per weight matrix and per bias vector (4 for a two-layer net): each parameter tensor's
    name and its number of coordinates."""
    return {name: value.numel() for name, value in params.items()}
