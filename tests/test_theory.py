"""Lesson 01 theory: rates and parameters agree with measured runs; bad input is rejected."""

import math

import pytest
import torch

from learnopt_course import theory
from learnopt_course import optimizers as optim
from learnopt_course.tasks import NoisyGradient, Quadratic


def _measured_rate(run, tail=20):
    e = torch.stack([p.norm() for p in run.params[-tail:]])
    return float((e[-1] / e[0]) ** (1 / (tail - 1)))


@pytest.mark.parametrize("kappa", [4.0, 30.0, 200.0])
def test_rates_match_runs(kappa):
    q = Quadratic(kappa=kappa)
    x0 = torch.tensor(q.start, dtype=torch.float64)
    steps = int(12 * kappa)
    gd = optim.minimize(q, x0, "sgd", {"lr": 2 / (q.L + q.mu)}, steps=steps, grad_fn=q.gradient)
    assert math.isclose(_measured_rate(gd), theory.gd_rate(q.mu, q.L), rel_tol=1e-6)
    lr, m = theory.polyak_parameters(q.mu, q.L)
    hb = optim.minimize(q, x0, "heavy_ball", {"lr": lr, "momentum": m}, steps=max(300, steps // 4), grad_fn=q.gradient)
    # critically damped extremes add a polynomial factor, so the measured rate approaches theory from above
    assert theory.heavy_ball_rate(q.mu, q.L) <= _measured_rate(hb) < theory.heavy_ball_rate(q.mu, q.L) * 1.02
    lr, m = theory.nesterov_parameters(q.mu, q.L)
    nv = optim.minimize(q, x0, "nesterov", {"lr": lr, "momentum": m}, steps=max(300, steps // 4), grad_fn=q.gradient)
    assert theory.nesterov_rate(q.mu, q.L) <= _measured_rate(nv) < theory.nesterov_rate(q.mu, q.L) * 1.02


def test_heavy_ball_needs_5x_fewer_iterations_at_kappa_100():
    q = Quadratic(kappa=100.0)
    x0 = torch.tensor(q.start, dtype=torch.float64)

    def iterations(opt, hp):
        run = optim.minimize(q, x0, opt, hp, steps=1000, grad_fn=q.gradient)
        return int(torch.nonzero(run.losses / run.losses[0] <= 1e-6)[0])

    lr, m = theory.polyak_parameters(q.mu, q.L)
    assert iterations("sgd", {"lr": 2 / (q.L + q.mu)}) >= 5 * iterations("heavy_ball", {"lr": lr, "momentum": m})


def test_noise_floor_matches_simulation():
    q = Quadratic(kappa=1.0, L=2.0)  # A = 2 I
    noisy = NoisyGradient(q, sigma=0.3, generator=torch.Generator().manual_seed(0))
    x0 = torch.zeros(4000, 2, dtype=torch.float64)
    run = optim.minimize(q, x0, "sgd", {"lr": 0.2}, steps=300, grad_fn=noisy.gradient)
    predicted = 2 * theory.sgd_noise_floor(0.2, 2.0, 0.3)
    assert abs(float(run.losses[-100:].mean()) / predicted - 1) < 0.03


def test_iterations_to_and_validation():
    assert theory.iterations_to(0.5, 1e-3) == 10
    assert theory.iterations_to(0.0, 1e-3) == 0
    with pytest.raises(ValueError, match="rate must be in"):
        theory.iterations_to(1.0, 1e-3)
    with pytest.raises(ValueError, match="need 0 < mu <= L; got mu=2.0, L=1.0"):
        theory.polyak_parameters(2.0, 1.0)
    with pytest.raises(ValueError, match="0 < lr \\* curvature < 2"):
        theory.sgd_noise_floor(1.0, 3.0, 0.1)
    assert theory.polyak_parameters(1.0, 1.0) == (1.0, 0.0)
