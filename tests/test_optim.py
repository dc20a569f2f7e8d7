"""The functional optimizers match torch.optim and are differentiable with respect to their hyperparameters."""

import pytest
import torch

from learnopt_course import optimizers as optim

TORCH_EQUIVALENTS = {
    "sgd": (torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.01}, {"lr": 0.05, "weight_decay": 0.01}),
    "heavy_ball": (
        torch.optim.SGD,
        {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01},
        {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01},
    ),
    "nesterov": (
        torch.optim.SGD,
        {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01},
    ),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.1, "weight_decay": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}, {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}),
    "adam": (
        torch.optim.Adam,
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-8, "weight_decay": 0.01},
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.01},
    ),
}


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.randn(40, generator=g, dtype=torch.float64)
    params = {
        "w": torch.randn(6, 3, generator=g, dtype=torch.float64),
        "v": torch.randn(3, generator=g, dtype=torch.float64),
    }

    def loss_fn(p):
        return ((torch.tanh(X @ p["w"]) @ p["v"] - y) ** 2).mean()

    return params, loss_fn


@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENTS))
def test_matches_torch_optim_over_100_steps(name):
    torch_cls, torch_hp, our_hp = TORCH_EQUIVALENTS[name]
    params, loss_fn = _problem()
    reference = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    torch_opt = torch_cls(reference.values(), **torch_hp)
    ours = {k: v.clone() for k, v in params.items()}
    opt = optim.get(name)
    state = opt.init(ours)
    for _ in range(100):
        torch_opt.zero_grad()
        loss_fn(reference).backward()
        torch_opt.step()
        p = {k: v.detach().requires_grad_(True) for k, v in ours.items()}
        grads = dict(zip(p, torch.autograd.grad(loss_fn(p), list(p.values()))))
        ours, state = opt.step(p, grads, state, our_hp)
    for k in params:
        assert torch.allclose(ours[k], reference[k].detach(), atol=1e-6, rtol=0), (name, k)
    assert state["t"] == 100
    # the run moved the parameters: the comparison is not between two copies of the start
    assert (ours["w"] - params["w"]).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENTS))
def test_lr_hypergradient_matches_central_difference(name):
    params, loss_fn = _problem(1)
    _, _, our_hp = TORCH_EQUIVALENTS[name]

    def final_loss(lr):
        hp = dict(our_hp, lr=lr)
        p0 = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        traj = optim.minimize(loss_fn, p0, name, hp, steps=30, differentiable=True)
        return traj.losses[-1]

    lr = torch.tensor(our_hp["lr"], dtype=torch.float64, requires_grad=True)
    (hypergrad,) = torch.autograd.grad(final_loss(lr), lr)
    h = 1e-6
    fd = (final_loss(lr.detach() + h) - final_loss(lr.detach() - h)).detach() / (2 * h)
    assert abs(float(fd)) > 1e-4, "the problem must have a non-trivial hypergradient"
    assert torch.allclose(hypergrad, fd, rtol=1e-5, atol=1e-9), (name, float(hypergrad), float(fd))


def test_step_is_pure_and_keeps_graph():
    p = torch.randn(5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, dtype=torch.float64)
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    state = optim.adam.init(p)
    before = p.detach().clone()
    new_p, new_state = optim.adam.step(p, g, state, {"lr": lr})
    assert torch.equal(p.detach(), before)
    assert state["t"] == 0 and new_state["t"] == 1
    assert new_p.requires_grad and new_p.grad_fn is not None
    (d_lr,) = torch.autograd.grad(new_p.sum(), lr)
    assert torch.isfinite(d_lr) and d_lr != 0


def test_zero_gradient_gives_finite_meta_gradient():
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    for opt in (optim.adam, optim.rmsprop):
        new_p, _ = opt.step(p, p * 0, opt.init(p), {"lr": 0.1})
        (g,) = torch.autograd.grad(new_p.sum(), p)
        assert torch.isfinite(g).all(), opt.name


def test_per_tensor_and_per_coordinate_hyperparameters():
    params = {"a": torch.ones(2), "b": torch.ones(3)}
    grads = {"a": torch.ones(2), "b": torch.ones(3)}
    new, _ = optim.sgd.step(params, grads, optim.sgd.init(params), {"lr": {"a": 0.5, "b": torch.tensor([0.0, 1.0, 2.0])}})
    assert torch.allclose(new["a"], torch.tensor([0.5, 0.5]))
    assert torch.allclose(new["b"], torch.tensor([1.0, 0.0, -1.0]))


def test_bad_input_is_named():
    p = {"w": torch.zeros(2)}
    with pytest.raises(KeyError, match="no hyperparameter 'momentum'"):
        optim.sgd.step(p, p, optim.sgd.init(p), {"momentum": 0.9})
    with pytest.raises(KeyError, match="same keys"):
        optim.sgd.step(p, {"x": torch.zeros(2)}, optim.sgd.init(p))
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape \(3,\)"):
        optim.sgd.step(p, {"w": torch.zeros(3)}, optim.sgd.init(p))
    with pytest.raises(TypeError, match="params must be a tensor or a mapping"):
        optim.sgd.init([torch.zeros(2)])
    with pytest.raises(TypeError, match="state must come from sgd.init"):
        optim.sgd.step(p, p, None)
    with pytest.raises(KeyError, match="optimizer must be one of"):
        optim.get("lion")
    with pytest.raises(KeyError, match="no entry for 'w'"):
        optim.sgd.step(p, p, optim.sgd.init(p), {"lr": {"v": 0.1}})
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        optim.minimize(lambda q: q.sum(), torch.zeros(2), "sgd", steps=-1)


def test_minimize_records_every_iterate_and_loss():
    loss_fn = lambda x: (x**2).sum()  # noqa: E731
    traj = optim.minimize(loss_fn, torch.tensor([1.0, -2.0]), "sgd", {"lr": 0.25}, steps=3)
    assert len(traj.params) == 4 and traj.losses.shape == (4,)
    # x <- x - 0.25 * 2x = x / 2, so the loss falls by 4x per step
    assert torch.allclose(traj.losses, torch.tensor([5.0, 1.25, 0.3125, 0.078125]))
    assert not traj.final.requires_grad


def test_torch_optimizer_wrapper_matches_functional():
    params, loss_fn = _problem(2)
    module_params = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    wrapped = optim.TorchOptimizer(module_params.values(), "nesterov", lr=0.02, momentum=0.8)
    for _ in range(20):
        wrapped.zero_grad()
        loss_fn(module_params).backward()
        wrapped.step()
    traj = optim.minimize(loss_fn, params, "nesterov", {"lr": 0.02, "momentum": 0.8}, steps=20)
    for k in params:
        assert torch.allclose(module_params[k].detach(), traj.final[k], atol=1e-10)


def test_lbfgs_matches_torch_optim_lbfgs_with_one_iteration_per_step():
    params, loss_fn = _problem(3)
    reference = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    torch_opt = torch.optim.LBFGS(reference.values(), lr=0.1, max_iter=1, history_size=5)
    opt = optim.lbfgs
    ours, state = {k: v.clone() for k, v in params.items()}, opt.init(params)
    for _ in range(40):  # equal to rounding at every step; rounding grows along a long run, as for any recursion
        def closure():
            torch_opt.zero_grad()
            value = loss_fn(reference)
            value.backward()
            return value
        torch_opt.step(closure)
        p = {k: v.detach().requires_grad_(True) for k, v in ours.items()}
        grads = dict(zip(p, torch.autograd.grad(loss_fn(p), list(p.values()))))
        ours, state = opt.step(p, grads, state, {"lr": 0.1, "history": 5})
    for k in params:
        assert torch.allclose(ours[k], reference[k].detach(), atol=1e-10), k
    assert loss_fn(ours) < 0.5 * loss_fn(params)
    with pytest.raises(KeyError, match="lbfgs has no hyperparameter 'momentum'"):
        opt.step(ours, grads, state, {"momentum": 0.9})


def test_lbfgs_runs_in_the_unroll_engine_and_reaches_the_quadratic_minimum():
    from learnopt_course.meta.engine import unroll

    g = torch.Generator().manual_seed(0)
    M = torch.randn(6, 6, generator=g, dtype=torch.float64)
    A, b = M @ M.T + torch.eye(6, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    run = unroll(lambda x, t: 0.5 * x @ A @ x - b @ x, optim.lbfgs, torch.zeros(6, dtype=torch.float64), 30,
                 hp={"lr": 1.0, "history": 10})
    assert torch.allclose(run.params, torch.linalg.solve(A, b), atol=1e-6)
