"""Checkers for lesson 05, learning to learn by gradient descent by gradient descent.

Exercise 5.1 ``log_sign_preprocess(grad, p)``: the two-channel gradient preprocessing of Andrychowicz et al. (2016).
Exercise 5.2 ``apply_updates(params, updates)``: a functional parameter update that keeps the meta-graph.
Exercise 5.3 ``slice_meta_loss(net, problem, theta, state, T)``: the truncated meta-loss of one slice.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import l2l
from ..meta import engine
from .core import Exercise, checker


def _grad_case(seed: int, n: int = 40) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        scales = torch.logspace(-8, 2, n, dtype=torch.float64)
        signs = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
        return {"grad": scales * signs * (1 + 0.1 * torch.rand(n, generator=g, dtype=torch.float64)),
                "p": 10.0 - 2 * (seed % 4)}

    return make


def _ls_wrong(grad, p, kind):
    if kind == "always_log":
        return torch.stack([torch.log(grad.abs()) / p, torch.sign(grad)], -1)
    if kind == "sign_small":
        out = l2l.preprocess_log_sign(grad, p).clone()
        out[:, 1] = torch.sign(grad)
        return out
    raise ValueError(kind)


PREPROCESS = Exercise(
    id="5.1",
    name="log_sign_preprocess",
    reference=l2l.preprocess_log_sign,
    cases=[_grad_case(s) for s in range(4)],
    mistakes={
        "return two channels, not their product (that is the non-injective one-channel form of eq. 5.2)": (
            lambda grad, p: l2l.preprocess_thesis(grad, p)
        ),
        "tiny gradients need the other branch: the log of a tiny gradient is a huge negative number": (
            lambda grad, p: _ls_wrong(grad, p, "always_log")
        ),
        "for tiny gradients the second channel is the scaled gradient itself, not its sign": (
            lambda grad, p: _ls_wrong(grad, p, "sign_small")
        ),
    },
    hint="Andrychowicz et al. (2016), Appendix A, quoted in the text: two channels, two branches split at the "
         "threshold that p sets",
    hidden=lambda s: [_grad_case(s + k, (3, 100, 17)[k]) for k in range(3)],
    library=(l2l.preprocess_log_sign, l2l.CoordinateLSTM.features),
)


def _params_case(seed: int, shapes: tuple[tuple[int, ...], ...] = ((3, 2), (2,))) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(seed)
        params = {f"p{i}": torch.randn(shape, generator=g) for i, shape in enumerate(shapes)}
        updates = {k: (0.1 * torch.randn(v.shape, generator=g)).requires_grad_(True) for k, v in params.items()}
        return {"params": params, "updates": updates}

    return make


def _inplace(params, updates):
    out = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    with torch.no_grad():
        for k in out:
            out[k].add_(updates[k])
    return out


def _data_assign(params, updates):
    out = {k: v.clone() for k, v in params.items()}
    for k in out:
        out[k].data = out[k].data + updates[k].data
    return out


APPLY = Exercise(
    id="5.2",
    name="apply_updates",
    reference=lambda params, updates: {k: params[k] + updates[k] for k in params},
    cases=[_params_case(s) for s in range(3)],
    requires_graph=True,
    grad_wrt=("updates",),
    mistakes={},
    hint="build a new dictionary of new tensors, one per name; never modify a tensor in place (no add_, no .data, "
         "no torch.no_grad), or the meta-gradient cannot reach the updates",
    hidden=lambda s: [_params_case(s + k, (((4,),), ((2, 3, 2), (5,), ()), ((1, 1), (3,)))[k]) for k in range(3)],
)


def _reference_slice(net, problem, theta, state, T):
    return l2l.unroll_slice(net, problem, theta, state, 0, T)[0]


def _slice_case(seed: int, batch: int = 3, dim: int = 4) -> Callable[[], dict]:
    def make() -> dict:
        with torch.random.fork_rng(devices=[]):  # the student's global generator is left as it was
            torch.manual_seed(100 + seed)
            net = l2l.CoordinateLSTM(preprocessing="none", output_scale=0.05)
        problem = l2l.quadratic_problem(torch.Generator().manual_seed(seed), batch=batch, dim=dim)
        return {"net": net, "problem": problem, "theta": problem.theta0.clone(), "state": net.init_state(batch * dim),
                "T": 3 + seed % 3}

    return make


def _slice_wrong(net, problem, theta, state, T, kind):
    theta = theta.requires_grad_(True)
    total = problem.loss(theta, 0) if kind == "include_start" else 0.0
    for k in range(T if kind != "short" else T - 1):
        (g,) = torch.autograd.grad(problem.loss(theta, k), theta, retain_graph=True)
        update, state = net(g, state)
        theta = theta + update
        total = total + problem.loss(theta, k + 1)
    return total


SLICE = Exercise(
    id="5.3",
    name="slice_meta_loss",
    reference=_reference_slice,
    cases=[_slice_case(s) for s in range(3)],
    requires_graph=True,
    atol=1e-5,
    rtol=1e-5,
    mistakes={
        "the loss at the slice's start does not depend on the optimizer: sum only the losses after each update": (
            lambda net, problem, theta, state, T: _slice_wrong(net, problem, theta, state, T, "include_start")
        ),
        "one update short: the slice takes exactly T learned steps": (
            lambda net, problem, theta, state, T: _slice_wrong(net, problem, theta, state, T, "short")
        ),
    },
    hint="the slice of the text (Schröter 2022, eqs. 3.3 and 3.5): T learned steps, each from the detached gradient "
         "of the current loss, and the meta-loss collects the loss after every step",
    hidden=lambda s: [_slice_case(s + k, (2, 1, 4)[k], (3, 5, 2)[k]) for k in range(3)],
    library=(l2l.unroll_slice, engine.unroll),
)

log_sign_preprocess = checker(PREPROCESS, "40 gradients from 1e-8 to 1e2 of both signs, 4 values of p.")
apply_updates = checker(APPLY, "values, and that the new parameters still depend on the updates.")
slice_meta_loss = checker(SLICE, "the meta-loss of slices of 3 to 5 steps on small quadratics, and that it has a graph.")
