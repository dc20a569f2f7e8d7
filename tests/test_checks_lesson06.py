"""Lesson 06 checkers accept the references (independent transcriptions here) and reject known-wrong variants: the
current gradient as the denominator, a lost floor, f(t) as the base, the t = 1 index; a transposed gain, the wrong
sign, no Riccati update, A left out; G instead of G^-1, the sign of the dual term, a missing 1/2, a mean over time."""

import torch

from learnopt_course.checks import lesson06
from learnopt_course.checks.lesson06 import _fit_wrong, _lqr_wrong, _psi

from checker_harness import make_checker_tests


def _psi_loop(x_hist, g_hist, f_hist):
    """Psi written out coordinate by coordinate (the formulas of sec. 3.6, one feature at a time)."""
    t, n = x_hist.shape[0] - 1, x_hist.shape[1]
    out = torch.zeros(n, 3, dtype=x_hist.dtype)
    for j in range(n):
        if t >= 1:
            out[j, 0] = (f_hist[t] - f_hist[t - 1]) / f_hist[t - 1]
            out[j, 2] = abs(x_hist[max(t - 1, 1), j] - x_hist[max(t - 2, 0), j]) / (abs(x_hist[t, j] - x_hist[t - 1, j]) + 0.1)
        out[j, 1] = g_hist[t, j] / (abs(g_hist[max(t - 1, 0), j]) + 1)
    return out


def _riccati(A, B, Q, R, T):
    """The LQR gains by the explicit Riccati difference equation, P_t = Q + A'PA - A'PB (R + B'PB)^-1 B'PA."""
    P, gains = Q, []
    for _ in range(T):
        S = R + B.T @ P @ B
        gains.append(-torch.linalg.inv(S) @ B.T @ P @ A)
        P = Q + A.T @ P @ A - A.T @ P @ B @ torch.linalg.inv(S) @ B.T @ P @ A
    return torch.stack(gains[::-1])


def _fit_loop(mu_pi, mu_psi, G_inv, lam, nu):
    N, T, _ = mu_pi.shape
    total = 0.0
    for n in range(N):
        for t in range(T):
            d = mu_pi[n, t] - mu_psi[n, t]
            total = total + lam[t] @ mu_pi[n, t] + 0.5 * nu[t] * d @ G_inv[t] @ d
    return total / N


CHECKERS = {
    "6.1": (
        lesson06.observation_features,
        _psi_loop,
        {
            "current gradient": (lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, g_lag=0), "divides by the magnitude of the previous"),
            "no +1": (lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, g_floor=0.0), "adds 1 to the gradient magnitude"),
            "no +0.1": (lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, x_floor=0.0), "adds 0.1 to the step magnitude"),
            "f(t) base": (lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, f_denominator="current"), "previous value f(t-1)"),
            "index clamp 0": (lambda x_hist, g_hist, f_hist: _psi(x_hist, g_hist, f_hist, clamp=0), "lower limit of its first index"),
        },
    ),
    "6.2": (
        lesson06.lqr_backward,
        _riccati,
        {
            "transposed": (lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, transpose=True), "the gain is transposed"),
            "sign": (lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, sign=-1.0), "the sign of the gain"),
            "greedy": (lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, greedy=True), "Riccati recursion"),
            "no A": (lambda A, B, Q, R, T: _lqr_wrong(A, B, Q, R, T, drop_A=True), "through the dynamics"),
            "time order reversed": (lambda A, B, Q, R, T: _riccati(A, B, Q, R, T).flip(0), "the gains come out last step first"),
        },
    ),
    "6.3": (
        lesson06.policy_fit_loss,
        _fit_loop,
        {
            "G not G^-1": (lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, invert=True), "precision G^-1"),
            "lambda sign": (lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, lam_sign=-1.0), "the sign of the dual term"),
            "no 1/2": (lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, half=1.0), "factor 1/2"),
            "mean over t": (lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_wrong(mu_pi, mu_psi, G_inv, lam, nu, reduce_t="mean"), "sums over time steps"),
            "detached": (lambda mu_pi, mu_psi, G_inv, lam, nu: _fit_loop(mu_pi, mu_psi, G_inv, lam, nu).detach(), "gradient"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
