"""Lesson 01 checkers accept the reference and reject known-wrong variants; stubs pass NotImplementedError through."""

import math

import pytest
import torch

from learnopt_course import theory
from learnopt_course import optimizers as optim
from learnopt_course.checks import lesson01
from learnopt_course.checks.core import CheckFailed

from checker_harness import make_checker_tests


# ---- Exercise 1.1 ------------------------------------------------------------------------------------------------
HEAVY_BALL_WRONG = {
    "wrong sign of momentum": (lambda x, x_prev, grad, lr, momentum: x - lr * grad - momentum * (x - x_prev), "points backwards"),
    "uphill": (lambda x, x_prev, grad, lr, momentum: x + lr * grad + momentum * (x - x_prev), "goes uphill"),
    "detached graph": (
        lambda x, x_prev, grad, lr, momentum: (x - lr * grad + momentum * (x - x_prev)).detach(), "do not flow"
    ),
    "off by one step (from x_prev)": (
        lambda x, x_prev, grad, lr, momentum: x_prev - lr * grad + momentum * (x - x_prev), "compare each of the three terms with Crouther"
    ),
    "no momentum": (lambda x, x_prev, grad, lr, momentum: x - lr * grad, "you returned the plain gradient step; the mom"),
    "lr on both terms": (lambda x, x_prev, grad, lr, momentum: x - lr * (grad - momentum * (x - x_prev)), "the learning rate scales only the gradient, n"),
    "in-place on a copy without graph": (
        lambda x, x_prev, grad, lr, momentum: torch.tensor((x - lr * grad + momentum * (x - x_prev)).tolist(), dtype=x.dtype),
        "do not flow",
    ),
}


# ---- Exercise 1.2 ------------------------------------------------------------------------------------------------
POLYAK_WRONG = {
    "kappa not sqrt": (lambda mu, L: (4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((L / mu - 1) / (L / mu + 1)) ** 2), "the momentum depends on the square root of th"),
    "momentum not squared": (lambda mu, L: (theory.polyak_parameters(mu, L)[0], theory.heavy_ball_rate(mu, L)), "you returned the convergence rate as the mome"),
    "gd step": (lambda mu, L: (2 / (L + mu), theory.polyak_parameters(mu, L)[1]), "gradient descent's"),
    "swapped outputs": (lambda mu, L: tuple(reversed(theory.polyak_parameters(mu, L))), "both parameters are in the text's section on"),
    "mu and L swapped": (lambda mu, L: theory.polyak_parameters(min(mu, L), max(mu, L))[::-1] if mu == L else
                         (4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((math.sqrt(mu / L) - 1) / (math.sqrt(mu / L) + 1)) ** 2),
                         "both parameters are in the text's section on"),
}


def test_polyak_rejects_wrong_return_type(capsys):
    with pytest.raises(AssertionError):
        lesson01.polyak_parameters(lambda mu, L: "0.1, 0.9")


# ---- Exercise 1.3 ------------------------------------------------------------------------------------------------
NESTEROV_WRONG = {
    "gradient at x (heavy ball)": (
        lambda x, x_prev, grad_fn, lr, momentum: optim.polyak_step(x, x_prev, grad_fn(x), lr, momentum), "look-ahead point"
    ),
    "look-ahead backwards": (
        lambda x, x_prev, grad_fn, lr, momentum: optim.nesterov_position_step(x, 2 * x - x_prev, grad_fn, lr, momentum),
        "the look-ahead goes backwards: it should cont",
    ),
    "step from x": (lambda x, x_prev, grad_fn, lr, momentum: x - lr * grad_fn(x + momentum * (x - x_prev)), "from the look-ahead"),
    "detached": (
        lambda x, x_prev, grad_fn, lr, momentum: optim.nesterov_position_step(x, x_prev, grad_fn, lr, momentum).detach(),
        "do not flow",
    ),
}


CHECKERS = {
    "1.1": (lesson01.heavy_ball_step, optim.polyak_step, HEAVY_BALL_WRONG),
    "1.2": (lesson01.polyak_parameters, theory.polyak_parameters, POLYAK_WRONG),
    "1.3": (lesson01.nesterov_step, optim.nesterov_position_step, NESTEROV_WRONG),
}
test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)


def test_crash_in_student_code_is_reported_not_hidden(capsys):
    def crashes(x, x_prev, grad, lr, momentum):
        return x @ torch.zeros(7)

    with pytest.raises(CheckFailed) as info:
        lesson01.heavy_ball_step(crashes)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "raised RuntimeError" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="pass the function itself"):
        lesson01.heavy_ball_step(42)


def test_position_forms_equal_velocity_forms():
    """The two-point forms (the exercises' references) give the same iterates as the torch-style optimizers."""
    from learnopt_course.tasks import Rosenbrock

    land = Rosenbrock()
    x0 = torch.tensor(land.start, dtype=torch.float64)
    for opt, step in ((optim.heavy_ball, "polyak"), (optim.nesterov, "nesterov")):
        run = optim.minimize(land, x0, opt, {"lr": 2e-4, "momentum": 0.9}, steps=60, grad_fn=land.gradient)
        x_prev, x = x0, x0
        for _ in range(60):
            if step == "polyak":
                new = optim.polyak_step(x, x_prev, land.gradient(x), 2e-4, 0.9)
            else:
                new = optim.nesterov_position_step(x, x_prev, land.gradient, 2e-4, 0.9)
            x_prev, x = x, new
        if step == "polyak":
            assert torch.allclose(x, run.final, atol=1e-10)
        else:
            # torch's Nesterov iterates are the look-ahead points y_t = x_t + m (x_t - x_{t-1})
            assert torch.allclose(x + 0.9 * (x - x_prev), run.final, atol=1e-10)
