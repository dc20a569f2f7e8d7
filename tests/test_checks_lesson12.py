"""Lesson 12 checkers accept correct answers written another way and reject known-wrong variants (a sequentially
updated buffer, the old buffer, the conjugate, the real part of the eigenvalues, sigma squared, a frozen Jacobian)."""

import math

import torch

from learnopt_course import lyapunov
from learnopt_course.checks import lesson12
from learnopt_course.checks.core import grade_exercise
from learnopt_course.checks.lesson12 import _exponent_variant, _radius_variant, _step_variant

from checker_harness import make_checker_tests


def complex_arithmetic_step(w, g, vr, vi, lr, beta_abs, beta_arg):
    """Alg. 7 with a complex buffer (another way to the same answer)."""
    mu = torch.complex(vr, vi) * complex(beta_abs * math.cos(beta_arg), beta_abs * math.sin(beta_arg)) - g
    return w + lr * mu.real, mu.real, mu.imag


def radius_by_simulation_free_matrix(J, lr, beta_abs, beta_arg):
    """The augmented operator built column by column from one step applied to the basis vectors."""
    n = J.shape[0]
    columns = []
    for e in torch.eye(3 * n, dtype=torch.float64):
        vr, vi, w = e[:n], e[n:2 * n], e[2 * n:]
        w2, vr2, vi2 = complex_arithmetic_step(w, J @ w, vr, vi, lr, beta_abs, beta_arg)
        columns.append(torch.cat([vr2, vi2, w2]))
    return float(torch.linalg.eigvals(torch.stack(columns, 1)).abs().max())


def exponent_written_out(step, w0, k):
    def run(w):
        for _ in range(k):
            w = step(w)
        return w

    J = torch.autograd.functional.jacobian(run, w0)
    return math.log(float(torch.linalg.svdvals(J)[0])) / k


CHECKERS = {
    "12.1": (
        lesson12.complex_momentum_step,
        complex_arithmetic_step,
        {
            "sequential buffers": (lambda **a: _step_variant(**a, sequential=True), "already updated in this step"),
            "old buffer": (lambda **a: _step_variant(**a, old_buffer=True), "last step's buffer"),
            "plus gradient": (lambda **a: _step_variant(**a, plus_g=True), "wrong sign"),
            "real beta": (lambda **a: _step_variant(**a, real=True), "beta is complex"),
            "conjugate": (lambda **a: _step_variant(**a, conjugate=True), "conjugate of beta"),
            "detached": (lambda **a: tuple(t.detach() for t in complex_arithmetic_step(**a)), "gradient"),
        },
    ),
    "12.2": (
        lesson12.momentum_spectral_radius,
        radius_by_simulation_free_matrix,
        {
            "old buffer": (lambda **a: _radius_variant(**a, old_buffer=True), "last step's buffer"),
            "no lr": (lambda **a: _radius_variant(**a, no_lr=True), "step size is missing"),
            "gd only": (lambda **a: _radius_variant(**a, gd_only=True), "gradient descent's radius"),
            "real part": (lambda **a: _radius_variant(**a, modulus=False), "largest modulus"),
        },
    ),
    "12.3": (
        lesson12.lyapunov_exponent,
        exponent_written_out,
        {
            "no 1/k": (lambda step, w0, k: _exponent_variant(step, w0, k, per_step=False), "rate per step"),
            "sigma squared": (lambda step, w0, k: _exponent_variant(step, w0, k, squared=True), "twice the exponent"),
            "eigenvalue": (lambda step, w0, k: _exponent_variant(step, w0, k, eigen=True), "largest eigenvalue modulus"),
            "frozen Jacobian": (lambda step, w0, k: _exponent_variant(step, w0, k, frozen=True), "not the first one k times"),
            "log10": (lambda step, w0, k: _exponent_variant(step, w0, k, log10=True), "natural logarithm"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)


def test_hidden_cases_pass_the_reference_and_fail_the_mistakes_for_any_grading_seed():
    for seed in (0, 7, 123456789, 2**40):
        for exercise, (_, reference, table) in CHECKERS.items():
            from learnopt_course.checks import registry

            ex = registry()[exercise]
            assert grade_exercise(ex, reference, seed)["status"] == "passed", (exercise, seed)
            wrong = next(iter(table.values()))[0]
            assert grade_exercise(ex, wrong, seed)["status"] != "passed", (exercise, seed)


def test_the_library_implementations_score_zero():
    from learnopt_course import games
    from learnopt_course.checks import registry

    calls_library = lambda J, lr, beta_abs, beta_arg: games.spectral_radius(J, lr, games.polar(beta_abs, beta_arg))  # noqa: E731
    assert grade_exercise(registry()["12.2"], calls_library, 0)["status"] == "uses library"
    assert grade_exercise(registry()["12.3"], lyapunov.exact_max_lyapunov, 0)["status"] == "uses library"


def test_power_iteration_passes_the_exponent_check(capsys):
    """The library's JVP/VJP power iteration meets the checker's tolerance (a student may write either)."""
    lesson12.lyapunov_exponent(lambda step, w0, k: lyapunov.max_lyapunov(step, w0, k, iterations=500, tol=1e-14))
    assert "correct" in capsys.readouterr().out
