"""Differentiable games for lesson 12 (Lorraine 2023, ch. 4-5): bilinear zero-sum games and the Dirac GAN, their
joint gradient field and game Jacobian, and simultaneous and alternating steps of any functional optimizer.

A two-player game has losses ``L_A(x, y)`` and ``L_B(x, y)``; player A moves ``x``, B moves ``y``. The *joint
gradient* ``g(w) = (d L_A / dx, d L_B / dy)`` at ``w = (x, y)`` is not the gradient of any one function when the
game is adversarial, and its Jacobian ``J`` (the *game Jacobian*) is not symmetric: on the bilinear game
``L_A = x^T G y = -L_B`` it is ``[[0, G], [-G^T, 0]]``, with purely imaginary eigenvalues ``+- i sigma(G)``, which is
why simultaneous gradient descent spirals out (Mescheder et al. 2018; Gidel et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .optimizers.base import Optimizer


@dataclass
class Game:
    """A two-player game on a flat parameter vector ``w = (x, y)``, ``x = w[:nx]``: the losses of A and B."""

    nx: int
    loss_a: Callable[[Tensor, Tensor], Tensor]
    loss_b: Callable[[Tensor, Tensor], Tensor]

    def split(self, w: Tensor) -> tuple[Tensor, Tensor]:
        return w[..., : self.nx], w[..., self.nx:]

    def gradient(self, w: Tensor) -> Tensor:
        """The joint gradient ``(dL_A/dx, dL_B/dy)`` at ``w``, by ``torch.func.grad``: it composes with
        ``torch.func.jvp``/``vjp`` (Lyapunov exponents, :mod:`learnopt_course.lyapunov`) and with autograd."""
        x, y = self.split(w)
        gx = torch.func.grad(lambda x_: self.loss_a(x_, y))(x)
        gy = torch.func.grad(lambda y_: self.loss_b(x, y_))(y)
        return torch.cat([gx, gy], -1)

    def jacobian(self, w: Tensor) -> Tensor:
        """The game Jacobian ``d g / d w`` at ``w`` (``[n, n]``, not symmetric in general)."""
        return torch.func.jacfwd(self.gradient)(w)


def bilinear(G: Tensor) -> Game:
    """The zero-sum bilinear game ``L_A(x, y) = x^T G y = -L_B`` (``G = [[1.]]``: the game ``xy``), equilibrium 0."""
    if G.dim() != 2:
        raise ValueError(f"G must be a matrix; got a tensor of shape {tuple(G.shape)}")
    return Game(G.shape[0], lambda x, y: x @ G @ y, lambda x, y: -(x @ G @ y))


def bilinear_jacobian(G: Tensor) -> Tensor:
    """The game Jacobian of :func:`bilinear`: ``[[0, G], [-G^T, 0]]`` (constant)."""
    m, n = G.shape
    top = torch.cat([torch.zeros(m, m, dtype=G.dtype), G], 1)
    bottom = torch.cat([-G.T, torch.zeros(n, n, dtype=G.dtype)], 1)
    return torch.cat([top, bottom], 0)


def dirac_gan() -> Game:
    """The Dirac GAN (Mescheder et al. 2018): the generator is a point mass at ``theta``, the discriminator
    ``D(x) = psi x``, data at 0; ``L(theta, psi) = f(psi theta) + f(0)`` with ``f(t) = -log(1 + e^{-t})``; the
    discriminator maximises it, the generator minimises it. Equilibrium ``(0, 0)``, game Jacobian ``[[0, f'(0)],
    [-f'(0), 0]]`` there (purely imaginary eigenvalues)."""
    f = lambda t: -torch.nn.functional.softplus(-t)  # noqa: E731  (-log(1 + e^{-t}), stable)
    value = lambda theta, psi: (f(psi * theta) + f(torch.zeros_like(theta))).sum()  # noqa: E731
    return Game(1, value, lambda theta, psi: -value(theta, psi))


def simultaneous(game: Game, opt: Optimizer, w0: Tensor, steps: int, hp: dict | None = None) -> Tensor:
    """``steps`` simultaneous steps: both players step on the joint gradient at the same point. Returns the iterates
    ``[steps + 1, n]``."""
    w, state, path = w0.detach().clone(), opt.init({"w": w0.detach()}), [w0.detach().clone()]
    for _ in range(steps):
        params, state = opt.step({"w": w}, {"w": game.gradient(w)}, state, hp)
        w = params["w"].detach()
        path.append(w)
    return torch.stack(path)


def alternating(game: Game, opt: Optimizer, w0: Tensor, steps: int, hp: dict | None = None) -> Tensor:
    """``steps`` alternating steps: A steps first, then B steps on the gradient at A's new point (Gidel et al.
    2019; Lorraine 2023, sec. 4.3). Each player has its own optimizer state. Returns the iterates ``[steps + 1, n]``."""
    x, y = (t.detach().clone() for t in game.split(w0))
    sa, sb = opt.init({"w": x}), opt.init({"w": y})
    path = [w0.detach().clone()]
    for _ in range(steps):
        gx = game.split(game.gradient(torch.cat([x, y])))[0]
        params, sa = opt.step({"w": x}, {"w": gx}, sa, hp)
        x = params["w"].detach()
        gy = game.split(game.gradient(torch.cat([x, y])))[1]
        params, sb = opt.step({"w": y}, {"w": gy}, sb, hp)
        y = params["w"].detach()
        path.append(torch.cat([x, y]))
    return torch.stack(path)


def augmented_operator(J: Tensor, lr: float, beta: complex) -> Tensor:
    """The linear map of simultaneous complex momentum on the field ``g(w) = J w``, acting on ``(vr, vi, w)``
    (Lorraine 2023, sec. 4.3; Alg. 12 written as one matrix):
    ``[[Re b I, -Im b I, -J], [Im b I, Re b I, 0], [lr Re b I, -lr Im b I, I - lr J]]``."""
    n = J.shape[0]
    eye, zero = torch.eye(n, dtype=J.dtype), torch.zeros(n, n, dtype=J.dtype)
    br, bi = beta.real, beta.imag
    return torch.cat([torch.cat([br * eye, -bi * eye, -J], 1),
                      torch.cat([bi * eye, br * eye, zero], 1),
                      torch.cat([lr * br * eye, -lr * bi * eye, eye - lr * J], 1)], 0)


def spectral_radius(J: Tensor, lr: float, beta: complex) -> float:
    """``rho`` of :func:`augmented_operator`: simultaneous complex momentum converges linearly iff ``rho < 1``, and
    ``rho`` is its rate (the distance to the equilibrium shrinks like ``rho^t``). ``beta`` real is heavy ball,
    ``beta = 0`` gradient descent (``rho = |1 - lr lambda|`` over the eigenvalues of ``J``)."""
    return float(torch.linalg.eigvals(augmented_operator(J.to(torch.float64), lr, complex(beta))).abs().max())


def polar(beta_abs: float, beta_arg: float) -> complex:
    """``|beta| e^{i arg beta}`` as a Python complex."""
    return complex(beta_abs * math.cos(beta_arg), beta_abs * math.sin(beta_arg))
