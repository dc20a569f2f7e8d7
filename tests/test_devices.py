"""Device and dtype: every tensor a module creates follows its inputs; float64 end to end on the CPU, and the same
on CUDA when a GPU is present (skipped otherwise)."""

from __future__ import annotations

import pytest
import torch

from learnopt_course import config, l2l
from learnopt_course import optimizers as optim
from learnopt_course.core import trees
from learnopt_course.hpo import bilevel
from learnopt_course.meta.engine import unroll
from learnopt_course.tasks import QuadraticBatch, make_landscape, mnist_task

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
if not torch.cuda.is_available():
    DEVICES.append(pytest.param("cuda", marks=pytest.mark.skip(reason="no CUDA device on this machine")))


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        return [tree]
    values = tree.values() if isinstance(tree, dict) else tree
    return [t for v in values for t in _tensors(v)]


def _placed(tree, device, dtype):
    return all(t.device.type == device and t.dtype == dtype for t in _tensors(tree))


@pytest.mark.parametrize("device", DEVICES)
def test_float64_end_to_end(device):
    dtype = torch.float64
    task = mnist_task("mlp", (8,), n_train=300, n_val=100, dtype=dtype, device=device)
    sampled = task.sample(torch.Generator().manual_seed(0), steps=4)
    w0 = sampled.init_params()
    assert _placed(w0, device, dtype) and sampled.batch(2)[0].device.type == device
    for opt in ("sgd", "heavy_ball", "nesterov", "rmsprop", "adam"):
        run = unroll(sampled, opt, w0, 3, hp={"lr": 1e-2})
        assert _placed(run.params, device, dtype) and _placed(run.state["slots"], device, dtype), opt
    torch.manual_seed(0)
    net = optim.CoordinateLSTM().to(device=device, dtype=dtype)
    run = unroll(sampled, net.optimizer(), trees.fresh_leaves(w0), 3, graph=True, meta="sum")
    (g,) = torch.autograd.grad(run.meta_loss, [net.cells[0].weight_ih])
    assert _placed(run.params, device, dtype) and g.dtype == dtype and g.device.type == device
    history = l2l.meta_train(net, lambda gen: l2l.quadratic_problem(gen, batch=2, dim=3),
                             l2l.MetaTrainConfig(steps=4, unroll=2, runs=1), torch.Generator().manual_seed(0))
    assert len(history) == 1 and net.cells[0].weight_ih.dtype == dtype
    q = QuadraticBatch.sample(3, 4, torch.Generator().manual_seed(0), dtype, device)
    lr = torch.tensor(0.01, dtype=dtype, device=device, requires_grad=True)
    meta = unroll(q, "adam", q.init(), 5, hp={"lr": lr}, graph=True, meta="mean").meta_loss.sum()
    assert torch.autograd.grad(meta, lr)[0].device.type == device
    problem = bilevel.logistic_l2(n=60, d=3, dtype=dtype, device=device)
    for method in ("unroll", "cg", "exact"):
        lam, w, _ = bilevel.optimize(problem, outer_steps=2, inner_steps=5, method=method, K=3)
        assert _placed(lam, device, dtype) and _placed(w, device, dtype), method
    land = make_landscape("quadratic")
    path = optim.minimize(land, torch.tensor([1.0, -1.0], dtype=dtype, device=device), "adam", {"lr": 0.1}, 5)
    assert _placed(path.final, device, dtype)
    model = torch.nn.Linear(3, 2).to(device=device, dtype=dtype)
    for opt in (optim.TorchOptimizer(model.parameters(), "adam"), optim.LearnedOptimizer(model.parameters(), net)):
        torch.nn.functional.mse_loss(model(torch.ones(4, 3, dtype=dtype, device=device)),
                                     torch.zeros(4, 2, dtype=dtype, device=device)).backward()
        opt.step()
        assert _placed(dict(model.named_parameters()), device, dtype)


def test_the_lessons_device_is_the_factories_default(monkeypatch):
    cfg = config.setup(seed=0, device="cpu", plot_style=False)
    assert config.default_device() == cfg.device
    monkeypatch.setattr(config, "_DEVICE", torch.device("meta"))  # a device no factory would pick by itself
    q = QuadraticBatch.sample(2, 3)
    problem = bilevel.logistic_l2(n=20, d=2)
    assert q.W.device.type == "meta" and problem.data["x_train"].device.type == "meta"


@pytest.mark.parametrize("device", DEVICES)
def test_the_meta_trainer_runs_every_estimator_and_resumes_on_the_device(device, tmp_path):
    """The meta-gradient path at paper scale on a GPU: every estimator, the data-parallel all-reduce (the identity in
    one process), checkpoints of device tensors, and `learnopt reproduce --device`."""
    from learnopt_course.meta import distributed, gradients
    from learnopt_course.meta.objectives import HyperparameterObjective, LearnedOptimizerObjective
    from learnopt_course.meta.trainer import TrainConfig, train
    from learnopt_course.reproduce import reproduce

    dtype = torch.float64
    torch.manual_seed(0)
    net = optim.CoordinateLSTM(output_scale=0.01).to(device=device, dtype=dtype)
    sample = lambda g: QuadraticBatch.sample(2, 3, g, dtype, device)  # noqa: E731
    objective = LearnedOptimizerObjective(net, sample)
    histories = {}
    for name in ("truncated", "full", "es", "pes"):
        estimator = gradients.ESTIMATORS[name](**({"pairs": 2} if name in ("es", "pes") else {}))
        history = histories[name] = train(objective, TrainConfig(runs=2, steps=4, unroll=2), torch.Generator().manual_seed(0), estimator,
                        checkpoint=tmp_path / f"{name}.pt", progress_desc=None)
        assert len(history) == 2 and _placed(dict(net.named_parameters()), device, dtype), name
    resumed = train(objective, TrainConfig(runs=2, steps=4, unroll=2), torch.Generator().manual_seed(0),
                    checkpoint=tmp_path / "truncated.pt", progress_desc=None)
    assert resumed == histories["truncated"]  # a finished checkpoint of device tensors loads and has nothing left to do
    problem = bilevel.logistic_l2(n=60, d=3, dtype=dtype, device=device)
    hyper = HyperparameterObjective(problem, problem.lam0)
    train(hyper, TrainConfig(runs=1, steps=4, unroll=4, meta_lr=0.1), torch.Generator(),
          gradients.Implicit(method="cg", iterations=3), progress_desc=None)
    assert _placed(hyper.parameters(), device, dtype)
    params = list(net.parameters())
    value, grads = distributed.average(torch.tensor(1.0, device=device), [p.detach() for p in params], params)
    assert value.device.type == device and _placed(grads, device, dtype)
    report = reproduce("l2l-quadratic", out=tmp_path / "q.pt", quick=True, device=device)
    assert report["device"].startswith(device) and report["meta_loss_last"] < report["meta_loss_first"]
    assert config.default_device().type == "cpu"  # reproduce gives the default device back
