"""The engine of issue 13: one task protocol, one optimizer interface, one unroll loop, one meta-trainer."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from learnopt_course import l2l
from learnopt_course import optimizers as optim
from learnopt_course.core import trees
from learnopt_course.hpo import bilevel
from learnopt_course.meta import gradients, ift
from learnopt_course.meta.engine import unroll
from learnopt_course.meta.objectives import HyperparameterObjective, LearnedOptimizerObjective
from learnopt_course.meta.trainer import TrainConfig, train
from learnopt_course.tasks import QuadraticBatch, make_landscape
from learnopt_course.tasks.base import FunctionTask, Task, TaskFamily
from learnopt_course.tasks.quadratic import LeastSquaresFamily, QuadraticFamily
from learnopt_course.tasks.toy import ToyTask


def _quadratic(seed: int = 0, dtype=torch.float64):
    return QuadraticBatch.sample(4, 3, torch.Generator().manual_seed(seed), dtype)


def _hand_loop(q, w, lr, steps):
    """Plain SGD written out: the reference every meta-loss is checked against."""
    losses = []
    for _ in range(steps):
        w = w.detach().requires_grad_(True) if not w.requires_grad else w
        loss = q.loss(w)
        (g,) = torch.autograd.grad(loss.sum(), w, create_graph=True)
        losses.append(loss)
        w = w - lr * g
    losses.append(q.loss(w))
    return torch.stack(losses), w


# --- the engine -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("meta", ["final", "mean", "sum", "linear"])
@pytest.mark.parametrize("log", [False, True])
def test_every_meta_loss_matches_a_hand_written_loop_and_its_hypergradient(meta, log):
    q = _quadratic()
    lr = torch.tensor(0.02, dtype=torch.float64, requires_grad=True)
    w0 = q.init(torch.Generator().manual_seed(1))
    run = unroll(q, "sgd", w0, 6, hp={"lr": lr}, graph=True, meta=meta, log=log)
    losses, _ = _hand_loop(q, w0, lr, 6)
    f = (lambda x: x.clamp_min(1e-30).log()) if log else (lambda x: x)
    expected = {"final": f(losses[6]), "mean": f(losses[:6]).mean(0), "sum": f(losses[1:]).sum(0),
                "linear": (torch.arange(1, 7, dtype=torch.float64)[:, None] * f(losses[1:])).sum(0)}[meta]
    assert run.meta_loss.shape == (4,)  # reduced over time only: one value per independent problem
    assert torch.allclose(run.meta_loss, expected, rtol=1e-10)
    (ours,) = torch.autograd.grad(run.meta_loss.sum(), lr)
    (ref,) = torch.autograd.grad(expected.sum(), lr)
    assert torch.allclose(ours, ref, rtol=1e-8) and ours != 0


def test_truncation_equals_a_run_restarted_without_history():
    q = _quadratic(2)
    lr = torch.tensor(0.03, dtype=torch.float64, requires_grad=True)
    w0 = q.init(torch.Generator().manual_seed(3))
    truncated = unroll(q, "heavy_ball", w0, 8, hp={"lr": lr}, graph=True, truncate=3, meta="final")
    first = unroll(q, "heavy_ball", w0, 5, hp={"lr": 0.03})
    restarted = unroll(q, "heavy_ball", first.params, 3, hp={"lr": lr}, state=first.state, start=5, graph=True,
                       meta="final")
    a = torch.autograd.grad(truncated.meta_loss.sum(), lr)[0]
    b = torch.autograd.grad(restarted.meta_loss.sum(), lr)[0]
    full = torch.autograd.grad(unroll(q, "heavy_ball", w0, 8, hp={"lr": lr}, graph=True, meta="final")
                               .meta_loss.sum(), lr)[0]
    assert torch.allclose(a, b, rtol=1e-10) and not torch.allclose(a, full)


def test_graph_free_runs_hold_no_graph_and_record_what_was_asked():
    q = _quadratic()
    lr = torch.tensor(0.02, dtype=torch.float64, requires_grad=True)
    seen = []
    run = unroll(q, "adam", q.init(), 5, hp={"lr": lr}, record=True, callback=lambda t, w, g, l: seen.append(t))
    assert not run.params.requires_grad and not run.losses.requires_grad
    assert all(not s.requires_grad for s in run.state["slots"][trees.SINGLE].values())
    assert len(run.trajectory) == 6 and run.losses.shape == (6, 4) and seen == list(range(6))
    assert run.meta_loss is None and run.steps_done == 5


def test_schedules_start_offsets_and_nonfinite_stops():
    task = FunctionTask(lambda w, t: (w**2).sum() * (math.inf if t >= 7 else 1.0), torch.ones(2))
    lrs = []
    run = unroll(task, "sgd", torch.ones(2), 5, hp=lambda t: lrs.append(t) or {"lr": 0.1}, start=4,
                 stop_nonfinite=True)
    assert run.diverged and run.steps_done == 3 and lrs == [4, 5, 6]
    with pytest.raises(ValueError, match="meta must be one of"):
        unroll(task, "sgd", torch.ones(2), 3, meta="median")
    with pytest.raises(ValueError, match="truncate must be an integer from 1 to steps=3"):
        unroll(task, "sgd", torch.ones(2), 3, graph=True, truncate=5)
    with pytest.raises(TypeError, match="task must be a Task"):
        unroll(3, "sgd", torch.ones(2), 3)
    with pytest.raises(ValueError, match="built without a starting point"):
        FunctionTask(lambda w, t: w.sum()).init_params()


# --- tasks ----------------------------------------------------------------------------------------------------


def test_every_task_kind_implements_the_protocol(tiny_mnist_task):
    g = torch.Generator().manual_seed(0)
    kinds = [make_landscape("rosenbrock"), ToyTask(), _quadratic(), QuadraticFamily(batch=2, dim=3).sample(g),
             LeastSquaresFamily(dim=4).sample(g), tiny_mnist_task.sample(g, steps=3),
             bilevel.logistic_l2(n=40, d=3).task(torch.zeros(3)),
             l2l.quadratic_problem(torch.Generator().manual_seed(0), batch=2, dim=3)]
    for task in kinds:
        assert isinstance(task, Task)
        params = task.init_params(torch.Generator().manual_seed(0))
        run = unroll(task, "sgd", params, 3, hp={"lr": 1e-3})
        assert run.losses.shape[0] == 4 and bool(torch.isfinite(run.losses).all()), type(task).__name__
    for family in (QuadraticFamily(), LeastSquaresFamily(), tiny_mnist_task):
        assert isinstance(family, TaskFamily)


def test_a_sampled_classification_task_keeps_its_minibatches_and_evaluates_without_graph(tiny_mnist_task):
    a = tiny_mnist_task.sample(torch.Generator().manual_seed(5))
    b = tiny_mnist_task.sample(torch.Generator().manual_seed(5), steps=4)
    x3, _ = a.batch(3)
    assert torch.equal(x3, b.batch(3)[0]) and torch.equal(a.batch(1)[0], b.batch(1)[0])
    params = trees.fresh_leaves(a.init_params())
    numbers = a.evaluate(params, "val")
    assert set(numbers) == {"loss", "accuracy"} and 0 <= numbers["accuracy"] <= 1
    with pytest.raises(ValueError, match="split must be 'train', 'val' or 'test'"):
        a.evaluate(params, "holdout")


@pytest.fixture(scope="module")
def tiny_mnist_task():
    from learnopt_course.tasks import mnist_task

    return mnist_task("mlp", (8,), n_train=500, n_val=200)


# --- optimizers -----------------------------------------------------------------------------------------------


def test_the_lstm_optimizer_is_an_optimizer_like_adam_and_unrolls_the_same_as_a_slice():
    torch.manual_seed(0)
    net = optim.CoordinateLSTM(preprocessing="log_sign", output_scale=0.05)
    opt = net.optimizer()
    assert isinstance(opt, optim.Optimizer) and isinstance(optim.adam, optim.Optimizer)
    problem = l2l.quadratic_problem(torch.Generator().manual_seed(1), batch=2, dim=3)
    meta, theta, _ = l2l.unroll_slice(net, problem, problem.theta0, net.init_state(6), 0, 4)
    run = unroll(problem, opt, problem.theta0, 4, graph=True, second_order=False, meta="sum")
    assert torch.allclose(meta, run.meta_loss) and torch.allclose(theta, run.params)
    phi = {k: v.detach().clone() for k, v in net.named_parameters()}
    again = unroll(problem, net.optimizer(phi), problem.theta0, 4, meta="sum", graph=True)
    assert torch.allclose(again.meta_loss, run.meta_loss)  # the same rule from explicit meta-parameters


def test_the_rl_environment_trains_with_a_learned_optimizer():
    from learnopt_course.rl import LRControlEnv

    torch.manual_seed(0)
    net = optim.CoordinateLSTM(output_scale=0.01)
    env = LRControlEnv("quadratic", optimizer=net.optimizer(), episode_length=3, inner_steps=2,
                       lr_range=(0.1, 10.0))
    env.reset(seed=0)
    before = env.params["theta"].clone()
    obs, reward, done, _, info = env.step(env.action_for(1.0))
    assert not torch.equal(before, env.params["theta"]) and math.isfinite(reward) and not info["diverged"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_adapters_round_trip_state_keep_dtype_and_expose_lr(dtype):
    def make(seed):
        torch.manual_seed(seed)
        return torch.nn.Linear(4, 3).to(dtype)

    x, y = torch.randn(8, 4, dtype=dtype), torch.randn(8, 3, dtype=dtype)
    torch.manual_seed(0)
    net = optim.CoordinateLSTM()
    builders = {"adam": lambda p: optim.TorchOptimizer(p, "adam", lr=0.01),
                "lstm": lambda p: optim.LearnedOptimizer(p, net, lr=0.5)}
    for name, build in builders.items():
        model = make(1)
        opt = build(model.parameters())
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        twin = copy.deepcopy(model)
        other = build(twin.parameters())
        other.load_state_dict(copy.deepcopy(opt.state_dict()))
        for o in (opt, other):
            o.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        torch.nn.functional.mse_loss(twin(x), y).backward()
        opt.step(), other.step()
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters())), name
        state = other.state[next(iter(twin.parameters()))]["functional"]
        expected = dtype if name == "adam" else torch.float32  # the LSTM's state keeps the network's dtype
        first = state["slots"][trees.SINGLE]["m"] if name == "adam" else state["lstm"][0][0]
        assert first.dtype == expected and all(p.dtype == dtype for p in twin.parameters())
        sched = torch.optim.lr_scheduler.StepLR(other, step_size=1, gamma=0.5)
        sched.step()
        assert other.param_groups[0]["lr"] == pytest.approx(0.005 if name == "adam" else 0.25)
    assert all(p.requires_grad for p in net.parameters())  # the caller's network is neither frozen nor changed


# --- estimators and the trainer -------------------------------------------------------------------------------


def _hyper_objective():
    problem = bilevel.logistic_l2(n=200, d=4, seed=1, dtype=torch.float64)
    return problem, HyperparameterObjective(problem, torch.zeros(4, dtype=torch.float64))


def test_es_and_pes_estimate_the_truncated_backprop_direction():
    problem, objective = _hyper_objective()
    phi = objective.parameters()
    worker = objective.start()
    _, exact, _ = gradients.TruncatedBackprop().estimate(objective, phi, [worker], 20, torch.Generator())
    g = torch.Generator().manual_seed(0)
    es = gradients.AntitheticES(sigma=1e-3, pairs=64)
    _, est, _ = es.estimate(objective, phi, es.init(objective, g), 20, g)
    cos = float(est[trees.SINGLE] @ exact[trees.SINGLE] / (est[trees.SINGLE].norm() * exact[trees.SINGLE].norm()))
    assert cos > 0.8, cos
    pes = gradients.PES(sigma=1e-3, pairs=64)
    _, est_p, _ = pes.estimate(objective, phi, pes.init(objective, g), 20, g)  # first window: PES = ES
    cos_p = float(est_p[trees.SINGLE] @ exact[trees.SINGLE] / (est_p[trees.SINGLE].norm() * exact[trees.SINGLE].norm()))
    assert cos_p > 0.8, cos_p


def test_the_implicit_estimator_is_ift_at_the_window_end_and_refuses_a_learned_optimizer():
    problem, objective = _hyper_objective()
    phi = objective.parameters()
    _, est, worker = gradients.Implicit("exact").estimate(objective, phi, [objective.start()], 200, None)
    lam = torch.zeros(4, dtype=torch.float64)
    w_T = bilevel.inner_solve(problem, lam, None, 200)
    ref = ift.hypergradient(problem.train_loss, problem.val_loss, w_T, lam, "exact")
    assert torch.allclose(est[trees.SINGLE], ref) and torch.allclose(worker[0].params, w_T)
    torch.manual_seed(0)
    net = optim.CoordinateLSTM()
    lo = LearnedOptimizerObjective(net, lambda g: l2l.quadratic_problem(g, batch=2, dim=3))
    with pytest.raises(ValueError, match="implicit function theorem needs meta-parameters that move the"):
        gradients.Implicit().estimate(lo, lo.parameters(), [lo.start(torch.Generator())], 5, None)


@pytest.mark.parametrize("estimator", [gradients.TruncatedBackprop(), gradients.FullUnroll(),
                                       gradients.AntitheticES(0.01, 2), gradients.PES(0.01, 2)])
def test_every_estimator_trains_a_learned_optimizer_through_the_one_trainer(estimator):
    torch.manual_seed(0)
    net = optim.CoordinateLSTM(output_scale=0.01)
    before = copy.deepcopy(net.state_dict())
    config = l2l.MetaTrainConfig(steps=6, unroll=3, runs=2, meta_lr=1e-2)
    history = l2l.meta_train(net, lambda g: l2l.quadratic_problem(g, batch=2, dim=3), config,
                             torch.Generator().manual_seed(0), estimator=estimator)
    assert len(history) == 2 and all(math.isfinite(h) for h in history)
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_resumed_meta_training_ends_where_an_uninterrupted_one_does(tmp_path):
    def run(runs, path=None, seed_net=0):
        torch.manual_seed(seed_net)
        net = optim.CoordinateLSTM(output_scale=0.01)
        objective = LearnedOptimizerObjective(net, lambda g: l2l.quadratic_problem(g, batch=2, dim=3))
        return net, objective

    config = TrainConfig(runs=4, steps=6, unroll=3, meta_lr=1e-2, schedule="cosine")
    net_a, obj_a = run(4)
    hist_a = train(obj_a, config, torch.Generator().manual_seed(7), progress_desc=None)
    path = tmp_path / "meta.pt"
    net_b, obj_b = run(4)
    g = torch.Generator().manual_seed(7)
    stopped = TrainConfig(**{**config.__dict__})

    def interrupt(r, value):
        if r == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(obj_b, stopped, g, callback=interrupt, checkpoint=path, progress_desc=None)
    assert path.is_file() and not list(tmp_path.glob("*.tmp*"))
    net_c, obj_c = run(4, seed_net=99)  # a fresh process: other weights, fresh generator
    hist_c = train(obj_c, config, torch.Generator().manual_seed(123), checkpoint=path, progress_desc=None)
    assert hist_c == hist_a
    assert all(torch.equal(a, b) for a, b in zip(net_a.parameters(), net_c.parameters()))
    with pytest.raises(ValueError, match="was written for config"):
        train(obj_c, TrainConfig(runs=5, steps=6, unroll=3), torch.Generator(), checkpoint=path,
              progress_desc=None)


def test_hyperparameter_tuning_takes_each_inner_step_once():
    problem = bilevel.logistic_l2(n=100, d=3, seed=0)
    calls = {"n": 0}
    inner = problem.train_loss

    def counted(w, lam):
        calls["n"] += 1
        return inner(w, lam)

    problem.train_loss = counted
    outer, steps = 3, 5
    for method in ("unroll", "truncated"):
        calls["n"] = 0
        bilevel.optimize(problem, outer_steps=outer, inner_steps=steps, method=method, K=2)
        # one evaluation per inner step, plus one per outer step for the history: no second training pass
        assert calls["n"] == outer * steps + outer, (method, calls["n"])


def test_a_saved_learned_optimizer_restores_its_rule_into_one_built_with_another_network():
    torch.manual_seed(0)
    trained, other_net = optim.CoordinateLSTM(), optim.CoordinateLSTM()
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    model = torch.nn.Linear(4, 3)
    opt = optim.LearnedOptimizer(model.parameters(), trained)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    twin = copy.deepcopy(model)
    restored = optim.LearnedOptimizer(twin.parameters(), other_net)
    restored.load_state_dict(opt.state_dict())
    for m, o in ((model, opt), (twin, restored)):
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))
