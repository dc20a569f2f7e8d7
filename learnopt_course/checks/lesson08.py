"""Checkers for lesson 08, HyperSVG (Crouther 2023, Ch. 3).

Exercise 8.1 ``reparameterized_next(mu, s_next, sigma)``: infer the noise of an observed transition and rebuild the
next state from the model's mean with it (SVG's noise inference; Alg. 5 with the sign corrected).
Exercise 8.2 ``imitation_loss(model, states, log_lr)``: eq. 4.1.1, the target index corrected.
Exercise 8.3 ``svg_teacher_forced(model, log_lr, states, task_loss)``: Alg. 5's v_T, teacher-forced.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..hypersvg import model as hmodel
from ..hypersvg import svg
from .core import Exercise, checker

D = torch.float64


def _next_case(seed: int, d: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(800 + seed)
        n = d or (1, 3, 5, 2)[seed % 4]
        return {"mu": torch.randn(4, n, generator=g, dtype=D, requires_grad=True),
                "s_next": torch.randn(4, n, generator=g, dtype=D), "sigma": (0.1, 0.5, 1.0, 0.05)[seed % 4]}

    return make


NEXT = Exercise(
    id="8.1",
    name="reparameterized_next",
    reference=hmodel.reparameterized_next,
    cases=[_next_case(s) for s in range(4)],
    grad_wrt=("mu",),
    mistakes={
        "the sign of the inferred noise: the noise is what takes the model's mean to the observed state (Alg. 5 prints "
        "it the other way round)": (lambda mu, s_next, sigma: mu + sigma * ((mu - s_next) / sigma).detach()),
        "the derivative must be the model's: the inferred noise is a constant (stop its gradient), otherwise the "
        "model's dependence cancels": (
            lambda mu, s_next, sigma: mu + sigma * ((s_next - mu) / sigma)
        ),
        "the model's mean alone is not the observed next state: add the inferred noise": (
            lambda mu, s_next, sigma: mu + 0 * s_next
        ),
    },
    hint="the reparameterised next state of eq. 3.2.3 with the noise that reproduces the observation; its value is "
         "the observed state, its derivative the model's",
    hidden=lambda s: [_next_case(s + k, (7, 1, 4)[k]) for k in range(3)],
    library=(hmodel.reparameterized_next, hmodel.infer_noise, hmodel.reparam_next),
)


def _model(seed: int, d: int) -> hmodel.SyntheticOptimizer:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(850 + seed)
        return hmodel.SyntheticOptimizer(hmodel.ModelConfig(state_dim=d, hidden=[8], residual=seed % 2 == 1)).double()


def _imitation_case(seed: int, R: int | None = None, T: int | None = None, d: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(860 + seed)
        r, t, n = R or 3, T or (4, 6, 5, 3)[seed % 4], d or (1, 2, 3, 2)[seed % 4]
        return {"model": _model(seed, n), "states": torch.randn(r, t + 1, n, generator=g, dtype=D).cumsum(1),
                "log_lr": torch.log(torch.rand(r, generator=g, dtype=D) * 0.5 + 0.01)}

    return make


def _reference_imitation(model, states, log_lr):
    R, T1, d = states.shape
    s, s_next = states[:, :-1].reshape(-1, d), states[:, 1:].reshape(-1, d)
    return hmodel.imitation_loss(model, s, log_lr.repeat_interleave(T1 - 1), s_next)


def _imitation_wrong(model, states, log_lr, *, target="next", reduce="sum"):
    R, T1, d = states.shape
    s = states[:, :-1]
    if target == "next":
        s_next = states[:, 1:]
    elif target == "same":
        s_next = states[:, :-1]
    else:  # the printed superscript: the same step of the next run
        s_next = states.roll(-1, 0)[:, :-1]
    err = (s_next - model(s, log_lr[:, None].expand(R, T1 - 1))) ** 2
    return (err.sum(-1) if reduce == "sum" else err.mean(-1)).mean()


IMITATION = Exercise(
    id="8.2",
    name="imitation_loss",
    reference=_reference_imitation,
    cases=[_imitation_case(s) for s in range(4)],
    mistakes={
        "the target is the next state of the same run (eq. 4.1.1's superscript is a misprint)": (
            lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, target="next_run")
        ),
        "the target is the state one step later, not the state the model starts from": (
            lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, target="same")
        ),
        "the squared norm sums over the coordinates of a state; the mean is over transitions": (
            lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, reduce="mean")
        ),
    },
    hint="eq. 4.1.1 of the text with its index corrected: one-step predictions from every logged state, compared "
         "with what the real optimizer did next",
    hidden=lambda s: [_imitation_case(s + k, (1, 4, 2)[k], (1, 7, 3)[k], (3, 1, 4)[k]) for k in range(3)],
    library=(hmodel.imitation_loss, hmodel.unrolled_imitation_loss),
)


def _svg_case(seed: int, T: int | None = None, d: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        g = torch.Generator().manual_seed(870 + seed)
        t, n = T or (3, 5, 4, 2)[seed % 4], d or (2, 1, 3, 2)[seed % 4]
        w = torch.randn(n, generator=g, dtype=D)
        return {"model": _model(10 + seed, n), "log_lr": torch.tensor(-2.0 - 0.3 * seed, dtype=D, requires_grad=True),
                "states": torch.randn(2, t + 1, n, generator=g, dtype=D).cumsum(1),
                "task_loss": lambda s, w=w: ((s - w) ** 2).sum(-1)}

    return make


def _svg_wrong(model, log_lr, states, task_loss, *, sign=1.0, stop=True, total=False, chained=False):
    T = states.shape[-2] - 1
    s_hat, values = states[..., 0, :], []
    for t in range(T):
        s_t, s_next = states[..., t, :], states[..., t + 1, :]
        start = s_hat if chained else s_t
        xi = sign * (s_next - model(s_t, log_lr)) / model.sigma
        xi = xi.detach() if stop else xi
        s_hat = model(start, log_lr) + model.sigma * xi
        values.append(task_loss(s_hat).mean())
    return sum(values) if total else values[-1]


SVG = Exercise(
    id="8.3",
    name="svg_teacher_forced",
    reference=lambda model, log_lr, states, task_loss: svg.svg_inf_loss(model, log_lr, states, task_loss, "teacher"),
    cases=[_svg_case(s) for s in range(4)],
    grad_wrt=("log_lr",),
    mistakes={
        "the sign of the inferred noise (as Alg. 5 prints it): the rebuilt states are not the logged ones": (
            lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, sign=-1.0)
        ),
        "without a stop-gradient on the noise the model's dependence on the action cancels": (
            lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, stop=False)
        ),
        "Alg. 5 returns the last task loss v_T, not the sum over steps": (
            lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, total=True)
        ),
        "teacher-forced: every step starts from the logged state (chaining the model is the other variant)": (
            lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, chained=True)
        ),
    },
    hint="Alg. 5 of the text with the noise sign corrected: from each logged state, one model step under the action "
         "with the inferred noise, and the task loss at the end",
    hidden=lambda s: [_svg_case(s + k, (1, 6, 3)[k], (4, 1, 2)[k]) for k in range(3)],
    library=(svg.svg_inf_loss,),
)


reparameterized_next = checker(NEXT, "the rebuilt next state and its gradient on 4 batches.")
imitation_loss = checker(IMITATION, "the imitation loss of 4 small models on logged runs.")
svg_teacher_forced = checker(SVG, "v_T and its gradient in the log learning rate on 4 models and trajectories.")
