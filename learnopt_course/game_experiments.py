"""Lesson 12's experiments, each a function its notebook calls:

* E12.1 :func:`rate_heatmap`: the spectral radius of simultaneous complex momentum over ``(|beta|, arg beta)`` at a
  fixed step (Lorraine 2023, Fig. 4.3's kind of plot);
* E12.2 :func:`adversarial_sweep`: from cooperative to adversarial games (:func:`games.rotation_game`), the best rate
  of gradient descent, heavy ball and complex momentum, and the best ``arg beta`` (sec. 4.4.2);
* E12.3 :func:`dirac_gan_runs`: distance to the equilibrium of the Dirac GAN under gradient descent and complex
  momentum (sec. 4.4, Fig. 4.4);
* E12.4 :func:`find_both_minima`: generalized Ridge Rider's branching at the point of largest Lyapunov exponent
  against random restarts, on a double well whose starts mostly lie in one basin (sec. 5.4; Alg. 13's first level);
* E12.5 :func:`ipd_runs`: naive simultaneous gradient descent and LOLA in the iterated prisoner's dilemma (sec. 5.5,
  Table 5.1's setting; Foerster et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from . import games, lyapunov
from .meta.engine import minimize
from .optimizers import sgd
from .optimizers.complex import complex_momentum


def rate_heatmap(J: Tensor, lr: float, beta_abs: Tensor, beta_args: Tensor) -> Tensor:
    """``rho[i, j]`` of simultaneous complex momentum with ``|beta| = beta_abs[i]``, ``arg beta = beta_args[j]``."""
    return torch.tensor([[games.spectral_radius(J, lr, games.polar(r, a)) for a in beta_args.tolist()]
                         for r in beta_abs.tolist()], dtype=torch.float64)


@dataclass
class SweepRow:
    phase: float  # arg of the game Jacobian's eigenvalues: 0 cooperative, pi/2 adversarial
    gd: float
    heavy_ball: float
    complex: float
    best_arg: float  # arg beta of the best complex momentum


def adversarial_sweep(phases: Tensor, lrs: Tensor, beta_abs: Tensor, beta_args: Tensor) -> list[SweepRow]:
    """For each phase, the best spectral radius of the three methods on the same grid (complex's grid contains
    heavy ball's, which contains gradient descent's)."""
    rows = []
    for phase in phases.tolist():
        J = games.rotation_game(phase).jacobian(torch.zeros(2, dtype=torch.float64))
        gd = games.best_rate(J, "gd", lrs, beta_abs, beta_args)[0]
        hb = games.best_rate(J, "heavy_ball", lrs, beta_abs, beta_args)[0]
        cm, (_, beta) = games.best_rate(J, "complex", lrs, beta_abs, beta_args)
        rows.append(SweepRow(phase, gd, hb, cm, abs(math.atan2(beta.imag, beta.real))))
    return rows


def dirac_gan_runs(start: Tensor, steps: int, gd_lr: float, cm: dict) -> dict[str, Tensor]:
    """Distance to the Dirac GAN's equilibrium ``(0, 0)`` along simultaneous gradient descent (step ``gd_lr``) and
    complex momentum (hyperparameters ``cm``)."""
    gan = games.dirac_gan()
    return {"gradient descent": games.simultaneous(gan, sgd, start, steps, {"lr": gd_lr}).norm(dim=1),
            "complex momentum": games.simultaneous(gan, complex_momentum, start, steps, cm).norm(dim=1)}


def double_well(tilt: float = 0.0):
    """``f(w) = (w^2 - 1)^2 / 4 + tilt w``: two minima near ``+-1`` separated at ``w ~ 0``; gradient ``w^3 - w + tilt``."""
    return lambda w: ((w**2 - 1) ** 2 / 4 + tilt * w).sum()


def double_well_step(lr: float = 0.1, tilt: float = 0.0):
    """The map of one step of gradient descent (the engine's) on :func:`double_well`."""
    return lyapunov.optimizer_step(double_well(tilt), "sgd", {"lr": lr}, gradient=lambda w: w**3 - w + tilt)


def double_well_descent(steps: int, lr: float = 0.1, tilt: float = 0.0):
    """Start -> end point of ``steps`` steps of gradient descent on :func:`double_well` (one run of the engine)."""
    return lambda w: minimize(double_well(tilt), w, "sgd", {"lr": lr}, steps).final.detach()


def find_both_minima(seeds: int, start_mean: float = 0.7, start_std: float = 0.3, runs: int = 2, steps: int = 300,
                     ascent_steps: int = 20) -> dict[str, float]:
    """The fraction of seeds that find both minima of the double well with ``runs`` optimizer runs each: random
    restarts from starts ``N(start_mean, start_std^2)`` (most in the right basin), against branching: from one such
    start, ascend the 5-step Lyapunov exponent (``ascent_steps`` steps, extra compute the restarts do not spend),
    then run from both sides of the point found (``runs = 2`` runs)."""
    step, run = double_well_step(), double_well_descent(steps)
    found = {"random restarts": 0, "branching": 0}
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        starts = start_mean + start_std * torch.randn(runs + 1, 1, generator=g, dtype=torch.float64)
        with torch.no_grad():
            ends = {round(float(torch.sign(run(s))), 0) for s in starts[:runs]}
        found["random restarts"] += len(ends) == 2
        # one dimension: the direction is +-1, two power iterations are plenty
        point, _ = lyapunov.maximize(step, starts[runs], k=5, steps=ascent_steps, lr=0.5, generator=g, iterations=2)
        ends = {round(float(torch.sign(e)), 0) for e in lyapunov.branch(step, point, eps=1e-3, steps=steps, run=run)}
        found["branching"] += len(ends) == 2
    return {k: v / seeds for k, v in found.items()}


@dataclass
class IPDRun:
    eta: float  # LOLA's look-ahead (0: naive simultaneous gradient descent)
    seed: int
    cooperate_a: Tensor  # A's cooperation probabilities: first move, after CC, CD, DC, DD (own move first)
    cooperate_b: Tensor  # B's, from B's side: first move, after CC, CD, DC, DD (B's own move first)
    value_a: float  # discounted values (-25: both always cooperate, -50: both always defect)
    value_b: float


def ipd_runs(etas: tuple[float, ...], seeds: int, steps: int = 300, lr: float = 1.0, init_std: float = 0.5,
             gamma: float = 0.96) -> list[IPDRun]:
    """Both players descend their exact loss in the iterated prisoner's dilemma (:func:`games.ipd`) from the same random
    memory-one policies (logits ``N(0, init_std^2)``, seed ``s``): naive learners (``eta = 0``) or LOLA learners
    (:func:`games.lola_gradient` with look-ahead ``eta``), ``steps`` steps of size ``lr`` (Foerster et al. 2018 use
    exact values and step 1)."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer; got {seeds!r}")
    game, out = games.ipd(gamma), []
    for eta in etas:
        for seed in range(seeds):
            w0 = init_std * torch.randn(10, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            field = (lambda w, e=eta: games.lola_gradient(game, w, e)) if eta else None
            w = games.simultaneous(game, sgd, w0, steps, {"lr": lr}, gradient=field)[-1]
            x, y = game.split(w)
            va, vb = games.ipd_values(x, y, gamma)
            out.append(IPDRun(eta, seed, torch.sigmoid(x), torch.sigmoid(y), float(va), float(vb)))
    return out
