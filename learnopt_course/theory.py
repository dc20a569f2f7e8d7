"""Convergence theory of gradient descent and momentum on quadratics (lesson 01).

For ``f(x) = 1/2 x^T A x`` with the eigenvalues of ``A`` in ``[mu, L]`` and ``kappa = L / mu``:

* gradient descent with step ``lr`` contracts the error by ``max_i |1 - lr lambda_i|`` per step; the best step
  ``2 / (L + mu)`` gives the rate ``(kappa - 1) / (kappa + 1)`` (Polyak 1987, Introduction to Optimization, sec. 1.4);
* heavy ball with Polyak's parameters ``lr = 4 / (sqrt L + sqrt mu)^2`` and ``m = ((sqrt kappa - 1) / (sqrt kappa + 1))^2``
  has the asymptotic rate ``(sqrt kappa - 1) / (sqrt kappa + 1)`` (Polyak 1964; Crouther 2023, sec. 1.2, who names
  the tuning "from the bounds of the condition number" without a formula);
* Nesterov with ``lr = 1 / L`` and ``m = (sqrt kappa - 1) / (sqrt kappa + 1)`` converges at rate ``1 - 1/sqrt(kappa)``
  (Nesterov 2004, Introductory Lectures, sec. 2.2); on a quadratic the smallest eigenvalue is exactly critically
  damped (a double root of ``z^2 - (1+m)(1-lr mu) z + m(1-lr mu)``), so that rate is tight.
* SGD with gradient noise of variance ``sigma^2`` per coordinate on ``lambda/2 x^2`` reaches a stationary expected
  loss ``lr sigma^2 / (2 (2 - lr lambda))``: the noise floor.
"""

from __future__ import annotations

import math


def _check_spectrum(mu: float, L: float) -> None:
    if not (isinstance(mu, (int, float)) and isinstance(L, (int, float))):
        raise TypeError(f"mu and L must be numbers; got {type(mu).__name__} and {type(L).__name__}")
    if not (0 < mu <= L):
        raise ValueError(f"need 0 < mu <= L; got mu={mu!r}, L={L!r}")


def gd_rate(mu: float, L: float, lr: float | None = None) -> float:
    """Per-step contraction of gradient descent, ``max(|1 - lr mu|, |1 - lr L|)``; ``lr`` defaults to ``2/(L+mu)``."""
    _check_spectrum(mu, L)
    lr = 2 / (L + mu) if lr is None else lr
    return max(abs(1 - lr * mu), abs(1 - lr * L))


def polyak_parameters(mu: float, L: float) -> tuple[float, float]:
    """Polyak's optimal heavy-ball step and momentum: ``(4 / (sqrt L + sqrt mu)^2, ((sqrt k - 1)/(sqrt k + 1))^2)``."""
    _check_spectrum(mu, L)
    root_kappa = math.sqrt(L / mu)
    return 4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((root_kappa - 1) / (root_kappa + 1)) ** 2


def heavy_ball_rate(mu: float, L: float) -> float:
    """Asymptotic rate of heavy ball with :func:`polyak_parameters`: ``(sqrt kappa - 1) / (sqrt kappa + 1)``."""
    _check_spectrum(mu, L)
    root_kappa = math.sqrt(L / mu)
    return (root_kappa - 1) / (root_kappa + 1)


def nesterov_parameters(mu: float, L: float) -> tuple[float, float]:
    """The strongly convex Nesterov choice ``(1/L, (sqrt kappa - 1)/(sqrt kappa + 1))``."""
    return 1 / L, heavy_ball_rate(mu, L)


def nesterov_rate(mu: float, L: float) -> float:
    """Asymptotic rate of Nesterov with :func:`nesterov_parameters` on quadratics: ``1 - 1/sqrt(kappa)``.

    The iteration's characteristic roots have modulus ``sqrt(m (1 - lr lambda))``, largest at ``lambda = mu``,
    where it equals ``1 - 1/sqrt(kappa)``.
    """
    _check_spectrum(mu, L)
    return 1 - math.sqrt(mu / L)


def iterations_to(rate: float, tolerance: float, initial: float = 1.0) -> int:
    """Iterations for an error shrinking by ``rate`` per step to fall from ``initial`` to ``tolerance``."""
    if not (0 <= rate < 1):
        raise ValueError(f"rate must be in [0, 1); got {rate!r}")
    if not (0 < tolerance < initial):
        raise ValueError(f"need 0 < tolerance < initial; got tolerance={tolerance!r}, initial={initial!r}")
    return 0 if rate == 0 else math.ceil(math.log(tolerance / initial) / math.log(rate))


def sgd_noise_floor(lr: float, curvature: float, sigma: float) -> float:
    """Stationary ``E[f]`` of SGD on ``curvature/2 x^2`` with gradient noise ``N(0, sigma^2)`` (per coordinate).

    From ``x <- (1 - lr c) x - lr sigma xi``: ``Var = lr^2 sigma^2 / (1 - (1 - lr c)^2)``, so
    ``E[f] = c/2 Var = lr sigma^2 / (2 (2 - lr c))``. Requires ``0 < lr c < 2``.
    """
    if not (0 < lr * curvature < 2):
        raise ValueError(f"need 0 < lr * curvature < 2 for a stationary distribution; got {lr * curvature!r}")
    return lr * sigma**2 / (2 * (2 - lr * curvature))
