"""Checkers for lesson 12, optimization as a dynamical system.

Exercise 12.1 ``complex_momentum_step(w, g, vr, vi, lr, beta_abs, beta_arg)``: one step of complex momentum with
real buffers, ``(w', vr', vi')`` (Lorraine 2023, Alg. 12).
Exercise 12.2 ``momentum_spectral_radius(J, lr, beta_abs, beta_arg)``: the spectral radius of simultaneous complex
momentum's augmented operator on the field ``J w`` (Lorraine 2023, sec. 4.3).
Exercise 12.3 ``lyapunov_exponent(step, w0, k)``: the maximal k-step Lyapunov exponent ``(1/k) log sigma_max(J_k)``
(Lorraine 2023, sec. 5.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .. import games, lyapunov
from ..optimizers.complex import _complex_momentum
from .core import Exercise, checker

D = torch.float64


def _reference_step(w, g, vr, vi, lr, beta_abs, beta_arg):
    hp = {"lr": lr, "beta_abs": beta_abs, "beta_arg": beta_arg}
    new_w, s = _complex_momentum(w, g, {"vr": vr, "vi": vi}, hp, 1)
    return new_w, s["vr"], s["vi"]


def _step_variant(w, g, vr, vi, lr, beta_abs, beta_arg, *, sequential=False, old_buffer=False, plus_g=False,
                  real=False, conjugate=False):
    br, bi = beta_abs * math.cos(beta_arg), beta_abs * math.sin(beta_arg)
    if real:
        br, bi = beta_abs, 0.0
    if conjugate:
        bi = -bi
    new_vr = br * vr - bi * vi + (g if plus_g else -g)
    new_vi = bi * (new_vr if sequential else vr) + br * vi
    return w + lr * (vr if old_buffer else new_vr), new_vr, new_vi


def _step_case(seed: int, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        gen = torch.Generator().manual_seed(1200 + seed)
        n_ = n or 1 + seed % 5
        r = lambda: torch.randn(n_, generator=gen, dtype=D)  # noqa: E731
        u = torch.rand(3, generator=gen, dtype=D).tolist()
        return {"w": r().requires_grad_(True), "g": r().requires_grad_(True), "vr": r().requires_grad_(True),
                "vi": r().requires_grad_(True), "lr": 0.05 + 0.75 * u[0], "beta_abs": 0.3 + 0.65 * u[1],
                "beta_arg": 0.15 + 2.8 * u[2]}

    return make


STEP = Exercise(
    id="12.1",
    name="complex_momentum_step",
    reference=_reference_step,
    cases=[_step_case(s) for s in range(5)],
    grad_wrt=("w", "g", "vr", "vi"),
    mistakes={
        "the imaginary buffer was computed from the real buffer already updated in this step: both new buffers come "
        "from the old ones (one complex multiplication)": (
            lambda **a: _step_variant(**a, sequential=True)
        ),
        "the parameters moved with last step's buffer: Alg. 12 moves them by the buffer it has just updated": (
            lambda **a: _step_variant(**a, old_buffer=True)
        ),
        "the gradient enters the buffer with the wrong sign: the buffer accumulates minus the gradient": (
            lambda **a: _step_variant(**a, plus_g=True)
        ),
        "beta is complex: its real and imaginary parts are |beta| cos(arg beta) and |beta| sin(arg beta)": (
            lambda **a: _step_variant(**a, real=True)
        ),
        "the imaginary part of beta has the wrong sign (that multiplies the buffer by the conjugate of beta): expand "
        "the complex product of beta and the buffer again": (
            lambda **a: _step_variant(**a, conjugate=True)
        ),
    },
    hint="Alg. 12 in the text: multiply the complex buffer vr + i vi by beta, subtract the gradient from the real "
         "part, then move the parameters by lr times the new real part",
    hidden=lambda s: [_step_case(s + k, (1, 7, 3)[k]) for k in range(3)],
    library=(_complex_momentum, games.simultaneous),
)


def _reference_radius(J, lr, beta_abs, beta_arg):
    return games.spectral_radius(J, lr, games.polar(beta_abs, beta_arg))


def _radius_variant(J, lr, beta_abs, beta_arg, *, old_buffer=False, no_lr=False, modulus=True, gd_only=False):
    n = J.shape[0]
    eye, zero = torch.eye(n, dtype=D), torch.zeros(n, n, dtype=D)
    if gd_only:
        return float(torch.linalg.eigvals(eye - lr * J).abs().max())
    br, bi = beta_abs * math.cos(beta_arg), beta_abs * math.sin(beta_arg)
    last = torch.cat([lr * eye, zero, eye], 1) if old_buffer else torch.cat(
        [lr * br * eye, -lr * bi * eye, eye - (1.0 if no_lr else lr) * J], 1)
    A = torch.cat([torch.cat([br * eye, -bi * eye, -J], 1), torch.cat([bi * eye, br * eye, zero], 1), last], 0)
    values = torch.linalg.eigvals(A)
    return float(values.abs().max() if modulus else values.real.max())


def _radius_case(seed: int, kind: int | None = None, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        gen = torch.Generator().manual_seed(2400 + seed)
        which = (seed if kind is None else kind) % 3
        n_ = n or 1 + seed % 3
        if which == 0:  # a bilinear zero-sum game: purely imaginary eigenvalues
            J = games.bilinear_jacobian(torch.randn(n_, n_, generator=gen, dtype=D))
        elif which == 1:  # the rotation family between cooperative and adversarial
            J = games.rotation_game(float(torch.rand(1, generator=gen, dtype=D)) * math.pi / 2).jacobian(
                torch.zeros(2, dtype=D))
        else:  # a general game: symmetric and antisymmetric parts
            A = torch.randn(2 * n_, 2 * n_, generator=gen, dtype=D)
            J = 0.3 * A @ A.T / n_ + (A - A.T) / 2
        u = torch.rand(3, generator=gen, dtype=D).tolist()
        return {"J": J, "lr": 0.05 + 0.7 * u[0], "beta_abs": 0.2 + 0.75 * u[1], "beta_arg": 0.1 + 3.0 * u[2]}

    return make


RADIUS = Exercise(
    id="12.2",
    name="momentum_spectral_radius",
    reference=_reference_radius,
    cases=[_radius_case(s) for s in range(6)],
    atol=1e-9,
    mistakes={
        "the parameter row uses last step's buffer: write w' in terms of (vr, vi, w) after substituting the new vr": (
            lambda **a: _radius_variant(**a, old_buffer=True)
        ),
        "the step size is missing in front of J in the parameter row": (
            lambda **a: _radius_variant(**a, no_lr=True)
        ),
        "that is gradient descent's radius: the momentum buffers are part of the state the operator acts on": (
            lambda **a: _radius_variant(**a, gd_only=True)
        ),
        "the spectral radius is the largest modulus |lambda| of the (complex) eigenvalues, not the largest real "
        "part": (
            lambda **a: _radius_variant(**a, modulus=False)
        ),
    },
    hint="write one step as a linear map of the stacked state (vr, vi, w), block by block as in the text's augmented "
         "operator, and take the largest eigenvalue modulus",
    hidden=lambda s: [_radius_case(s + k, k, (1, 3, 2)[k]) for k in range(3)],
    library=(games.spectral_radius, games.augmented_operator, games.best_rate),
)


def _exponent_variant(step, w0, k, *, per_step=True, squared=False, eigen=False, frozen=False, log10=False):
    n = w0.numel()
    if frozen:
        J = torch.linalg.matrix_power(torch.func.jacfwd(step)(w0).reshape(n, n), k)
    else:
        J = torch.func.jacfwd(lyapunov.unrolled(step, k))(w0).reshape(n, n)
    value = float(torch.linalg.eigvals(J).abs().max()) if eigen else float(torch.linalg.matrix_norm(J, ord=2))
    value = value**2 if squared else value
    logged = math.log10(value) if log10 else math.log(value)
    return logged / k if per_step else logged


def _exponent_case(seed: int, n: int | None = None, k: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        gen = torch.Generator().manual_seed(3600 + seed)
        n_ = n or 2 + seed % 3
        k_ = k or (3, 5, 9, 14)[seed % 4]
        A = torch.randn(n_, n_, generator=gen, dtype=D)
        M = 0.5 * A / math.sqrt(n_) + torch.triu(torch.ones(n_, n_, dtype=D), 1)  # not normal
        c = torch.randn(n_, generator=gen, dtype=D)

        def step(w: Tensor) -> Tensor:  # gradient play on a nonlinear game-like field
            return w - 0.15 * (M @ w + torch.tanh(w + c) ** 3)

        return {"step": step, "w0": torch.randn(n_, generator=gen, dtype=D), "k": k_}

    return make


def _logistic_case(r: float, start: float, k: int) -> Callable[[], dict]:
    return lambda: {"step": lambda x: r * x * (1 - x), "w0": torch.tensor([start], dtype=D), "k": k}


EXPONENT = Exercise(
    id="12.3",
    name="lyapunov_exponent",
    reference=lyapunov.exact_max_lyapunov,
    cases=[_exponent_case(s) for s in range(4)] + [_logistic_case(3.7, 0.3, 6)],
    atol=1e-7,
    rtol=1e-6,
    mistakes={
        "the exponent is a rate per step: divide the log of the stretch by the number of steps k": (
            lambda step, w0, k: _exponent_variant(step, w0, k, per_step=False)
        ),
        "that is twice the exponent: the largest eigenvalue of J_k^T J_k is sigma_max squared": (
            lambda step, w0, k: _exponent_variant(step, w0, k, squared=True)
        ),
        "that is the largest eigenvalue modulus of J_k; the exponent uses its largest singular value (they differ "
        "when J_k is not normal)": (
            lambda step, w0, k: _exponent_variant(step, w0, k, eigen=True)
        ),
        "the k-step Jacobian is the product of the one-step Jacobians along the run w_0, ..., w_{k-1}, not the first "
        "one k times": (
            lambda step, w0, k: _exponent_variant(step, w0, k, frozen=True)
        ),
        "Lyapunov exponents use the natural logarithm": (
            lambda step, w0, k: _exponent_variant(step, w0, k, log10=True)
        ),
    },
    hint="the definition in the text: differentiate k applications of the step with respect to the start, and measure "
         "how much that matrix stretches its most stretched direction",
    hidden=lambda s: [_exponent_case(s + k, (1, 5, 3)[k], (1, 20, 3)[k]) for k in range(3)],
    library=(lyapunov.exact_max_lyapunov, lyapunov.max_lyapunov, lyapunov.lyapunov_objective),
)


complex_momentum_step = checker(STEP, "one step of Alg. 12 on 5 cases (vectors of 1 to 5 entries, arg beta 0.15 to 2.95).")
momentum_spectral_radius = checker(RADIUS, "the augmented operator's radius on 6 games (bilinear, rotation, general).")
lyapunov_exponent = checker(EXPONENT, "k-step exponents of 4 non-normal nonlinear maps and the logistic map.")
