"""2-D landscapes: analytic gradients equal autograd, minima are minima, bad input is rejected clearly."""

import math

import pytest
import torch

from learnopt_course import tasks
from learnopt_course.tasks import NoisyGradient, Quadratic, make_landscape


@pytest.mark.parametrize("name", sorted(tasks.LANDSCAPES))
def test_gradient_matches_autograd(name):
    land = make_landscape(name)
    xy = (torch.rand(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5) * 4
    xy.requires_grad_(True)
    (auto,) = torch.autograd.grad(land(xy).sum(), xy)
    assert torch.allclose(land.gradient(xy.detach()), auto, atol=1e-10)


@pytest.mark.parametrize("name", sorted(tasks.LANDSCAPES))
def test_minima_are_stationary_and_lowest(name):
    land = make_landscape(name)
    m = land.minima
    assert torch.allclose(land.gradient(m), torch.zeros_like(m), atol=1e-12)
    X, Y, Z = land.grid(81)
    assert float(Z.min()) >= land.min_value - 1e-12


def test_quadratic_condition_number():
    q = Quadratic(kappa=100.0, L=2.0)
    eig = torch.linalg.eigvalsh(q.A)
    assert math.isclose(float(eig.max() / eig.min()), 100.0, rel_tol=1e-10)
    assert math.isclose(float(eig.max()), 2.0, rel_tol=1e-12) and math.isclose(q.mu, 0.02)
    with pytest.raises(ValueError, match="kappa must be >= 1; got 0.5"):
        Quadratic(kappa=0.5)


def test_noisy_gradient_is_unbiased_with_right_spread():
    land = NoisyGradient(Quadratic(kappa=10.0), sigma=0.5, generator=torch.Generator().manual_seed(1))
    xy = torch.tensor([[0.7, -0.3]], dtype=torch.float64).expand(20000, 2)
    noisy = land.gradient(xy)
    exact = land.base.gradient(xy)
    assert torch.allclose(noisy.mean(0), exact[0], atol=0.02)
    assert abs(float((noisy - exact).std()) - 0.5) < 0.01
    assert torch.equal(land(xy), land.base(xy))


def test_bad_points_and_names():
    with pytest.raises(ValueError, match=r"last dimension of size 2; got shape \(3, 3\)"):
        Quadratic()(torch.zeros(3, 3))
    with pytest.raises(TypeError, match="xy must be a torch.Tensor"):
        Quadratic()([0.0, 0.0])
    with pytest.raises(KeyError, match="landscape must be one of"):
        make_landscape("himalaya")
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        NoisyGradient(sigma=-1.0)
