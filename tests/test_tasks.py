"""Optimizee tasks: functional models, random quadratics, MNIST tasks and few-shot Omniglot episodes."""

import math
import os
from pathlib import Path

import pytest
import torch

from learnopt_course import optimizers as optim
from learnopt_course.tasks import FAMILIES, QuadraticBatch, cnn, make_task, mlp


def _has_data():
    root = os.environ.get("LEARNOPT_DATA")
    return bool(root) and (Path(root) / "mnist").is_dir()


needs_data = pytest.mark.skipif(
    not _has_data() and os.environ.get("CI", "").lower() in {"", "0", "false", "no"},
    reason="LEARNOPT_DATA not set (CI always sets it)",
)


def test_functional_model_matches_module_and_is_seeded():
    model = mlp([6, 5, 3], "tanh")
    a, b = model.init(torch.Generator().manual_seed(0)), model.init(torch.Generator().manual_seed(0))
    assert all(torch.equal(a[k], b[k]) for k in a) and model.num_parameters == 6 * 5 + 5 + 5 * 3 + 3
    x = torch.randn(4, 6)
    manual = torch.tanh(x @ a["1.weight"].T + a["1.bias"]) @ a["3.weight"].T + a["3.bias"]
    assert torch.allclose(model(a, x), manual, atol=1e-6)
    bound = 1 / 6**0.5
    assert float(a["1.weight"].abs().max()) <= bound
    with pytest.raises(KeyError, match="missing"):
        model({}, x)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp([2, 2, 2], "swish")


def test_gradients_flow_through_functional_updates():
    model = cnn(4, channels=(4,), image_size=8)
    params = {k: v.requires_grad_(True) for k, v in model.init(torch.Generator().manual_seed(1)).items()}
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0])
    lr = torch.tensor(0.1, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(params, x), y)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()), create_graph=True)))
    new, _ = optim.sgd.step(params, grads, optim.sgd.init(params), {"lr": lr})
    after = torch.nn.functional.cross_entropy(model(new, x), y)
    (d_lr,) = torch.autograd.grad(after, lr)
    assert d_lr < 0, "a small SGD step lowers the loss, so increasing lr lowers it more"


def test_quadratic_batch():
    g = torch.Generator().manual_seed(0)
    q = QuadraticBatch.sample(batch=8, dim=3, generator=g, dtype=torch.float64)
    theta = q.init(g)
    manual = torch.stack([((q.W[b] @ theta[b] - q.y[b]) ** 2).sum() for b in range(8)])
    assert torch.allclose(q.loss(theta), manual)
    assert torch.allclose(q.minimum(), torch.zeros(8, dtype=torch.float64), atol=1e-8)
    run = optim.minimize(lambda t: q.loss(t).sum(), theta, "adam", {"lr": 0.1}, steps=300)
    assert (q.loss(run.final) < q.loss(theta) * 0.1).all()
    with pytest.raises(ValueError, match=r"theta must have shape \(8, 3\)"):
        q.loss(torch.zeros(3))


@needs_data
def test_mnist_mlp_task_trains_and_generalises():
    task = make_task("mnist-mlp-20-sigmoid", n_train=5000, n_val=2000)
    assert task.train_x.shape == (5000, 1, 28, 28) and task.val_x.shape == (2000, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    params = task.init_params(g)
    start_loss, start_acc = task.val_metrics(params)
    run = optim.minimize(lambda p: task.minibatch_loss(p, g), params, "adam", {"lr": 0.01}, steps=150)
    loss, acc = task.val_metrics(run.final)
    assert loss < start_loss - 1.0 and acc > 0.8 > start_acc


@needs_data
def test_validation_split_is_held_out():
    task = make_task("mnist-logreg", n_train=1000, n_val=500)
    train = {x.numpy().tobytes() for x in task.train_x}
    val = {x.numpy().tobytes() for x in task.val_x}
    assert len(train & val) <= 2  # MNIST holds a handful of duplicate images; the indices themselves are disjoint
    with pytest.raises(ValueError, match="n_val must be between"):
        make_task("mnist-logreg", n_val=0)


@needs_data
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_builds_and_has_a_finite_loss(name):
    g = torch.Generator().manual_seed(0)
    if name.startswith("quadratic"):
        task = make_task(name, batch=4)
        assert torch.isfinite(task.loss(task.init(g))).all()
    elif name.startswith("omniglot"):
        task = make_task(name, split="evaluation")
        params, episode = task.init_params(g), task.episode()
        assert torch.isfinite(task.support_loss(params, episode))
        assert 0.0 <= task.query_accuracy(params, episode) <= 1.0
    else:
        task = make_task(name, n_train=512, n_val=256)
        assert torch.isfinite(task.minibatch_loss(task.init_params(g), g))


@needs_data
def test_few_shot_adaptation_improves_support_loss():
    task = make_task("omniglot-5way-5shot", split="evaluation", channels=(8, 8))
    g = torch.Generator().manual_seed(0)
    params, episode = task.init_params(g), task.episode()
    run = optim.minimize(lambda p: task.support_loss(p, episode), params, "adam", {"lr": 0.01}, steps=30)
    assert run.losses[-1] < 0.5 * run.losses[0]
    # the same through the task protocol: an episode is a task (support = training data, query = "val")
    from learnopt_course.meta.engine import unroll
    from learnopt_course.tasks.base import Task

    episode_task = task.sample(torch.Generator().manual_seed(0))
    assert isinstance(episode_task, Task)
    before = episode_task.evaluate(episode_task.init_params(), "val")
    result = unroll(episode_task, "adam", episode_task.init_params(), 30, hp={"lr": 0.01})
    assert result.losses[-1] < 0.5 * result.losses[0]
    after = episode_task.evaluate(result.params, "val")
    assert set(after) == set(before) == {"loss", "accuracy"} and 0 <= after["accuracy"] <= 1
    assert math.isfinite(after["loss"]) and after["loss"] != before["loss"]  # scored on the query set


def test_unknown_family():
    with pytest.raises(KeyError, match="task family must be one of"):
        make_task("cifar-resnet")


@needs_data
def test_test_split_comes_from_the_official_test_set_and_is_never_used_for_choices():
    task = make_task("mnist-logreg", n_train=500, n_val=200, n_test=300)
    assert task.test_x.shape[0] == 300 and task.test_y.shape == (300,)
    train = {x.numpy().tobytes() for x in task.train_x}
    assert len(train & {x.numpy().tobytes() for x in task.test_x}) <= 2
    params = task.init_params(torch.Generator().manual_seed(0))
    loss, acc = task.test_metrics(params)
    assert loss == pytest.approx(float(task.loss(params, task.test_x, task.test_y)), rel=1e-6) and 0 <= acc <= 1
    with pytest.raises(ValueError, match="has no test split; build it with n_test"):
        make_task("mnist-logreg", n_train=500, n_val=200).test_metrics(params)
    for bad in (0, 10001, 2.5):
        with pytest.raises(ValueError, match=r"n_test must be an integer between 1 and 10000; got"):
            make_task("mnist-logreg", n_train=500, n_val=200, n_test=bad)


@needs_data
def test_li_and_maliks_projected_mnist_task():
    task = make_task("mnist48-mlp-48-relu", n_train=2000, n_val=500, n_test=300)
    assert task.train_x.shape == (2000, 48) and task.test_x.shape == (300, 48)
    assert torch.allclose(task.train_x.mean(0), torch.zeros(48), atol=1e-4)
    assert torch.allclose(task.train_x.std(0), torch.ones(48), atol=1e-4)
    params = task.init_params(torch.Generator().manual_seed(0))
    assert sum(p.numel() for p in params.values()) == 2842  # Li & Malik's 48-48-10: 2,304 + 48 + 480 + 10
    assert math.isfinite(task.val_metrics(params)[0])
    again = make_task("mnist48-mlp-48-relu", n_train=2000, n_val=500)
    assert torch.equal(again.train_x, task.train_x)  # one projection, from its seed
    with pytest.raises(ValueError, match="project needs a model on vectors"):
        make_task("mnist-cnn", project=48)


def test_initialisation_schemes_follow_their_formulas():
    from learnopt_course.tasks.models import mlp

    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch_init = mlp([784, 32, 32, 10], "elu").init(g(), torch.float64)
    he = mlp([784, 32, 32, 10], "elu", "he_uniform").init(g(), torch.float64)
    glorot = mlp([784, 32, 32, 10], "tanh", "glorot").init(g(), torch.float64)
    assert sum(v.numel() for v in he.values()) == 26506  # Crouther (2023)'s 784-32-32-10
    for name, fan_in, fan_out in (("1.weight", 784, 32), ("3.weight", 32, 32), ("5.weight", 32, 10)):
        assert float(torch_init[name].abs().max()) <= 1 / fan_in**0.5
        assert 0.9 * (6 / fan_in) ** 0.5 < float(he[name].abs().max()) <= (6 / fan_in) ** 0.5
        assert float(glorot[name].abs().max()) <= (6 / (fan_in + fan_out)) ** 0.5
    assert all(float(he[k].abs().max()) == 0 for k in he if k.endswith("bias"))
    assert float(torch_init["1.bias"].abs().max()) > 0  # the default draws biases too (every lesson's numbers)
    with pytest.raises(ValueError, match="init must be one of"):
        mlp([2, 2], init="xavier")
