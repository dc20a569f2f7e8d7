"""The policy and dual steps of guided policy search with Bregman ADMM (Li & Malik 2017, sec. 3.4, L117 and
L137-L146), per coordinate group."""

from __future__ import annotations

from torch import Tensor


def policy_fit_loss(mu_pi: Tensor, mu_psi: Tensor, G_inv: Tensor, lam: Tensor, nu: Tensor) -> Tensor:
    """The theta-step's loss with the policy covariance fixed (L141-L145): the mean over samples of
    ``sum_t lam_t^T mu_pi + nu_t / 2 (mu_pi - mu_psi)^T G_t^{-1} (mu_pi - mu_psi)``: a Mahalanobis regression onto
    the teacher's mean actions under its precision, shifted by the dual variable. Shapes: ``mu_pi, mu_psi
    [N, T, m]``, ``G_inv [T, m, m]``, ``lam [T, m]``, ``nu [T]``."""
    d = mu_pi - mu_psi
    mahalanobis = (d.unsqueeze(-2) @ G_inv @ d.unsqueeze(-1)).squeeze(-1).squeeze(-1)  # [N, T]
    return ((mu_pi * lam).sum(-1) + 0.5 * nu * mahalanobis).sum(-1).mean()


def dual_step(lam: Tensor, nu: Tensor, mu_pi: Tensor, mu_psi: Tensor, alpha: float) -> Tensor:
    """``lam_t <- lam_t + alpha nu_t (E[mu_pi] - E[mu_psi])`` (L117), the means over the sampled states."""
    return lam + alpha * nu.unsqueeze(-1) * (mu_pi.mean(0) - mu_psi.mean(0))
