"""Lesson 03 checkers accept the references and reject known-wrong variants (transpose, sign, off-by-one sweep)."""

from learnopt_course.meta import adjoint
from learnopt_course.checks import lesson03
from learnopt_course.checks.lesson03 import _rk_wrong, _sweep_wrong

from checker_harness import make_checker_tests

CHECKERS = {
    "3.1": (
        lesson03.costate_step,
        adjoint.costate_step,
        {
            "missing transpose": (lambda lam_next, f_x, c_x: c_x + f_x @ lam_next, "transpose"),
            "missing c_x": (lambda lam_next, f_x, c_x: f_x.T @ lam_next, "own gradient"),
            "wrong sign": (lambda lam_next, f_x, c_x: c_x - f_x.T @ lam_next, "plus sign"),
            "detached": (lambda lam_next, f_x, c_x: (c_x + f_x.T @ lam_next).detach(), "do not flow"),
        },
    ),
    "3.2": (
        lesson03.adjoint_sweep,
        adjoint.adjoint_sweep,
        {
            "off by one costate": (lambda f_x, f_u, c_x, c_u, lam_T: _sweep_wrong(f_x, f_u, c_x, c_u, lam_T, late=True), "off by one"),
            "forward in time": (
                lambda f_x, f_u, c_x, c_u, lam_T: adjoint.adjoint_sweep(f_x.flip(0), f_u.flip(0), c_x.flip(0), c_u.flip(0), lam_T).flip(0),
                "backwards in time",
            ),
            "detached": (lambda **kw: adjoint.adjoint_sweep(**kw).detach(), "do not flow"),
        },
    ),
    "3.3": (
        lesson03.rk4_step,
        adjoint.rk4_step,
        {
            "euler": (lambda F, x, h: _rk_wrong(F, x, h, "euler"), "Euler"),
            "equal weights": (lambda F, x, h: _rk_wrong(F, x, h, "equal"), "the four slopes are not weighted equally: the"),
            "full steps for k2, k3": (lambda F, x, h: _rk_wrong(F, x, h, "midpoint_full"), "half a step"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
