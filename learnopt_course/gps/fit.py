"""Local fits of guided policy search (Li & Malik 2017, sec. 3.4, L125-L131; footnote 2): linear-Gaussian dynamics,
and a linear-Gaussian stand-in for the learned policy, each per time step, by ridge regression pooled over rollouts
(and, with coordinate groups, over the coordinates of a group)."""

from __future__ import annotations

import torch
from torch import Tensor

from .lqg import Controller, Dynamics


def _ridge(inputs: Tensor, targets: Tensor, ridge: float) -> tuple[Tensor, Tensor, Tensor]:
    """Least squares ``targets ~ inputs @ W^T + b`` with a ridge on ``W``; returns ``(W, b, residual covariance)``."""
    N, d = inputs.shape
    X = torch.cat([inputs, torch.ones(N, 1, dtype=inputs.dtype)], 1)
    reg = ridge * torch.eye(d + 1, dtype=inputs.dtype)
    reg[-1, -1] = 0.0
    sol = torch.linalg.solve(X.T @ X + reg, X.T @ targets)
    residual = targets - X @ sol
    cov = residual.T @ residual / max(N - d - 1, 1)
    return sol[:-1].T, sol[-1], 0.5 * (cov + cov.T)


def fit_dynamics(S: Tensor, A: Tensor, ridge: float = 1e-6) -> Dynamics:
    """``s_{t+1} ~ F_t [s_t; a_t] + f_t`` from samples ``S [N, T+1, n]`` (states) and ``A [N, T, m]`` (actions),
    pooled over the ``N`` rollouts; ``W_t`` is the residual covariance. Needs ``N > n + m + 1`` samples per step."""
    if S.shape[0] != A.shape[0] or S.shape[1] != A.shape[1] + 1:
        raise ValueError(f"S must be [N, T+1, n] and A [N, T, m] with the same N; got {tuple(S.shape)} and "
                         f"{tuple(A.shape)}")
    Fs, fs, Ws = [], [], []
    for t in range(A.shape[1]):
        F, f, W = _ridge(torch.cat([S[:, t], A[:, t]], 1), S[:, t + 1], ridge)
        Fs.append(F), fs.append(f), Ws.append(W + 1e-10 * torch.eye(W.shape[0], dtype=W.dtype))
    return Dynamics(torch.stack(Fs), torch.stack(fs), torch.stack(Ws))


def fit_policy(S: Tensor, mean_actions: Tensor, ridge: float = 1e-6, variance: float | None = None) -> Controller:
    """Footnote 2: the learned policy linearised around the sampled states, ``pi~(a | s, t) = N(K_t s + k_t, G_t)``,
    by regressing its mean actions ``[N, T, m]`` on the states ``S [N, T(+1), n]``; ``G_t`` is the residual
    covariance (or ``variance * I`` when given: the policy's own fixed covariance)."""
    Ks, ks, Gs = [], [], []
    for t in range(mean_actions.shape[1]):
        K, k, G = _ridge(S[:, t], mean_actions[:, t], ridge)
        m = k.shape[0]
        Ks.append(K), ks.append(k)
        Gs.append(variance * torch.eye(m, dtype=G.dtype) if variance is not None else G + 1e-8 * torch.eye(m))
    return Controller(torch.stack(Ks), torch.stack(ks), torch.stack(Gs))
