"""The 1-D toy meta-loss: values, gradient, extrema and the chaotic outer loss of Crouther (2023) / Metz (2021)."""

import pytest
import torch

from learnopt_course.tasks import toy_grad, toy_loss, toy_outer_loss


def test_gradient_matches_autograd():
    x = torch.linspace(-6, 6, 301, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(toy_loss(x).sum(), x)
    assert torch.allclose(toy_grad(x.detach()), auto, atol=1e-12)


def test_global_and_local_minimum():
    x = torch.linspace(-3, 3, 600001, dtype=torch.float64)
    f = toy_loss(x)
    i = int(f.argmin())
    assert abs(float(x[i]) + 0.4273) < 1e-3 and abs(float(f[i]) - 0.0040) < 1e-3
    right = x > 0.5
    j = int(f[right].argmin())
    assert abs(float(x[right][j]) - 1.2446) < 1e-3 and abs(float(f[right][j]) - 2.1886) < 1e-3


@pytest.mark.parametrize("lr, expected", [(0.095, 1.8351), (0.100, 2.6117), (0.105, 3.3569)])
def test_outer_loss_reproduces_reference_values(lr, expected):
    # one run at a time (a 0-d tensor): vectorised runs round differently and chaos amplifies it
    assert abs(float(toy_outer_loss(lr, 0.9)) - expected) < 1e-3


def test_outer_loss_is_differentiable_and_chaotic():
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(toy_outer_loss(lr), lr)
    assert torch.isfinite(d)
    lrs = torch.logspace(-2, -0.5, 400, dtype=torch.float64)
    values = toy_outer_loss(lrs)
    slope_signs = torch.sign(values.diff())
    assert int((slope_signs.diff() != 0).sum()) > 20


def test_bad_steps():
    with pytest.raises(ValueError, match="steps must be a positive integer; got 0"):
        toy_outer_loss(0.1, steps=0)
