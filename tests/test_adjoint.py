"""Adjoints: costate recursion = forward sensitivities = autograd (1e-8, float64); continuous adjoint; training loop."""

import pytest
import torch

from learnopt_course.meta import adjoint as adj
from learnopt_course.meta import unroll


@pytest.fixture
def controls():
    return 2.0 * torch.randn(20, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("jacobians", [False, True])
def test_pendulum_adjoint_equals_autograd_and_forward_sensitivities(controls, jacobians):
    problem = adj.pendulum(T=20)
    reference = adj.autograd_gradient(problem, controls)
    assert reference.abs().max() > 1e-3
    assert torch.allclose(adj.adjoint_gradient(problem, controls, jacobians=jacobians), reference, atol=1e-8, rtol=0)
    assert torch.allclose(adj.forward_sensitivity_gradient(problem, controls), reference, atol=1e-8, rtol=0)


def test_linear_quadratic_with_many_controls():
    problem = adj.linear_quadratic(D=6, M=3, seed=1)
    U = torch.randn(15, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    reference = adj.autograd_gradient(problem, U)
    assert torch.allclose(adj.adjoint_gradient(problem, U), reference, atol=1e-8, rtol=0)
    assert torch.allclose(adj.forward_sensitivity_gradient(problem, U), reference, atol=1e-8, rtol=0)


def test_adjoint_descends_the_cost(controls):
    problem = adj.pendulum()
    U = torch.zeros(20, 1, dtype=torch.float64)
    start = float(problem.cost(U))
    for _ in range(200):
        U = U - 0.5 * adj.adjoint_gradient(problem, U)
    assert float(problem.cost(U)) < 0.7 * start


def test_continuous_adjoint_matches_backprop_through_rk4():
    F = lambda x, th: torch.stack([x[1], -th[0] * torch.sin(x[0]) - th[1] * x[1]])  # noqa: E731
    x0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    th = torch.tensor([2.0, 0.3], dtype=torch.float64)
    loss = lambda x: (x**2).sum()  # noqa: E731
    a_x0, a_th = adj.ode_adjoint_gradient(F, x0, th, 3.0, 200, loss)
    x0l, thl = x0.clone().requires_grad_(), th.clone().requires_grad_()
    g_x0, g_th = torch.autograd.grad(loss(adj.odeint_rk4(F, x0l, thl, 3.0, 200)), (x0l, thl))
    assert torch.allclose(a_x0, g_x0, rtol=1e-6) and torch.allclose(a_th, g_th, rtol=1e-6)
    # with few steps the two differ by the discretisation error: optimise-then-discretise != discretise-then-optimise
    c_x0, _ = adj.ode_adjoint_gradient(F, x0, th, 3.0, 8, loss)
    x0l = x0.clone().requires_grad_()
    (d_x0,) = torch.autograd.grad(loss(adj.odeint_rk4(F, x0l, th, 3.0, 8)), x0l)
    assert (c_x0 - d_x0).abs().max() > 1e-6


def test_adjoint_of_a_training_loop_is_backprop_through_the_unroll():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = M @ M.T / 4 + 0.1 * torch.eye(4, dtype=torch.float64)
    w0 = torch.randn(4, generator=g, dtype=torch.float64)
    loss = lambda w: 0.5 * w @ A @ w + torch.sin(w).sum()  # noqa: E731
    problem = adj.ControlProblem(
        dynamics=lambda w, u: w - u[0] * torch.func.grad(loss)(w),
        stage=lambda w, u: torch.zeros((), dtype=w.dtype),
        terminal=loss,
        x0=w0,
    )
    lrs = torch.full((12, 1), 0.2, dtype=torch.float64)
    via_adjoint = adj.adjoint_gradient(problem, lrs)[:, 0]
    (via_unroll,) = unroll.hypergradient(
        lambda s: unroll.unrolled_loss(lambda w, t: loss(w), w0, "sgd", lambda t: {"lr": s[t]}, 12), [lrs[:, 0]]
    )
    assert torch.allclose(via_adjoint, via_unroll, atol=1e-12, rtol=1e-10)


def test_bad_controls_shape():
    with pytest.raises(ValueError, match=r"U must have shape \[T, M\]; got \(20,\)"):
        adj.pendulum().rollout(torch.zeros(20, dtype=torch.float64))
