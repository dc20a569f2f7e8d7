"""Unrolled hypergradients: reverse = forward = finite differences; truncation; graph memory; ES; clipping."""

import math

import pytest
import torch

from learnopt_course import optimizers as optim
from learnopt_course.meta import unroll
from learnopt_course.tasks import toy_outer_loss


def _regression(seed=0, n=64, d=5):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.tanh(X @ torch.randn(d, generator=g, dtype=torch.float64))
    w0 = {"w": 0.1 * torch.randn(d, 3, generator=g, dtype=torch.float64), "v": 0.1 * torch.randn(3, generator=g, dtype=torch.float64)}

    def inner(p, t):  # minibatch of 16 chosen by the step index: a deterministic data order
        idx = torch.arange(16) + (16 * t) % (n - 16)
        return ((torch.tanh(X[idx] @ p["w"]) @ p["v"] - y[idx]) ** 2).mean()

    return inner, w0


@pytest.mark.parametrize("optimizer, names", [("heavy_ball", ("lr", "momentum")), ("adam", ("lr", "beta1")),
                                              ("sgd", ("lr", "weight_decay"))])
@pytest.mark.parametrize("meta", ["final", "mean"])
def test_reverse_forward_and_finite_differences_agree(optimizer, names, meta):
    inner, w0 = _regression()
    values = {"lr": 0.05, "momentum": 0.7, "beta1": 0.8, "weight_decay": 0.01}
    hyper = [torch.tensor(values[n], dtype=torch.float64) for n in names]

    def meta_loss(*h):
        return unroll.unrolled_loss(inner, w0, optimizer, dict(zip(names, h)), steps=12, meta=meta)

    reverse = unroll.hypergradient(meta_loss, hyper, "reverse")
    forward = unroll.hypergradient(meta_loss, hyper, "forward")
    for i in range(len(hyper)):
        eps = 1e-6
        up = [h.clone() for h in hyper]
        down = [h.clone() for h in hyper]
        up[i] += eps
        down[i] -= eps
        with torch.no_grad():
            fd = (meta_loss(*up) - meta_loss(*down)) / (2 * eps)
        assert abs(float(fd)) > 1e-6
        assert math.isclose(float(reverse[i]), float(fd), rel_tol=1e-5), (names[i], float(reverse[i]), float(fd))
        assert math.isclose(float(forward[i]), float(reverse[i]), rel_tol=1e-9)


def test_schedule_hypergradient_per_step():
    inner, w0 = _regression(1)
    log_lrs = torch.full((6,), math.log(0.05), dtype=torch.float64)

    def meta_loss(log_lr):
        return unroll.unrolled_loss(inner, w0, "sgd", lambda t: {"lr": log_lr[t].exp()}, steps=6)

    (rev,) = unroll.hypergradient(meta_loss, [log_lrs])
    (fwd,) = unroll.hypergradient(meta_loss, [log_lrs], "forward")
    assert rev.shape == (6,) and torch.allclose(rev, fwd, rtol=1e-9)
    assert (rev != 0).all()


def test_greedy_is_exact_at_one_step_and_t_times_too_small_on_quadratics():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(5, 5, generator=g, dtype=torch.float64)
    A = M @ M.T / 5 + 0.1 * torch.eye(5, dtype=torch.float64)
    w0 = torch.randn(5, generator=g, dtype=torch.float64)
    for T in (1, 5, 20):
        closed = unroll.quadratic_lr_hypergradients(A, w0, 0.3, T)
        lr = torch.tensor(0.3, dtype=torch.float64)
        (auto,) = unroll.hypergradient(
            lambda a: unroll.unrolled_loss(lambda w, t: 0.5 * w @ A @ w, w0, "sgd", {"lr": a}, steps=T), [lr]
        )
        assert math.isclose(closed["full"], float(auto), rel_tol=1e-10)
        assert math.isclose(closed["full"], T * closed["greedy"], rel_tol=1e-9)
        if T >= 5:
            assert abs(closed["greedy"] - closed["full"]) > 0.1 * abs(closed["full"])


def test_truncation_full_window_is_exact_and_short_window_is_biased():
    inner, w0 = _regression(2)
    lr = torch.tensor(0.1, dtype=torch.float64)

    def grad_with(K):
        return float(unroll.hypergradient(
            lambda a: unroll.unrolled_loss(inner, w0, "heavy_ball", {"lr": a, "momentum": 0.5}, 20, truncate=K), [lr])[0])

    full = float(unroll.hypergradient(
        lambda a: unroll.unrolled_loss(inner, w0, "heavy_ball", {"lr": a, "momentum": 0.5}, 20), [lr])[0])
    assert grad_with(20) == pytest.approx(full, rel=1e-12)
    assert abs(grad_with(1) - full) > 0.1 * abs(full)
    with pytest.raises(ValueError, match="truncate must be an integer from 1 to steps=20; got 0"):
        grad_with(0)


def test_graph_memory_grows_linearly_with_unroll_length_and_truncation_caps_it():
    inner, w0 = _regression(3)
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)

    def measure(T, K=None):
        return unroll.graph_bytes(lambda: unroll.unrolled_loss(inner, w0, "sgd", {"lr": lr}, T, truncate=K))[1]

    m10, m20, m40 = measure(10), measure(20), measure(40)
    assert m20 > 1.8 * m10 and m40 > 1.8 * m20
    assert abs((m40 - m20) - 2 * (m20 - m10)) < 0.05 * (m40 - m20)
    assert measure(40, K=10) == pytest.approx(m10, rel=0.05)
    assert measure(40, K=10) == measure(400, K=10)  # the steps before the window leave nothing behind


def test_graph_bytes_leaves_the_gradient_unchanged_and_ignores_dead_graphs():
    inner, w0 = _regression(3)
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    run = lambda: unroll.unrolled_loss(inner, w0, "sgd", {"lr": lr}, 15)  # noqa: E731
    (plain,) = torch.autograd.grad(run(), lr)
    out, nbytes = unroll.graph_bytes(run)
    assert torch.equal(torch.autograd.grad(out, lr)[0], plain)

    def dead_graph_then_small_one():
        x = lr * torch.ones(1000, dtype=torch.float64)
        torch.sigmoid(x).sum()  # a saved *output* whose graph is dropped at once: no memory stays with it
        return lr * 2.0

    assert unroll.graph_bytes(dead_graph_then_small_one)[1] == 0


def test_es_is_unbiased_for_a_quadratic_and_validates():
    theta = torch.tensor([1.0, -2.0], dtype=torch.float64)
    f = lambda x: (x**2).sum(-1)  # noqa: E731 - Gaussian smoothing keeps the gradient 2 theta
    est = unroll.antithetic_es_gradient(f, theta, sigma=0.5, pairs=20000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(est, 2 * theta, atol=0.05)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        unroll.antithetic_es_gradient(f, theta, 0.0, 2, torch.Generator())


def test_toy_meta_gradient_explodes_with_the_horizon():
    mags = []
    for T in (5, 20, 50):
        lr = torch.tensor(0.1, dtype=torch.float64)
        (g,) = unroll.hypergradient(lambda a: toy_outer_loss(a, 0.9, steps=T), [lr])
        mags.append(abs(float(g)))
    assert mags[0] < mags[2]


def test_clip_and_validation():
    g = torch.tensor([3.0, 4.0])
    assert torch.allclose(unroll.clip_by_norm(g, 1.0), g / 5)
    assert torch.equal(unroll.clip_by_norm(g, 10.0), g)
    with pytest.raises(ValueError, match="meta must be one of"):
        unroll.unrolled_loss(lambda w, t: w.sum(), torch.zeros(2), "sgd", {}, 2, meta="sum")
    with pytest.raises(ValueError, match="mode must be 'reverse' or 'forward'"):
        unroll.hypergradient(lambda a: a, [torch.tensor(1.0)], "sideways")


def test_per_parameter_weight_decay_hypergradient():
    """As many hyperparameters as weights: a weight-decay tensor shaped like each parameter."""
    inner, w0 = _regression(4)
    decay = {"w": torch.full((5, 3), 0.01, dtype=torch.float64), "v": torch.full((3,), 0.01, dtype=torch.float64)}

    def meta_loss(dw, dv):
        return unroll.unrolled_loss(inner, w0, "sgd", {"lr": 0.1, "weight_decay": {"w": dw, "v": dv}}, steps=8)

    reverse = unroll.hypergradient(meta_loss, [decay["w"], decay["v"]])
    forward = unroll.hypergradient(meta_loss, [decay["w"], decay["v"]], "forward")
    assert reverse[0].shape == (5, 3) and reverse[1].shape == (3,)
    for r, f in zip(reverse, forward):
        assert torch.allclose(r, f, rtol=1e-9, atol=1e-14)
    e = torch.zeros(5, 3, dtype=torch.float64)
    e[2, 1] = 1e-6
    with torch.no_grad():
        fd = (meta_loss(decay["w"] + e, decay["v"]) - meta_loss(decay["w"] - e, decay["v"])) / 2e-6
    assert abs(float(reverse[0][2, 1]) - float(fd)) < 1e-5 * abs(float(fd)) + 1e-12
