"""Bilevel problems and the four hypergradient methods (lesson 10): agreement, memory growth, Alg. 4, bad input."""

import os
from pathlib import Path

import pytest
import torch

from learnopt_course.hpo import bilevel as B

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    return B.logistic_l2(n=200, d=6, seed=1, dtype=F64)


@pytest.fixture(scope="module")
def at_optimum(problem):
    lam = torch.linspace(-3.0, -1.0, 6, dtype=F64)
    w_star = B.inner_solve(problem, lam, None, 4000)
    return lam, w_star


def test_inner_solve_reaches_a_stationary_point(problem, at_optimum):
    lam, w_star = at_optimum
    w = w_star.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(problem.train_loss(w, lam), w)
    assert g.norm() < 1e-10


def test_step_size_is_one_over_the_curvature_bound(problem):
    lam = torch.tensor([0.0, 1.0, -1.0, 0.5, 0.0, 0.0], dtype=F64)
    x = problem.data["x_train"]
    bound = float(torch.linalg.matrix_norm(x, ord=2) ** 2) / (4 * x.shape[0]) + float(torch.e)
    assert B.step_size(problem, lam) == pytest.approx(1 / bound, rel=1e-12)
    w = B.inner_solve(problem, lam, None, 10)
    H = torch.autograd.functional.hessian(lambda ww: problem.train_loss(ww, lam), w)
    assert torch.linalg.eigvalsh(H).max() <= bound  # so gradient descent and Neumann with alpha = 1/L converge


def test_ift_methods_agree_at_the_optimum(problem, at_optimum):
    lam, w_star = at_optimum
    exact, _ = B.hypergradient(problem, lam, w_star, "exact", steps=0)
    cg, _ = B.hypergradient(problem, lam, w_star, "cg", steps=0, K=30)
    long_neumann, _ = B.hypergradient(problem, lam, w_star, "neumann", steps=0, K=3000)
    assert B.relative_error(cg, exact) < 1e-6
    assert B.relative_error(long_neumann, exact) < 1e-6
    assert exact.abs().max() > 1e-4  # the hypergradient is not trivially zero here


@pytest.mark.parametrize("T", [1, 5, 20])
def test_unrolled_and_truncated_from_the_optimum_equal_neumann_with_T_terms(problem, at_optimum, T):
    lam, w_star = at_optimum
    neumann, _ = B.hypergradient(problem, lam, w_star, "neumann", steps=0, K=T)
    unrolled, _ = B.hypergradient(problem, lam, w_star, "unroll", steps=T)
    truncated, _ = B.hypergradient(problem, lam, w_star, "truncated", steps=T + 7, K=T)
    assert B.relative_error(unrolled, neumann) < 1e-10
    assert B.relative_error(truncated, neumann) < 1e-10


def test_long_unroll_from_scratch_converges_to_the_exact_hypergradient(problem, at_optimum):
    lam, w_star = at_optimum
    exact, _ = B.hypergradient(problem, lam, w_star, "exact", steps=0)
    short, _ = B.hypergradient(problem, lam, problem.w0, "unroll", steps=10)
    long, _ = B.hypergradient(problem, lam, problem.w0, "unroll", steps=600)
    assert B.relative_error(long, exact) < 1e-3 < B.relative_error(short, exact)
    assert B.cosine(long, exact) > 0.999999


def test_cosine_with_one_hyperparameter_is_only_a_sign():
    assert B.cosine(torch.tensor([0.3]), torch.tensor([7.0])) == pytest.approx(1.0)
    assert B.relative_error(torch.tensor([0.3]), torch.tensor([7.0])) == pytest.approx(6.7 / 7.0)


def test_unrolled_graph_grows_with_T_and_ift_graph_does_not(problem, at_optimum):
    lam, _ = at_optimum
    unrolled = [B.cost(problem, lam, problem.w0, "unroll", steps=T, repeats=1)["graph_bytes"] for T in (10, 40)]
    ift = [B.cost(problem, lam, problem.w0, "cg", steps=T, repeats=1)["graph_bytes"] for T in (10, 40)]
    truncated = [B.cost(problem, lam, problem.w0, "truncated", steps=T, K=5, repeats=1)["graph_bytes"] for T in (10, 40)]
    assert unrolled[1] > 1.8 * unrolled[0]  # a constant part (the data) plus a part per step
    assert ift[0] == ift[1]
    assert truncated[1] == truncated[0]


def test_alg4_lowers_the_validation_loss(problem):
    for method in ("neumann", "cg", "unroll"):
        lam, w, history = B.optimize(problem, outer_steps=15, inner_steps=20, method=method, K=5, hyper_lr=0.2,
                                     every=5)
        assert history.val_loss[-1] < 0.9 * history.val_loss[0], method
        assert not torch.equal(lam, problem.lam0)
        assert [m["step"] for m in history.metrics] == [5, 10, 15]
    report = B.retrain(problem, lam, 50)
    assert set(report) == {"val_acc", "test_acc"} and 0.5 < report["test_acc"] <= 1.0


def test_weight_decay_is_pure_response(problem, at_optimum):
    """C3.10: L_V does not depend on lam directly, so its direct gradient is zero and only the IFT term moves lam."""
    lam, w_star = at_optimum
    leaf = lam.clone().requires_grad_(True)
    assert not problem.val_loss(w_star, leaf).requires_grad  # no path from lam to L_V except through w*
    assert problem.train_loss(w_star, leaf).requires_grad


def test_bad_input_is_named(problem, at_optimum):
    lam, w_star = at_optimum
    with pytest.raises(ValueError, match="method must be one of"):
        B.hypergradient(problem, lam, w_star, "newton", steps=1)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        B.hypergradient(problem, lam, w_star, "cg", steps=1, K=0)
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        B.inner_solve(problem, lam, None, -1)
    with pytest.raises(ValueError, match="outer_steps must be a positive integer"):
        B.optimize(problem, outer_steps=0, inner_steps=1)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        B.logistic_l2(n=1)


@pytest.fixture(scope="module")
def mnist_root():
    root = os.environ.get("LEARNOPT_DATA")
    if not (root and (Path(root) / "mnist").is_dir()):
        if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
            pytest.fail(f"CI must run the real-data tests: LEARNOPT_DATA={root!r} has no mnist/")
        pytest.skip("no MNIST under LEARNOPT_DATA")
    return root


def test_per_weight_decay_has_one_hyperparameter_per_weight_and_fits_validation(mnist_root):
    problem = B.mnist_weight_decay(n_train=20, n_val=20, hidden=20, root=mnist_root)
    assert {k: v.shape for k, v in problem.lam0.items()} == {k: v.shape for k, v in problem.w0.items()}
    lam, w, history = B.optimize(problem, outer_steps=30, inner_steps=10, method="neumann", K=5, hyper_lr=0.1, every=30)
    assert history.val_loss[-1] < 0.7 * history.val_loss[0]
    assert set(history.metrics[-1]) == {"step", "train", "val", "test"}


def test_distillation_learns_images_that_teach_a_fresh_model(mnist_root):
    problem = B.mnist_distillation(n_val=2000, root=mnist_root)
    before = B.retrain(problem, problem.lam0, 200)["test_acc"]
    lam, _, history = B.optimize(problem, outer_steps=40, inner_steps=10, method="cg", K=5, hyper_lr=0.1)
    after = B.retrain(problem, lam, 200)["test_acc"]
    assert lam.shape == (10, 784)
    assert before < 0.15 and after > 0.5  # blank images teach nothing; 40 hypersteps already teach a lot


def test_per_example_weights_hypergradient_matches_finite_differences():
    """Any differentiable hyperparameter tensor works: here one weight per training example (data reweighting)."""
    g = torch.Generator().manual_seed(5)
    x, xv = torch.randn(30, 3, generator=g, dtype=F64), torch.randn(40, 3, generator=g, dtype=F64)
    w_true = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    y, yv = (x @ w_true > 0).to(F64), (xv @ w_true > 0).to(F64)

    def train(w, h):
        losses = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, y, reduction="none")
        return (torch.sigmoid(h) * losses).mean() + 0.05 * (w**2).sum()

    def val(w, h):
        return torch.nn.functional.binary_cross_entropy_with_logits(xv @ w, yv)

    problem = B.Bilevel("per-example weights", train, val, torch.zeros(3, dtype=F64), torch.zeros(30, dtype=F64), 1.0)
    h = torch.linspace(-1, 1, 30, dtype=F64)
    w_star = B.inner_solve(problem, h, None, 3000)
    implicit, _ = B.hypergradient(problem, h, w_star, "exact", steps=0)
    for i in (0, 7, 29):
        e = torch.zeros(30, dtype=F64)
        e[i] = 1e-4
        plus = float(val(B.inner_solve(problem, h + e, None, 3000), h))
        minus = float(val(B.inner_solve(problem, h - e, None, 3000), h))
        assert float(implicit[i]) == pytest.approx((plus - minus) / 2e-4, rel=1e-4, abs=1e-9)
