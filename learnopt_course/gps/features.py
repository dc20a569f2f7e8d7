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


def averaged(history: Tensor) -> Tensor:
    """``h_bar(i) = mean of h(max(i-2, 0)) .. h(i)`` for every ``i`` (L181-L189; the printed first formula sums over
    ``i``, a typo for ``j``). ``history [t+1, ...]``."""
    cumulative = torch.cumsum(history, 0)
    shifted = torch.cat([torch.zeros_like(cumulative[:3]), cumulative[:-3]], 0)[: history.shape[0]]
    counts = torch.clamp(torch.arange(1, history.shape[0] + 1, dtype=history.dtype), max=3)
    return (cumulative - shifted) / counts.reshape(-1, *([1] * (history.dim() - 1)))


STATE_LAGS = (25, 26, 25)  # relative objective changes, normalised averaged gradients, iterate-change ratios


def state_features(x_hist: Tensor, g_hist: Tensor, f_hist: Tensor, *, phi_first_averaged: bool = True,
                   eps_floor: float = 1e-12) -> Tensor:
    """Phi at the last step ``t`` (L191-L199): ``1 + 25 + 26 + 25 = 77`` features per coordinate on a stride-5 grid
    (the count is inferred from the formulas), ``[n, 77]``:

    * the coordinate ``x_j(t)``;
    * ``(f_bar(t-5i) - f_bar(t-5(i+1))) / f_bar(t-5(i+1))``, i = 0..24, shared by every coordinate (with
      ``phi_first_averaged=False`` the first term is the raw ``f(t-5i)`` the formula shows; the prose says
      "average"); ``eps_floor`` keeps the division finite (the paper has no epsilon);
    * ``g_bar(t-5i) / (|g_bar(max(t-5(i+1), t mod 5))| + 1)``, i = 0..25;
    * ``|x_bar(max(t-5(i+1), t mod 5 + 5)) - x_bar(max(t-5(i+2), t mod 5))| / (|x_bar(t-5i) - x_bar(t-5(i+1))| +
      0.1)``, i = 0..24.

    An entry that refers to a step before 0 is 0 (L199)."""
    t, n = x_hist.shape[0] - 1, x_hist.shape[1]
    xb, gb, fb = averaged(x_hist), averaged(g_hist), averaged(f_hist)
    first = f_hist if not phi_first_averaged else fb
    zeros = torch.zeros(n, dtype=x_hist.dtype)
    out = [x_hist[t]]
    for i in range(STATE_LAGS[0]):
        a, b = t - 5 * i, t - 5 * (i + 1)
        out.append(((first[a] - fb[b]) / fb[b].clamp_min(eps_floor)).expand(n) if b >= 0 else zeros)
    for i in range(STATE_LAGS[1]):
        a = t - 5 * i
        out.append(gb[a] / (gb[max(t - 5 * (i + 1), t % 5)].abs() + 1) if a >= 0 else zeros)
    for i in range(STATE_LAGS[2]):
        a, b = t - 5 * i, t - 5 * (i + 1)
        if b < 0:
            out.append(zeros)
            continue
        earlier = (xb[max(t - 5 * (i + 1), t % 5 + 5)] - xb[max(t - 5 * (i + 2), t % 5)]).abs()
        out.append(earlier / ((xb[a] - xb[b]).abs() + 0.1))
    return torch.stack(out, -1)
