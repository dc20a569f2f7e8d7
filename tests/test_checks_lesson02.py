"""Lesson 02 checkers accept the references and reject known-wrong variants (sign, cut graph, off-by-one unroll)."""

import torch

from learnopt_course.meta import unroll
from learnopt_course.checks import lesson02
from learnopt_course.checks.lesson02 import _es_wrong, _gd, _sensitivity

from checker_harness import make_checker_tests

CHECKERS = {
    "2.1": (
        lesson02.unrolled_final_loss,
        lambda lr, A, w0, steps: _gd(lr, A, w0, steps),
        {
            "off by one (too few)": (lambda lr, A, w0, steps: _gd(lr, A, w0, steps - 1), "one step too few"),
            "off by one (too many)": (lambda lr, A, w0, steps: _gd(lr, A, w0, steps + 1), "one step too many"),
            "gradient ascent": (lambda lr, A, w0, steps: _gd(lr, A, w0, steps, sign=1.0), "your steps go uphill: gradient descent moves"),
            "detached graph": (lambda lr, A, w0, steps: _gd(lr, A, w0, steps, detach=True), "do not flow"),
            "python float lr": (lambda lr, A, w0, steps: _gd(lr.item(), A, w0, steps), "do not flow"),
        },
    ),
    "2.2": (
        lesson02.lr_sensitivity,
        lambda A, w0, lr, steps: unroll.quadratic_lr_sensitivity(A, w0, lr, steps)[1],
        {
            "wrong sign of the direct term": (lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, sign=1.0), "eq. 1.2.13"),
            "missing lr in the Jacobian": (lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, with_lr=False), "eq. 1.2.14"),
            "off by one (gradient after the update)": (lambda A, w0, lr, steps: _sensitivity(A, w0, lr, steps, late=True), "before the update"),
            "returns w instead of z": (lambda A, w0, lr, steps: unroll.quadratic_lr_sensitivity(A, w0, lr, steps)[0], "differentiate one step of the update with res"),
            "detached": (lambda A, w0, lr, steps: unroll.quadratic_lr_sensitivity(A, w0, lr, steps)[1].detach(), "do not flow"),
        },
    ),
    "2.3": (
        lesson02.es_gradient,
        unroll.es_gradient_from_noise,
        {
            "divides by sigma only": (lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, factor=1.0), "the antithetic difference spans two sigmas, n"),
            "one-sided difference": (lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, one_sided=True, factor=1.0), "antithetic pairs"),
            "wrong sign": (lambda f, theta, sigma, eps: _es_wrong(f, theta, sigma, eps, sign=-1.0), "the sign is flipped: the estimate is of the g"),
            "sums instead of averaging": (
                lambda f, theta, sigma, eps: unroll.es_gradient_from_noise(f, theta, sigma, eps) * eps.shape[0], "see the antithetic estimator in the text (Sal"
            ),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)


def test_es_reference_matches_the_sampling_version():
    f = lambda x: (x**3).sum(-1)  # noqa: E731
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64)
    a = unroll.antithetic_es_gradient(f, theta, 0.1, 5, torch.Generator().manual_seed(3))
    eps = torch.randn((5, 2), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(a, unroll.es_gradient_from_noise(f, theta, 0.1, eps))
