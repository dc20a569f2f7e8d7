"""Lesson 10 checkers accept the references and reject known-wrong variants (wrong sign, missing alpha, K+1 terms)."""

import torch

from learnopt_course.meta import ift
from learnopt_course.checks import lesson10
from learnopt_course.checks.lesson10 import _gradient, _hessian, _mixed, _neumann_wrong

from checker_harness import make_checker_tests


def _hvp_forgot_create_graph(loss_fn, w, v):
    w = w.detach().requires_grad_(True)
    g = torch.autograd.grad(loss_fn(w), w)[0]
    return torch.autograd.grad(g @ v, w)[0]


CHECKERS = {
    "10.1": (
        lesson10.hvp,
        lambda loss_fn, w, v: _hessian(loss_fn, w) @ v,
        {
            "gradient instead": (lambda loss_fn, w, v: _gradient(loss_fn, w), "that is the gradient itself: the product need"),
            "elementwise product": (lambda loss_fn, w, v: _gradient(loss_fn, w) * v, "elementwise"),
            "diagonal only": (lambda loss_fn, w, v: torch.diagonal(_hessian(loss_fn, w)) * v, "only the diagonal of the Hessian is there: th"),
            "no create_graph": (_hvp_forgot_create_graph, "raised RuntimeError"),
        },
    ),
    "10.2": (
        lesson10.neumann,
        lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha),
        {
            "K + 1 terms": (lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, terms_offset=1), "K + 1 terms"),
            "no outer alpha": (lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, outer=False), "outside the sum"),
            "(I - H)": (lambda hvp_fn, v, K, alpha: _neumann_wrong(hvp_fn, v, K, alpha, inner_alpha=False), "each term must be scaled by the step alpha in"),
            "returns v": (lambda hvp_fn, v, K, alpha: v, "outside the sum"),
        },
    ),
    "10.3": (
        lesson10.assemble_hypergradient,
        lambda direct, u, flat_grad, hyper: direct - _mixed(u, flat_grad, hyper),
        {
            "plus sign": (lambda direct, u, flat_grad, hyper: direct + _mixed(u, flat_grad, hyper), "the indirect term has the wrong sign: look at"),
            "no direct term": (lambda direct, u, flat_grad, hyper: -_mixed(u, flat_grad, hyper), "the direct term is part of the hypergradient"),
            "direct only": (lambda direct, u, flat_grad, hyper: direct, "direct term alone"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)


def test_neumann_reference_equals_the_closed_form_partial_sum():
    H = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    v = torch.tensor([1.0, -2.0], dtype=torch.float64)
    alpha, K = 0.3, 4
    I = torch.eye(2, dtype=torch.float64)
    expected = alpha * sum(torch.linalg.matrix_power(I - alpha * H, j) @ v for j in range(K))
    assert torch.allclose(ift.neumann(lambda x: H @ x, v, K, alpha), expected, atol=1e-14)
