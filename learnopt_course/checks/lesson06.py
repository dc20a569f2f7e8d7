"""Checkers for lesson 06, learning an optimizer by guided policy search (Li & Malik 2017).

Exercise 6.1 ``observation_features(x_hist, g_hist, f_hist)``: the observation features Psi (sec. 3.6, three per
coordinate).
Exercise 6.2 ``lqr_backward(A, B, Q, R, T)``: the finite-horizon LQR gains, the noise-free core of the trajectory
step (sec. 3.4).
Exercise 6.3 ``policy_fit_loss(mu_pi, mu_psi, G_inv, lam, nu)``: the policy step's loss of BADMM (sec. 3.4).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..gps import badmm, features, lqg
from .core import Exercise, checker

D = torch.float64


def _history_case(seed: int, t: int | None = None, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(600 + seed)
        steps = (t if t is not None else (0, 1, 2, 6)[seed % 4]) + 1
        coords = n or 5
        x = torch.cumsum(torch.randn(steps, coords, generator=g, dtype=D) * 0.3, 0)
        grads = torch.randn(steps, coords, generator=g, dtype=D) * torch.rand(1, coords, generator=g, dtype=D) * 3
        f = 2.0 + torch.rand(steps, generator=g, dtype=D)
        return {"x_hist": x, "g_hist": grads, "f_hist": f}

    return make


def _psi(x_hist, g_hist, f_hist, *, g_lag=1, g_floor=1.0, x_floor=0.1, f_denominator="previous", clamp=1):
    t, n = x_hist.shape[0] - 1, x_hist.shape[1]
    zeros = torch.zeros(n, dtype=x_hist.dtype)
    first = ((f_hist[t] - f_hist[t - 1]) / (f_hist[t - 1] if f_denominator == "previous" else f_hist[t])).expand(n) \
        if t >= 1 else zeros
    second = g_hist[t] / (g_hist[max(t - g_lag, 0)].abs() + g_floor)
    third = (x_hist[max(t - 1, clamp)] - x_hist[max(t - 2, 0)]).abs() / ((x_hist[t] - x_hist[t - 1]).abs() + x_floor) \
        if t >= 1 else zeros
    return torch.stack([first, second, third], -1)


PSI = Exercise(
    id="6.1",
    name="observation_features",
    reference=features.observation_features,
    cases=[_history_case(s) for s in range(4)],
    mistakes={
        "the gradient feature divides by the magnitude of the previous gradient, not the current one": (
            lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, g_lag=0)
        ),
        "a denominator lost its floor: the paper adds 1 to the gradient magnitude so the ratio stays finite": (
            lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, g_floor=0.0)
        ),
        "a denominator lost its floor: the paper adds 0.1 to the step magnitude": (
            lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, x_floor=0.0)
        ),
        "the relative change of the objective is taken with respect to the previous value f(t-1)": (
            lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, f_denominator="current")
        ),
        "at the second step, the earlier step of the third feature is the very first step: look at the lower limit of its first index": (
            lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, clamp=0)
        ),
    },
    hint="Li & Malik (2017), sec. 3.6, the observation features: look again at which step each numerator and "
         "denominator refers to, at the constants added to the denominators, and at steps before 0",
    hidden=lambda s: [_history_case(s + k, (3, 0, 9)[k], (1, 7, 3)[k]) for k in range(3)],
    library=(features.observation_features,),
)


def _lqr_case(seed: int, n: int | None = None, m: int | None = None, T: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(610 + seed)
        n_, m_ = n or (2, 3, 2, 4)[seed % 4], m or (2, 1, 2, 2)[seed % 4]
        A = torch.eye(n_, dtype=D) + 0.3 * torch.randn(n_, n_, generator=g, dtype=D)
        B = torch.randn(n_, m_, generator=g, dtype=D)
        L = torch.randn(n_, n_, generator=g, dtype=D)
        M = torch.randn(m_, m_, generator=g, dtype=D)
        return {"A": A, "B": B, "Q": L @ L.T / n_ + 0.1 * torch.eye(n_, dtype=D),
                "R": M @ M.T / m_ + 0.5 * torch.eye(m_, dtype=D), "T": T or (3, 5, 8, 4)[seed % 4]}

    return make


def _lqr_wrong(A, B, Q, R, T, *, transpose=False, sign=1.0, greedy=False, drop_A=False):
    P, gains = Q, []
    for _ in range(T):
        K = -sign * torch.linalg.solve(R + B.T @ P @ B, B.T @ P if drop_A else B.T @ P @ A)
        if not greedy:
            P = Q + A.T @ P @ (A + B @ K)
            P = 0.5 * (P + P.T)
        gains.append(K.T if transpose else K)
    return torch.stack(gains[::-1])


LQR = Exercise(
    id="6.2",
    name="lqr_backward",
    reference=lqg.lqr_backward,
    cases=[_lqr_case(s) for s in range(4)],
    mistakes={
        "the gain is transposed: K_t maps a state (n numbers) to an action (m numbers)": (
            lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, transpose=True)
        ),
        "the sign of the gain: the optimal action moves against the cost-to-go's slope": (
            lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, sign=-1.0)
        ),
        "the cost-to-go never changes: every step must update it by the Riccati recursion": (
            lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, greedy=True)
        ),
        "the gain must pass the state through the dynamics: the next state is A x + B u": (
            lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, drop_A=True)
        ),
    },
    hint="the backward sweep of the text: minimise the stage cost plus the cost-to-go of the next state over the "
         "action, read off the gain, then update the cost-to-go; the gains come out last step first",
    hidden=lambda s: [_lqr_case(s + k, (1, 5, 3)[k], (1, 3, 3)[k], (1, 12, 6)[k]) for k in range(3)],
    library=(lqg.lqr_backward, lqg.lqg_backward),
)


def _fit_case(seed: int, N: int | None = None, T: int | None = None, m: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(620 + seed)
        N_, T_, m_ = N or 3 + seed, T or (4, 6, 5, 3)[seed % 4], m or (1, 2, 1, 3)[seed % 4]
        L = torch.randn(T_, m_, m_, generator=g, dtype=D)
        G = L @ L.transpose(1, 2) + 0.3 * torch.eye(m_, dtype=D)
        return {"mu_pi": torch.randn(N_, T_, m_, generator=g, dtype=D, requires_grad=True),
                "mu_psi": torch.randn(N_, T_, m_, generator=g, dtype=D), "G_inv": torch.linalg.inv(G),
                "lam": torch.randn(T_, m_, generator=g, dtype=D),
                "nu": 0.1 + torch.rand(T_, generator=g, dtype=D)}

    return make


def _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, *, invert=False, lam_sign=1.0, half=0.5, reduce_t="sum"):
    d = mu_pi - mu_psi
    P = torch.linalg.inv(G_inv) if invert else G_inv
    mahalanobis = (d.unsqueeze(-2) @ P @ d.unsqueeze(-1)).squeeze(-1).squeeze(-1)
    per_t = lam_sign * (mu_pi * lam).sum(-1) + half * nu * mahalanobis
    return (per_t.sum(-1) if reduce_t == "sum" else per_t.mean(-1)).mean()


FIT = Exercise(
    id="6.3",
    name="policy_fit_loss",
    reference=badmm.policy_fit_loss,
    cases=[_fit_case(s) for s in range(4)],
    grad_wrt=("mu_pi",),
    mistakes={
        "the Mahalanobis distance uses the teacher's precision G^-1 (G_inv is given), not its covariance G": (
            lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, invert=True)
        ),
        "the sign of the dual term: the Lagrangian adds lambda^T mu_pi": (
            lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, lam_sign=-1.0)
        ),
        "the penalty carries a factor 1/2": (
            lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, half=1.0)
        ),
        "the loss sums over time steps (and averages over samples)": (
            lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, reduce_t="mean")
        ),
    },
    hint="Li & Malik (2017), sec. 3.4, the policy step's objective with the policy covariance fixed: a dual term "
         "and a Mahalanobis penalty weighted by nu_t, per time step",
    hidden=lambda s: [_fit_case(s + k, (1, 9, 4)[k], (1, 7, 2)[k], (2, 1, 4)[k]) for k in range(3)],
    library=(badmm.policy_fit_loss,),
)


observation_features = checker(PSI, "Psi on 4 histories of 1, 2, 3 and 7 steps.")
lqr_backward = checker(LQR, "LQR gains on 4 systems (2 to 4 states, 1 or 2 actions, 3 to 8 steps).")
policy_fit_loss = checker(FIT, "the policy-fit loss and its gradient on 4 batches of rollouts.")
