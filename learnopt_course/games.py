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


def simultaneous(game: Game, opt: Optimizer, w0: Tensor, steps: int, hp: dict | None = None,
                 gradient: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """``steps`` simultaneous steps: both players step on the joint gradient at the same point (or on ``gradient(w)``,
    e.g. LOLA's, :func:`lola_gradient`), through the engine's unroll (the joint gradient replaces autograd's; no loss is
    evaluated, as no single loss describes a game). Returns the iterates ``[steps + 1, n]``."""
    from .meta.engine import unroll

    field = game.gradient if gradient is None else gradient
    run = unroll(_no_loss, opt, w0.detach().clone(), steps, hp=hp, grad_fn=lambda w, t: field(w), record=True,
                 last_loss=False)
    return torch.stack([w.detach() for w in run.trajectory] + [run.params.detach()])


def _no_loss(w: Tensor, t: int) -> Tensor:
    """What the engine records as the loss of a game step: nothing is computed (the iterates are the result)."""
    return w.new_zeros(())


def alternating(game: Game, opt: Optimizer, w0: Tensor, steps: int, hp: dict | None = None) -> Tensor:
    """``steps`` alternating steps: A steps first, then B steps on the gradient at A's new point (Gidel et al.
    2019; Lorraine 2023, sec. 4.3). Each player has its own optimizer state; each half step is one step of the
    engine's unroll on that player's parameters. Returns the iterates ``[steps + 1, n]``."""
    from .meta.engine import unroll

    x, y = (t.detach().clone() for t in game.split(w0))
    sa, sb = opt.init(x), opt.init(y)
    path = [w0.detach().clone()]
    for _ in range(steps):
        run = unroll(_no_loss, opt, x, 1, hp=hp, state=sa, last_loss=False,
                     grad_fn=lambda x_, t: game.split(game.gradient(torch.cat([x_, y])))[0])
        x, sa = run.params.detach(), run.state
        run = unroll(_no_loss, opt, y, 1, hp=hp, state=sb, last_loss=False,
                     grad_fn=lambda y_, t: game.split(game.gradient(torch.cat([x, y_])))[1])
        y, sb = run.params.detach(), run.state
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


def matching_pennies() -> Game:
    """Matching pennies on the logits of heads, ``p = sigmoid(x)``, ``q = sigmoid(y)``: A wins (+1) when the coins
    match, B when they differ; ``L_A = -(2p - 1)(2q - 1) = -L_B``. Equilibrium at 1/2, 1/2 (logits 0): a pure
    rotation there, like ``xy``."""
    value = lambda x, y: ((2 * torch.sigmoid(x) - 1) * (2 * torch.sigmoid(y) - 1)).sum()  # noqa: E731
    return Game(1, lambda x, y: -value(x, y), value)


IPD_REWARDS = ((-1.0, -3.0, 0.0, -2.0), (-1.0, 0.0, -3.0, -2.0))  # per outcome CC, CD, DC, DD: A's, then B's
_B_SEES = (0, 1, 3, 2, 4)  # B's logits in A's state order: after CD (A cooperated, B defected) B sees DC


def ipd_values(x: Tensor, y: Tensor, gamma: float = 0.96) -> tuple[Tensor, Tensor]:
    """Exact discounted values of the iterated prisoner's dilemma for memory-one policies (Foerster et al. 2018,
    LOLA's setting; Lorraine 2023, sec. 5.5): each player has 5 logits, cooperation probabilities for the first move
    and after each last joint outcome CC, CD, DC, DD (own move first). With ``p0`` the first outcome's distribution
    and ``P`` the outcome-to-outcome transitions, ``V = p0^T (I - gamma P)^{-1} r`` (the discounted sum of the
    per-step payoffs ``r``: CC -1, CD -3 for the cooperator and 0 for the defector, DD -2)."""
    if not 0 < gamma < 1:
        raise ValueError(f"gamma must be in (0, 1); got {gamma!r}")
    pa, pb = torch.sigmoid(x), torch.sigmoid(y[list(_B_SEES)])
    outcomes = torch.stack([pa * pb, pa * (1 - pb), (1 - pa) * pb, (1 - pa) * (1 - pb)], -1)  # [5 states, 4]
    p0, P = outcomes[0], outcomes[1:]
    solve = torch.linalg.solve(torch.eye(4, dtype=x.dtype) - gamma * P.T, p0)  # (I - gamma P)^{-T} p0
    r = torch.tensor(IPD_REWARDS, dtype=x.dtype)
    return solve @ r[0], solve @ r[1]


def ipd(gamma: float = 0.96) -> Game:
    """The iterated prisoner's dilemma as a game of losses ``L = -V`` (:func:`ipd_values`), 5 + 5 logits."""
    return Game(5, lambda x, y: -ipd_values(x, y, gamma)[0], lambda x, y: -ipd_values(x, y, gamma)[1])


def lola_gradient(game: Game, w: Tensor, eta: float) -> Tensor:
    """LOLA's joint gradient (Foerster et al. 2018, first-order form): each player shapes the other's next step,
    ``g_A = grad_A L_A - eta (grad_A grad_B L_B) grad_B L_A`` and symmetrically for B; the opponent's gradient in the
    correction is held fixed. ``eta = 0`` is the plain joint gradient."""
    x, y = game.split(w)
    grad = torch.func.grad
    gb_la = grad(lambda y_: game.loss_a(x, y_))(y).detach()
    ga_lb = grad(lambda x_: game.loss_b(x_, y))(x).detach()
    shape_a = grad(lambda x_: grad(lambda y_: game.loss_b(x_, y_))(y) @ gb_la)(x)
    shape_b = grad(lambda y_: grad(lambda x_: game.loss_a(x_, y_))(x) @ ga_lb)(y)
    return game.gradient(w) - eta * torch.cat([shape_a, shape_b], -1)


def rotation_game(phase: float) -> Game:
    """A game family from cooperative to adversarial (our design for Lorraine 2023, sec. 4.4.2, whose family the notes
    could not recover): ``L_A = cos(phase) x^2 / 2 + sin(phase) x y``, ``L_B = cos(phase) y^2 / 2 - sin(phase) x y``.
    Its game Jacobian ``[[cos, sin], [-sin, cos]]`` has eigenvalues ``e^{+- i phase}``: ``phase = 0`` is minimising
    ``(x^2 + y^2) / 2`` together, ``phase = pi/2`` is the bilinear game ``xy``."""
    c, s = math.cos(phase), math.sin(phase)
    return Game(1, lambda x, y: (c * x * x / 2 + s * x * y).sum(), lambda x, y: (c * y * y / 2 - s * x * y).sum())


def best_rate(J: Tensor, kind: str, lrs: Tensor, beta_abs: Tensor, beta_args: Tensor) -> tuple[float, tuple]:
    """The smallest spectral radius of simultaneous steps on the field ``J w`` over a grid: ``kind`` ``"gd"`` (``beta =
    0``), ``"heavy_ball"`` (real ``beta`` in ``+- beta_abs``) or ``"complex"`` (``|beta| e^{i arg}``). Returns the
    radius and its ``(lr, beta)``."""
    if kind not in ("gd", "heavy_ball", "complex"):
        raise ValueError(f"kind must be 'gd', 'heavy_ball' or 'complex'; got {kind!r}")
    if kind == "gd":
        betas = [0j]
    elif kind == "heavy_ball":
        betas = [complex(sign * r) for r in beta_abs.tolist() for sign in (1, -1)]
    else:
        betas = [polar(r, a) for r in beta_abs.tolist() for a in beta_args.tolist()]
    return min((spectral_radius(J, lr, b), (lr, b)) for lr in lrs.tolist() for b in betas)


def nelder_mead(f: Callable[[list[float]], float], x0: list[float], scale: float = 0.05,
                iterations: int = 300) -> tuple[float, list[float]]:
    """Minimise ``f`` from ``x0`` with the Nelder-Mead simplex (reflection 1, expansion 2, contraction and shrink 1/2;
    Nelder & Mead 1965), ``iterations`` iterations from the simplex ``x0 + scale e_i``. Needs no gradient, so it suits
    a spectral radius, which is not differentiable where eigenvalues coalesce. Returns ``(f(x), x)``."""
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer; got {iterations!r}")
    n = len(x0)
    simplex = [list(x0)] + [[x0[j] + (scale if j == i else 0.0) for j in range(n)] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        centre = [sum(p[j] for p in simplex[:n]) / n for j in range(n)]
        towards = lambda t: [c + t * (c - w) for c, w in zip(centre, simplex[n])]  # noqa: E731
        reflected = towards(1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = towards(2.0)
            fe = f(expanded)
            simplex[n], values[n] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[n - 1]:
            simplex[n], values[n] = reflected, fr
        else:
            contracted = towards(-0.5)
            fc = f(contracted)
            if fc < values[n]:
                simplex[n], values[n] = contracted, fc
            else:  # shrink towards the best point
                simplex = [simplex[0]] + [[b + 0.5 * (x - b) for b, x in zip(simplex[0], p)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    best = min(range(n + 1), key=values.__getitem__)
    return values[best], simplex[best]


def fastest_complex_momentum(J: Tensor, starts: int = 8, iterations: int = 400) -> tuple[float, tuple[float, float, float]]:
    """A search for the smallest spectral radius of simultaneous complex momentum on the field ``J w`` over ``(lr,
    |beta|, arg beta)``: a coarse grid (8 steps from 0.2 to 0.9, 6 values of |beta| from 0.4 to 0.9, 9 arguments from
    0.1 pi to 0.5 pi), then :func:`nelder_mead` from each of its ``starts`` best points. At the minimum several
    eigenvalues of the augmented operator share the largest modulus and the radius rises like a square root around it:
    its valley is narrow, curved and flat along its floor, so a grid stops short of the bottom and one simplex stalls
    where it enters the valley; several starts reach points within a few thousandths of each other. Returns ``(rho,
    (lr, |beta|, arg beta))``. The lesson searches; it never hard-codes an optimum."""
    return complex_momentum_search(J, starts, iterations)[0]


def complex_momentum_search(J: Tensor, starts: int = 8,
                            iterations: int = 400) -> list[tuple[float, tuple[float, float, float]]]:
    """Every end point of :func:`fastest_complex_momentum`'s simplex searches, ``(rho, (lr, |beta|, arg beta))``,
    best first: how far apart the stops of one valley are."""
    if not isinstance(starts, int) or starts < 1:
        raise ValueError(f"starts must be a positive integer; got {starts!r}")
    rho = lambda p: spectral_radius(J, p[0], polar(p[1], p[2]))  # noqa: E731
    grid = [(a, b, c * math.pi) for a in torch.linspace(0.2, 0.9, 8).tolist() for b in torch.linspace(0.4, 0.9, 6).tolist()
            for c in torch.linspace(0.1, 0.5, 9).tolist()]
    ends = [nelder_mead(rho, list(p), scale=0.05, iterations=iterations) for p in sorted(grid, key=rho)[:starts]]
    return sorted((value, (p[0], p[1], p[2])) for value, p in ends)
