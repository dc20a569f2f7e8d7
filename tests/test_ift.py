"""IFT hypergradients: exact solve = closed-form ridge to 1e-8, CG to 1e-6; T-step unroll from the optimum equals the
T-term Neumann series (1e-10, float64); Hessian-vector products; clear errors."""

import pytest
import torch

from learnopt_course.meta import ift
from learnopt_course.meta import unroll


def _ridge(seed=0, n=60, d=6):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = X @ torch.randn(d, generator=g, dtype=torch.float64) + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    Xv = torch.randn(30, d, generator=g, dtype=torch.float64)
    yv = Xv @ torch.randn(d, generator=g, dtype=torch.float64)
    lam = torch.rand(d, generator=g, dtype=torch.float64) + 0.5  # per-feature L2
    train = lambda w, l: 0.5 * ((X @ w - y) ** 2).sum() + 0.5 * (l * w**2).sum()  # noqa: E731
    val = lambda w, l: 0.5 * ((Xv @ w - yv) ** 2).sum()  # noqa: E731
    A = X.T @ X + torch.diag(lam)
    w_star = torch.linalg.solve(A, X.T @ y)
    # closed form: dw*/dlam_j = -A^{-1} e_j w*_j  =>  dL_V/dlam_j = -(A^{-1} g_V)_j w*_j
    g_val = Xv.T @ (Xv @ w_star - yv)
    exact = -torch.linalg.solve(A, g_val) * w_star
    return train, val, w_star, lam, exact, A


def test_hvp_matches_the_hessian():
    train, _, w, lam, _, A = _ridge()
    v = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ift.hvp(lambda ww: train(ww, lam), w, v), A @ v, atol=1e-10)


@pytest.mark.parametrize("method, tol", [("exact", 1e-8), ("cg", 1e-6)])
def test_matches_closed_form_ridge_hypergradient(method, tol):
    train, val, w, lam, exact, _ = _ridge()
    got = ift.hypergradient(train, val, w, lam, method, iterations=50)
    assert torch.allclose(got, exact, rtol=tol, atol=tol * float(exact.abs().max()))


def test_neumann_converges_and_equals_the_unrolled_hypergradient_from_the_optimum():
    train, val, w, lam, exact, A = _ridge(1)
    alpha = 1.0 / float(torch.linalg.eigvalsh(A).max())
    for T in (1, 5, 20):
        neumann = ift.hypergradient(train, val, w, lam, "neumann", iterations=T, alpha=alpha)
        (unrolled,) = unroll.hypergradient(
            lambda l: unroll.unrolled_loss(lambda ww, t: train(ww, l), w, "sgd", {"lr": alpha}, T,
                                           outer_loss=lambda ww: val(ww, l)), [lam])
        assert torch.allclose(neumann, unrolled, rtol=1e-10, atol=1e-12), T
    long = ift.hypergradient(train, val, w, lam, "neumann", iterations=3000, alpha=alpha)
    assert torch.allclose(long, exact, rtol=1e-4)


def test_dict_parameters_and_hyperparameters():
    train, val, w, lam, exact, _ = _ridge(2)
    tr = lambda p, h: train(torch.cat([p["a"], p["b"]]), h["l"])  # noqa: E731
    va = lambda p, h: val(torch.cat([p["a"], p["b"]]), h["l"])  # noqa: E731
    got = ift.hypergradient(tr, va, {"a": w[:2], "b": w[2:]}, {"l": lam}, "exact")
    assert torch.allclose(got["l"], exact, atol=1e-8)


def test_errors_are_clear():
    train, val, w, lam, _, _ = _ridge()
    with pytest.raises(ValueError, match="val_loss must return a scalar tensor; got \\(30,\\)"):
        ift.hypergradient(train, lambda ww, l: ww.sum() * torch.ones(30), w, lam)
    with pytest.raises(ValueError, match="do not affect the training loss"):
        ift.hypergradient(lambda ww, l: (ww**2).sum(), val, w, lam)
    with pytest.raises(ValueError, match="v must have shape \\(6,\\)"):
        ift.hvp(lambda ww: train(ww, lam), w, torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="method must be one of"):
        ift.inverse_hvp(lambda ww: train(ww, lam), w, torch.zeros(6, dtype=torch.float64), "lbfgs")
    with pytest.raises(TypeError, match="w must be a tensor or a mapping of names to tensors; got list"):
        ift.hypergradient(train, val, [w], lam)
