"""Lesson 09: hypernetworks (Lorraine 2023, Ch. 2) and self-tuning networks — parameter counts, the two steps'
gradients, Alg. 3 on ridge regression against the exact best response and lesson 10's IFT, the sigma = 0 stall,
Algs 1-2, the factorised hypernetwork on the per-weight problem, and the STN's structured layer."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from learnopt_course.hypernet import experiments as X
from learnopt_course.hypernet import models, problems, stn
from learnopt_course.hypernet import train as T

D = torch.float64
needs_data = pytest.mark.skipif(not os.environ.get("LEARNOPT_DATA"), reason="needs LEARNOPT_DATA (CI sets it)")


def test_parameter_counts_of_the_thesis_hypernetworks():
    assert models.parameter_count(models.GlobalHypernet(1, 7850, 50)) == 400_450
    assert models.parameter_count(models.LinearHypernet(1, 7850)) == 15_700
    assert models.parameter_count(models.FactorizedHypernet(7850, 7850, 10)) == 164_860
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        models.FactorizedHypernet(3, 4, 0)
    with pytest.raises(ValueError, match="w0 must be a flat vector of the P = 4 weights"):
        models.LinearHypernet(1, 4, w0=torch.zeros(3))


def test_the_closed_form_best_response_and_its_jacobian_match_gradient_descent_and_the_ift():
    problem = problems.ridge()
    lam = torch.tensor([-1.0], dtype=D)
    w, J = problems.ridge_best_response(problem, lam)
    from learnopt_course.hpo.bilevel import inner_solve

    trained = inner_solve(problem, lam, None, 3000)
    assert float((trained - w).norm() / w.norm()) < 1e-6
    assert float((X.ift_jacobian(problem, lam, w) - J).norm() / J.norm()) < 1e-10
    eps = 1e-6
    w_plus, _ = problems.ridge_best_response(problem, lam + eps)
    assert float(((w_plus - w) / eps - J).norm() / J.norm()) < 1e-4


def test_the_hypernetwork_step_reaches_phi_only_and_the_hyperparameter_step_lambda_only():
    problem = problems.ridge(d=4, n=6, n_val=5)
    net = models.LinearHypernet(1, 4, dtype=D, init_scale=1.0)
    lam_s = torch.randn(3, 1, dtype=D, requires_grad=True)
    loss = T.hypertrain_loss(problem, net, lam_s)
    grads = torch.autograd.grad(loss, [lam_s, *net.parameters()], allow_unused=True)
    assert grads[0] is None and all(g is not None and g.abs().sum() > 0 for g in grads[1:])
    before = [p.detach().clone() for p in net.parameters()]
    new = T.hyper_step(net, torch.tensor([0.5], dtype=D), lambda w, lam: problem.val_loss(w, lam), 0.1)
    assert new.shape == (1,) and not new.requires_grad and float(new) != 0.5
    assert all(torch.equal(a, b) and p.grad is None for a, b, p in zip(before, net.parameters(), net.parameters()))
    history = T.tune(problem, net, torch.tensor([0.5], dtype=D), 3, lr=0.1)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters())) and len(history.val) == 3
    samples = T.sample_local(torch.tensor([1.0, -2.0], dtype=D, requires_grad=True), 0.5, 4000, torch.Generator().manual_seed(0))
    assert samples.shape == (4000, 2) and not samples.requires_grad
    assert torch.allclose(samples.mean(0), torch.tensor([1.0, -2.0], dtype=D), atol=0.05)
    assert torch.allclose(samples.std(0), torch.full((2,), 0.5, dtype=D), atol=0.03)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        T.sample_local(torch.zeros(1), -1.0, 2, torch.Generator())
    with pytest.raises(ValueError, match=r"lam_samples must be \[S, H\]"):
        T.hypertrain_loss(problem, net, torch.zeros(3))


def test_alg3_with_a_linear_hypernetwork_reaches_the_ridge_optimum_and_learns_the_ift_jacobian():
    # the lesson notes' claim C2.2 (d = 20, n = 30, noise 2, 500 validation points; Adam 1e-2, 2 samples per step)
    problem = problems.ridge()
    lam_star = X.ridge_optimum(problem)
    run = X.ridge_run(problem, 0.5, 3000)
    w, _ = problems.ridge_best_response(problem, torch.tensor([run.lam], dtype=D))
    ift = X.ift_jacobian(problem, torch.tensor([run.lam], dtype=D), w)
    cosine = float(F.cosine_similarity(run.hypernet.jacobian[:, 0].detach(), ift, dim=0))
    assert abs(run.lam - lam_star) < 0.1 and cosine > 0.95 and run.weight_error < 0.05


def test_sigma_zero_with_a_zero_input_stalls_and_a_spread_avoids_it():
    problem = problems.ridge()
    stalled = X.ridge_run(problem, 0.0, 200, zero_init=True)
    assert stalled.lam == 0.0 and float(stalled.hypernet.jacobian.detach().abs().max()) == 0.0
    moving = X.ridge_run(problem, 0.5, 200, zero_init=True)
    assert abs(moving.lam) > 0.5 and float(moving.hypernet.jacobian.detach().abs().max()) > 0


def test_a_locally_trained_linear_hypernetwork_is_accurate_near_lambda_hat_and_wrong_far_away():
    problem = problems.ridge()
    net = models.LinearHypernet(1, 20, dtype=D)
    center = torch.tensor([-1.0], dtype=D)
    T.hypertrain(problem, net, lambda g: T.sample_local(center, 0.05, 2, g), 1500, lr=3e-2)

    def error(lam: float) -> float:
        w, _ = problems.ridge_best_response(problem, torch.tensor([lam], dtype=D))
        with torch.no_grad():
            return float((net(torch.tensor([lam], dtype=D)) - w).norm() / w.norm())

    assert error(-1.0) < 0.02
    assert min(error(-3.0), error(1.0)) > 5 * error(-1.0)  # the lesson notes' claim C2.4 at +-2


@needs_data
def test_cross_validation_and_the_global_hypernetwork_on_the_mnist_linear_model():
    problem = problems.mnist_linear(10, 200)
    assert T.sizes(problem) == (1, 7850)
    cv = T.cross_validation(problem, [-4.0, 0.0, 2.0], 200)
    assert len(cv.val) == 3 and float(cv.best) in (-4.0, 0.0, 2.0) and cv.val[0] != cv.val[2]
    torch.manual_seed(0)
    net = models.GlobalHypernet(1, 7850, 8)
    probe = torch.tensor([[-2.0], [0.0], [1.5]])
    before = float(T.hypertrain_loss(problem, net, probe))
    losses = T.hypertrain(problem, net, lambda g: 1.5 * torch.randn(2, 1, generator=g), 150, lr=1e-3)
    assert len(losses) == 150 and float(T.hypertrain_loss(problem, net, probe)) < 0.8 * before
    per_weight = problems.mnist_linear(200, 200, per_weight=True)
    assert T.sizes(per_weight) == (7850, 7850)
    torch.manual_seed(0)
    fact = models.FactorizedHypernet(7850, 7850, 10)
    history = T.joint(per_weight, fact, torch.full((7850,), -4.0), 0.1, 100, lr_phi=1e-3, lr_lam=1e-2)
    assert len(history.lam) == 101 and history.lam[-1].shape == (7850,)
    assert history.train[-1] < 0.5 * history.train[0] and history.val[-1] < 0.5 * history.val[0]


def test_the_stn_layer_starts_as_a_plain_layer_and_responds_to_the_hyperparameters_after_training():
    layer = stn.STNLinear(3, 2, 2)
    x = torch.randn(4, 3)
    assert torch.allclose(layer(x, torch.tensor([0.3, -1.0])), layer.elem(x) + 0 * layer.hyper(x))
    with torch.no_grad():
        layer.scale_w.weight.fill_(0.5)
    assert not torch.allclose(layer(x, torch.tensor([1.0, 1.0])), layer(x, torch.tensor([-1.0, 1.0])))
    p = torch.tensor(0.4, requires_grad=True)
    keep_only = (torch.rand(5, generator=torch.Generator().manual_seed(0)) >= p).float()
    assert torch.autograd.grad((torch.ones(5, requires_grad=True) * keep_only).sum(), p, allow_unused=True)[0] is None
    out = stn.dropout(torch.ones(20000), torch.tensor(0.25), torch.Generator().manual_seed(0))
    assert abs(float(out.mean()) - 1.0) < 0.03 and abs(float((out == 0).float().mean()) - 0.25) < 0.02
    with pytest.raises(ValueError, match="rates must lie in"):
        stn.train_fixed(stn.STNMLP(structured=False), {}, (1.0, 0.0), 1, torch.Generator())


@needs_data
def test_the_stn_raises_its_dropout_rates_on_an_overfitting_mnist_mlp():
    run = X.stn_vs_fixed(0, n_train=300, n_val=300, n_test=300, hidden=20, steps=400, grid=((0.0, 0.0),))
    assert len(run.rates) == 200 and min(run.rates[-1]) > min(run.rates[0])
    assert set(run.stn) == {"val_loss", "val_acc", "test_loss", "test_acc"} and (0.0, 0.0) in run.fixed


@needs_data
def test_the_learning_rate_does_not_move_the_best_response():
    problem = problems.mnist_linear(10, 100)
    base = problem.step_size(problem.lam0)
    assert X.learning_rate_response(problem, [base, base / 2], steps=2000)[1] < 1e-3
