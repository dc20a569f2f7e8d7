"""Linear-Gaussian control: the trajectory step of guided policy search (Li & Malik 2017, sec. 3.4).

Per coordinate group the teacher is a time-varying linear-Gaussian controller ``psi(a | s, t) = N(K_t s + k_t, G_t)``
acting on locally fitted linear-Gaussian dynamics ``s_{t+1} = F_t [s_t; a_t] + f_t + w``, ``w ~ N(0, W_t)``, under a
quadratic cost ``l_t(z) = 1/2 z^T C_t z + c_t^T z`` of ``z = [s; a]``. Everything here is exact for that model:

* :func:`lqg_backward`: the finite-horizon dynamic programme (linear in T, cubic in the state dimension), with the
  maximum-entropy covariance ``G_t = Q_aa^{-1}`` (the minimiser of ``E[l] - H(psi)``);
* :func:`forward`: the state-action marginals a controller induces; :func:`expected_cost`; :func:`kl`: the
  expected ``KL(psi_1 || psi_2)`` under given state marginals;
* :func:`trajectory_step`: Li & Malik's eta-step, ``min E[sum_t l_t - lam_t^T a_t] + nu KL(psi || pi~)`` subject to
  the trust region ``sum_t E[KL(psi || psi_old)] <= epsilon``, by dual gradient descent on the trust region's
  multiplier (bisection in log space; the constraint lands within 10 % of its bound when it is active).

Arrays are float64 tensors, time first: ``F [T, n, n+m]``, ``f [T, n]``, ``W [T, n, n]``, ``C [T, n+m, n+m]``,
``c [T, n+m]``, ``K [T, m, n]``, ``k [T, m]``, ``G [T, m, m]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Dynamics:
    """``s_{t+1} = F_t [s_t; a_t] + f_t + N(0, W_t)`` for ``t = 0 .. T-1``."""

    F: Tensor
    f: Tensor
    W: Tensor

    @property
    def state_dim(self) -> int:
        return self.F.shape[1]

    @property
    def action_dim(self) -> int:
        return self.F.shape[2] - self.F.shape[1]


@dataclass
class Cost:
    """``l_t([s; a]) = 1/2 z^T C_t z + c_t^T z`` for ``t = 0 .. T-1``."""

    C: Tensor
    c: Tensor


@dataclass
class Controller:
    """``psi(a | s, t) = N(K_t s + k_t, G_t)``."""

    K: Tensor
    k: Tensor
    G: Tensor

    @property
    def horizon(self) -> int:
        return self.K.shape[0]

    def mean(self, s: Tensor, t: int) -> Tensor:
        return s @ self.K[t].T + self.k[t]

    def sample(self, s: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """Actions for states ``s [N, n]`` at step ``t``."""
        noise = torch.randn(s.shape[0], self.k.shape[1], generator=generator, dtype=s.dtype)
        return self.mean(s, t) + noise @ torch.linalg.cholesky(self.G[t]).T


def _sym(M: Tensor) -> Tensor:
    return 0.5 * (M + M.transpose(-1, -2))


def lqg_backward(dyn: Dynamics, cost: Cost) -> Controller:
    """The optimal linear-Gaussian controller of ``min E[sum_t l_t] - sum_t H(psi_t)`` (the maximum-entropy LQG
    backward pass): ``K_t = -Q_aa^{-1} Q_as``, ``k_t = -Q_aa^{-1} q_a``, ``G_t = Q_aa^{-1}``, with
    ``Q_t = C_t + F_t^T V_{t+1} F_t`` and ``q_t = c_t + F_t^T (V_{t+1} f_t + v_{t+1})``. Raises when ``Q_aa`` is not
    positive definite (the cost does not penalise the action enough for a minimum to exist)."""
    T, n = dyn.F.shape[0], dyn.state_dim
    V, v = torch.zeros(n, n, dtype=dyn.F.dtype), torch.zeros(n, dtype=dyn.F.dtype)
    Ks, ks, Gs = [], [], []
    for t in range(T - 1, -1, -1):
        F, f = dyn.F[t], dyn.f[t]
        Q = _sym(cost.C[t] + F.T @ V @ F)
        q = cost.c[t] + F.T @ (V @ f + v)
        Qss, Qsa, Qas, Qaa = Q[:n, :n], Q[:n, n:], Q[n:, :n], Q[n:, n:]
        try:
            L = torch.linalg.cholesky(Qaa)
        except RuntimeError as err:
            raise ValueError(f"Q_aa at step {t} is not positive definite: the cost must penalise the action") from err
        K = -torch.cholesky_solve(Qas, L)
        k = -torch.cholesky_solve(q[n:, None], L)[:, 0]
        V = _sym(Qss + Qsa @ K)
        v = q[:n] + Qsa @ k
        Ks.append(K), ks.append(k), Gs.append(torch.cholesky_inverse(L))
    return Controller(torch.stack(Ks[::-1]), torch.stack(ks[::-1]), torch.stack(Gs[::-1]))


def forward(dyn: Dynamics, ctrl: Controller, mu0: Tensor, sigma0: Tensor) -> tuple[Tensor, Tensor]:
    """Means ``[T, n+m]`` and covariances ``[T, n+m, n+m]`` of ``z_t = [s_t; a_t]`` under ``ctrl`` from
    ``s_0 ~ N(mu0, sigma0)``."""
    mu, sigma = mu0, sigma0
    means, covs = [], []
    for t in range(dyn.F.shape[0]):
        K = ctrl.K[t]
        mz = torch.cat([mu, K @ mu + ctrl.k[t]])
        SK = sigma @ K.T
        Sz = torch.cat([torch.cat([sigma, SK], 1), torch.cat([SK.T, K @ SK + ctrl.G[t]], 1)], 0)
        means.append(mz), covs.append(_sym(Sz))
        mu = dyn.F[t] @ mz + dyn.f[t]
        sigma = _sym(dyn.F[t] @ Sz @ dyn.F[t].T + dyn.W[t])
    return torch.stack(means), torch.stack(covs)


def expected_cost(cost: Cost, means: Tensor, covs: Tensor) -> Tensor:
    """``sum_t E[l_t(z_t)] = sum_t 1/2 tr(C_t S_t) + 1/2 m_t^T C_t m_t + c_t^T m_t``."""
    quad = torch.einsum("tij,tji->t", cost.C, covs) + torch.einsum("ti,tij,tj->t", means, cost.C, means)
    return (0.5 * quad + (cost.c * means).sum(-1)).sum()


def kl(a: Controller, b: Controller, state_means: Tensor, state_covs: Tensor) -> Tensor:
    """``E_s[KL(a(.|s,t) || b(.|s,t))]`` per step ``[T]`` for ``s_t ~ N(state_means[t], state_covs[t])``."""
    m = a.k.shape[1]
    Pb = torch.linalg.inv(b.G)
    dK, dk = a.K - b.K, a.k - b.k
    dmu = torch.einsum("tmn,tn->tm", dK, state_means) + dk
    trace = torch.einsum("tij,tji->t", Pb, a.G)
    logdet = torch.logdet(b.G) - torch.logdet(a.G)
    mean_term = torch.einsum("ti,tij,tj->t", dmu, Pb, dmu)
    spread = torch.einsum("tij,tjk,tkl,tli->t", dK.transpose(1, 2), Pb, dK, state_covs)
    return 0.5 * (trace - m + logdet + mean_term + spread)


def negative_log_likelihood_cost(ctrl: Controller) -> Cost:
    """``-log ctrl(a | s, t)`` up to a constant, as a quadratic cost in ``z = [s; a]``:
    ``1/2 (a - K s - k)^T P (a - K s - k)`` with ``P = G^{-1}``."""
    P = torch.linalg.inv(ctrl.G)
    K, k = ctrl.K, ctrl.k
    KtP = K.transpose(1, 2) @ P
    top = torch.cat([KtP @ K, -KtP], 2)
    bottom = torch.cat([-P @ K, P], 2)
    c = torch.cat([torch.einsum("tnm,tm->tn", KtP, k), -torch.einsum("tij,tj->ti", P, k)], 1)
    return Cost(torch.cat([top, bottom], 1), c)


def augmented_cost(cost: Cost, eta: float, old: Controller, n: int, lam: Tensor | None = None, nu: float = 0.0,
                   policy: Controller | None = None) -> Cost:
    """The cost whose maximum-entropy LQG solution minimises ``E[l - lam^T a] + nu KL(psi || policy) +
    eta KL(psi || old)``: ``(l - lam^T a - nu log policy - eta log old) / (nu + eta)``."""
    C, c = cost.C.clone(), cost.c.clone()
    if lam is not None:
        c[:, n:] = c[:, n:] - lam
    old_cost = negative_log_likelihood_cost(old)
    C, c = C + eta * old_cost.C, c + eta * old_cost.c
    if nu and policy is not None:
        pol = negative_log_likelihood_cost(policy)
        C, c = C + nu * pol.C, c + nu * pol.c
    return Cost(C / (nu + eta), c / (nu + eta))


@dataclass
class StepResult:
    controller: Controller
    eta: float
    kl: float  # sum_t E[KL(new || old)] under the new controller's state marginals
    epsilon: float
    iterations: int


def trajectory_step(dyn: Dynamics, cost: Cost, old: Controller, mu0: Tensor, sigma0: Tensor, epsilon: float, *,
                    lam: Tensor | None = None, nu: float = 0.0, policy: Controller | None = None,
                    eta_range: tuple[float, float] = (1e-6, 1e16), iterations: int = 60,
                    tolerance: float = 0.1) -> StepResult:
    """Li & Malik (2017) eq. after L131: the new teacher under the KL trust region ``sum_t E[KL(psi||psi_old)] <=
    epsilon``, by dual gradient descent on its multiplier ``eta`` (bisection of ``log eta``: the KL falls as eta
    grows). Stops once the KL is within ``tolerance`` of epsilon, or at the smallest eta if the bound is inactive."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0; got {epsilon!r}")
    n = dyn.state_dim

    def solve(eta: float) -> tuple[Controller | None, float]:
        try:
            ctrl = lqg_backward(dyn, augmented_cost(cost, eta, old, n, lam, nu, policy))
        except ValueError:  # a non-convex fitted cost without enough trust-region weight: eta must grow
            return None, math.inf
        means, covs = forward(dyn, ctrl, mu0, sigma0)
        return ctrl, float(kl(ctrl, old, means[:, :n], covs[:, :n, :n]).sum())

    lo, hi = math.log(eta_range[0]), math.log(eta_range[1])
    ctrl, value = solve(math.exp(lo))
    best = None
    if value <= epsilon * (1 + tolerance):  # the trust region is not active
        return StepResult(ctrl, math.exp(lo), value, epsilon, 1)
    for i in range(iterations):
        mid = 0.5 * (lo + hi)
        ctrl, value = solve(math.exp(mid))
        if ctrl is not None and abs(value - epsilon) <= tolerance * epsilon:
            return StepResult(ctrl, math.exp(mid), value, epsilon, i + 2)
        if ctrl is not None and value <= epsilon:
            best = (ctrl, math.exp(mid), value)
        lo, hi = (mid, hi) if value > epsilon else (lo, mid)
    if best is None:
        raise ValueError("the trust-region step found no controller within the bound; widen eta_range")
    return StepResult(best[0], best[1], best[2], epsilon, iterations + 1)


def lqr_backward(A: Tensor, B: Tensor, Q: Tensor, R: Tensor, T: int) -> Tensor:
    """The deterministic finite-horizon LQR sweep, the noise-free core of :func:`lqg_backward`: minimise
    ``sum_{t<T} (x_t^T Q x_t + u_t^T R u_t) / 2 + x_T^T Q x_T / 2`` subject to ``x_{t+1} = A x_t + B u_t``. With the
    cost-to-go ``x^T P_t x / 2`` (``P_T = Q``), ``K_t = -(R + B^T P_{t+1} B)^{-1} B^T P_{t+1} A`` and
    ``P_t = Q + A^T P_{t+1} (A + B K_t)`` (the Riccati recursion). Returns the gains ``K [T, m, n]``, ``u_t = K_t x_t``
    (lesson 06, exercise 6.2; lesson 03's linear-quadratic adjoint is the same problem solved forwards-backwards)."""
    if A.shape[0] != A.shape[1] or B.shape[0] != A.shape[0] or Q.shape != A.shape or R.shape != (B.shape[1],) * 2:
        raise ValueError(f"A must be [n, n], B [n, m], Q [n, n] and R [m, m]; got {tuple(A.shape)}, "
                         f"{tuple(B.shape)}, {tuple(Q.shape)}, {tuple(R.shape)}")
    P, gains = Q, []
    for _ in range(T):
        K = -torch.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = _sym(Q + A.T @ P @ (A + B @ K))
        gains.append(K)
    return torch.stack(gains[::-1])
