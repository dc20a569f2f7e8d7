"""The coordinatewise LSTM optimizer: preprocessing, architecture facts, meta-training, wrapper, checkpoints."""

import math

import pytest
import torch

from learnopt_course import l2l


def test_preprocessing_properties():
    p = 10.0
    rho = lambda x: l2l.preprocess_thesis(torch.tensor([x], dtype=torch.float64), p)[0, 0].item()  # noqa: E731
    edge = math.exp(-p)
    assert rho(edge) == pytest.approx(-1.0) and rho(edge * (1 - 1e-9)) == pytest.approx(-1.0, abs=1e-6)
    assert rho(-edge) == pytest.approx(1.0) and rho(1.0) == 0.0 and rho(-1.0) == 0.0
    assert rho(2.0) == pytest.approx(rho(-0.5)) == pytest.approx(math.log(2) / 10)  # not injective
    x = torch.randn(2000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 10
    two = l2l.preprocess_log_sign(x, p)
    assert len({tuple(r.tolist()) for r in two}) == 2000  # injective on distinct inputs
    assert torch.equal(two[:, 1], torch.sign(x)) and (two[:, 0] >= -1).all()
    assert torch.allclose(l2l.preprocess_thesis(x, p)[:, 0], two.prod(-1))
    g = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(l2l.preprocess_log_sign(g).sum(), g)
    assert torch.isfinite(d).all(), "no NaN from the unused log branch"


def test_architecture_facts():
    net = l2l.CoordinateLSTM(preprocessing="none")
    assert sum(p.numel() for p in net.parameters()) == 5200
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.01)
    grad = torch.randn(50, generator=torch.Generator().manual_seed(1)) * 100
    update, state = net(grad, net.init_state(50))
    assert update.shape == (50,) and (update.abs() < 20 * 0.01).all()
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(2))
    permuted, _ = net(grad[perm], net.init_state(50))
    assert torch.allclose(permuted, update[perm], atol=1e-6)
    more, _ = net(torch.randn(1000), net.init_state(1000))  # the same network serves any number of coordinates
    assert more.shape == (1000,)
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        l2l.CoordinateLSTM(preprocessing="adam")
    with pytest.raises(ValueError, match=r"grad must be a flat \[N\] tensor"):
        net(torch.zeros(2, 2), net.init_state(4))


def test_inplace_parameter_update_cuts_the_meta_graph_and_functional_update_keeps_it():
    phi = torch.tensor(0.5, requires_grad=True)
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    with torch.no_grad():
        w.add_(-phi * w.detach())  # what torch.optim does
    (g,) = torch.autograd.grad((w**2).sum(), phi, allow_unused=True)
    assert g is None
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(-phi * w)
    theta = torch.tensor([1.0, -2.0])
    theta = theta - phi * theta  # a new tensor: the graph reaches phi
    assert not theta.is_leaf
    (g,) = torch.autograd.grad((theta**2).sum(), phi)
    assert float(g) != 0.0


def test_meta_training_lowers_the_meta_loss():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="none", output_scale=0.1)
    config = l2l.MetaTrainConfig(steps=20, unroll=5, meta_lr=3e-3, runs=40)
    history = l2l.meta_train(net, lambda g: l2l.quadratic_problem(g, batch=16, dim=5), config, torch.Generator().manual_seed(0))
    assert len(history) == 40
    assert sum(history[-5:]) / 5 < 0.7 * sum(history[:5]) / 5


def test_slices_are_truncated():
    net = l2l.CoordinateLSTM(preprocessing="none")
    problem = l2l.quadratic_problem(torch.Generator().manual_seed(0), batch=2, dim=3)
    loss, theta, state = l2l.unroll_slice(net, problem, problem.theta0, net.init_state(6), 0, 4)
    assert theta.grad_fn is not None and loss.requires_grad
    theta, state = theta.detach(), l2l.detach_state(state)
    assert theta.grad_fn is None and all(h.grad_fn is None and c.grad_fn is None for h, c in state)


def test_first_and_second_order_meta_gradients_nearly_agree_at_init():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="none", output_scale=1e-3).double()
    problem = l2l.quadratic_problem(torch.Generator().manual_seed(0), batch=1, dim=16)
    problem = l2l.Problem(problem.theta0.double(), lambda th, t, f=problem.loss: f(th.float(), t).double())
    grads = []
    for second in (False, True):
        loss, _, _ = l2l.unroll_slice(net, problem, problem.theta0, net.init_state(16, torch.float64), 0, 16, second)
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(net.parameters()))]))
    assert float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)) > 0.99


def test_wrapper_reproduces_the_functional_run():
    torch.manual_seed(3)
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.05)
    g = torch.Generator().manual_seed(4)
    X, y = torch.randn(32, 4, generator=g), torch.randn(32, generator=g)
    w0 = torch.randn(4, generator=g)
    loss = lambda w: ((X @ w - y) ** 2).mean()  # noqa: E731
    functional = l2l.run_learned(net, l2l.Problem(w0, lambda th, t: loss(th)), 10)
    w = torch.nn.Parameter(w0.clone())
    opt = l2l.LearnedOptimizer([w], net)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        value = loss(w)
        losses.append(value.detach())
        value.backward()
        opt.step()
    assert torch.allclose(torch.stack(losses), functional[:10], atol=1e-6)


def test_checkpoint_round_trip_and_tamper_detection(tmp_path):
    net = l2l.CoordinateLSTM(preprocessing="thesis", head="linear", output_scale=0.02)
    path = tmp_path / "opt.pt"
    digest = l2l.save_checkpoint(net, path, {"note": "test"})
    assert list(tmp_path.iterdir()) == [path] and path.stat().st_size < 1_000_000
    loaded, info = l2l.load_checkpoint(path, digest)
    assert info == {"note": "test"} and loaded.config == net.config
    x = torch.randn(7)
    assert torch.equal(loaded(x, loaded.init_state(7))[0], net(x, net.init_state(7))[0])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256"):
        l2l.load_checkpoint(path, digest)
    with pytest.raises(FileNotFoundError, match="learnopt reproduce"):
        l2l.load_checkpoint(tmp_path / "missing.pt")


def test_snapshot_selection_keeps_the_best_scoring_weights():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.1)
    sample = lambda g: l2l.quadratic_problem(g, batch=8, dim=4)  # noqa: E731
    held_out = [sample(torch.Generator().manual_seed(3001 + i)) for i in range(2)]
    snapshots = []

    def validate(n):
        snapshots.append(({k: v.clone() for k, v in n.state_dict().items()}, l2l.validation_score(n, held_out, 10)))
        return snapshots[-1][1]

    config = l2l.MetaTrainConfig(steps=10, unroll=5, meta_lr=3e-2, runs=6, validate_every=2)
    l2l.meta_train(net, sample, config, torch.Generator().manual_seed(0), validate=validate)
    assert len(snapshots) == 4  # before training and after runs 2, 4, 6
    best_weights, best_score = min(snapshots, key=lambda s: s[1])
    assert all(torch.equal(v, best_weights[k]) for k, v in net.state_dict().items())
    assert l2l.validation_score(net, held_out, 10) == pytest.approx(best_score)
    with pytest.raises(ValueError, match="needs a validate function"):
        l2l.meta_train(net, sample, config, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="validate_every must be >= 0"):
        l2l.MetaTrainConfig(steps=10, unroll=5, validate_every=-1)


def test_cosine_schedule_decays_the_meta_learning_rate_to_zero():
    net = l2l.CoordinateLSTM(preprocessing="none")
    rates = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    config = l2l.MetaTrainConfig(steps=6, unroll=3, meta_lr=1e-2, runs=4, schedule="cosine")
    torch.optim.Adam.step = spy
    try:
        l2l.meta_train(net, lambda g: l2l.quadratic_problem(g, batch=2, dim=3), config,
                       torch.Generator().manual_seed(0))
    finally:
        torch.optim.Adam.step = original
    assert len(rates) == 8 and rates[0] == pytest.approx(1e-2)
    expected = [0.5e-2 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
    assert rates == pytest.approx(expected)
    with pytest.raises(ValueError, match="schedule must be"):
        l2l.MetaTrainConfig(schedule="step")


def test_log_meta_loss_is_the_sum_of_log_losses_along_the_same_trajectory():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.1)
    problem = l2l.quadratic_problem(torch.Generator().manual_seed(0), batch=4, dim=3)
    state = net.init_state(12)
    plain, theta, _ = l2l.unroll_slice(net, problem, problem.theta0.clone(), state, 0, 3)
    logged, theta_log, _ = l2l.unroll_slice(net, problem, problem.theta0.clone(), state, 0, 3, log_loss=True)
    assert torch.allclose(theta, theta_log)
    # recompute the three losses along the trajectory by hand
    losses, th, st = [], problem.theta0.clone().requires_grad_(True), state
    for k in range(3):
        (g,) = torch.autograd.grad(problem.loss(th, k), th)
        update, st = net(g, st)
        th = (th + update).detach().requires_grad_(True)
        losses.append(float(problem.loss(th, k + 1).detach()))
    assert float(plain.detach()) == pytest.approx(sum(losses), rel=1e-5)
    assert float(logged.detach()) == pytest.approx(sum(math.log(v) for v in losses), rel=1e-5)


def test_problem_final_scores_the_objective_and_flags_divergence():
    problem = l2l.quadratic_problem(torch.Generator().manual_seed(0), batch=2, dim=3)
    assert problem.final(problem.theta0, 0) == pytest.approx(float(problem.loss(problem.theta0, 0)))
    assert problem.final(torch.full_like(problem.theta0, float("nan")), 0) == math.inf
    whole = l2l.Problem(torch.zeros(2), lambda theta, t: (theta - t).square().sum(),
                        lambda theta: theta.square().sum() + 7)
    assert whole.final(torch.ones(2), 5) == pytest.approx(9.0)  # the objective, not the step-5 minibatch loss


def test_compare_tunes_every_baseline_on_the_grid_and_scores_the_same_problems():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.1)
    sample = lambda g: l2l.quadratic_problem(g, batch=4, dim=3)  # noqa: E731
    grid = (1e-3, 1e-2, 1e-1)
    rows = l2l.compare(sample, net, steps=5, seeds=(11, 12), grid=grid)
    assert list(rows) == ["learned LSTM", *l2l.BASELINES]
    assert rows["learned LSTM"].lr is None and len(rows["learned LSTM"].scores) == 2
    for label, (name, momentum) in l2l.BASELINES.items():
        row = rows[label]
        assert row.lr == l2l.tune_baseline(sample, 5, name, list(grid), 7, momentum)
        direct = [l2l.final_loss(sample(torch.Generator().manual_seed(s)), 5, name, row.lr, momentum) for s in (11, 12)]
        assert row.scores == direct and row.mean == pytest.approx(sum(direct) / 2)
    assert rows["Adam"].std == pytest.approx(abs(rows["Adam"].scores[0] - rows["Adam"].scores[1]) / math.sqrt(2))
    with pytest.raises(ValueError, match="seeds must name at least one"):
        l2l.compare(sample, net, steps=5, seeds=())


def test_pretraining_teaches_gradient_descent_with_the_right_sign():
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(preprocessing="log_sign", output_scale=0.1, p=5.0)
    grads = torch.tensor([3e-4, -1e-3, 3e-3, -1e-2, 3e-2, -1e-1]).repeat(20)
    before = net(grads, net.init_state(grads.numel()))[0]
    history = l2l.pretrain(net, target_lr=1.0, iterations=120, generator=torch.Generator().manual_seed(0))
    assert len(history) == 120 and sum(history[-10:]) < 0.1 * sum(history[:10])
    state, agree = net.init_state(grads.numel()), []
    with torch.no_grad():
        for _ in range(5):  # a few steps of a run: the prior holds as the state fills
            update, state = net(grads, state)
            agree.append((torch.sign(update) == -torch.sign(grads)).float().mean())
    assert min(agree) == 1.0, f"pretrained updates oppose the gradient on every coordinate; got {agree}"
    small = grads.abs() <= 3e-3
    ratio = update[small] / -grads[small]  # the step is about target_lr * gradient where the gradient is small
    assert ((ratio > 0.3) & (ratio < 3.0)).all(), ratio
    assert (torch.sign(before) == -torch.sign(grads)).float().mean() < 1.0  # a random network is not there yet
    with pytest.raises(ValueError, match="target_lr must be > 0"):
        l2l.pretrain(net, target_lr=0.0)
    with pytest.raises(ValueError, match="scale must be"):
        l2l.pretrain(net, target_lr=1.0, scale=(1e-2, 1e-3))
