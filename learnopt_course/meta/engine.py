"""The unroll engine: the one loop of the library that trains a task with an optimizer.

Every inner loop of the course is a call of :func:`unroll` (or of :func:`minimize`, its recording form): lesson 01's
runs, lesson 02's unrolled hypergradients and truncated backpropagation, the learned optimizer's meta-training and
evaluation (lesson 05), the RL environment's training chunks (lesson 07), the inner solves of implicit
hypergradients (lesson 10), and the next lessons'. One step ``t`` is

    loss_t = task.step_loss(w_t, t);  g_t = grad loss_t (or grad_fn(w_t, t));  w_{t+1}, s_{t+1} = opt.step(w_t, g_t, s_t)

With ``graph=True`` the run stays on the autograd graph, so its meta-loss can be differentiated with respect to
anything the steps depend on: hyperparameters (Maclaurin et al. 2015), the learned optimizer's weights (Andrychowicz
et al. 2016), the initial parameters. ``truncate=K`` keeps only the last ``K`` steps on the graph (truncated
backpropagation; Shaban et al. 2019), ``second_order=False`` treats inner gradients as constants (Andrychowicz et al.
2016, eq. 3.8 in Schröter 2022's numbering). Meta-losses (reduced over time only, so a batch of problems keeps its
per-problem values):

* ``"final"``: ``f(w_T)``, or ``outer(w_T)`` (a validation loss);
* ``"mean"``: ``mean_{t<T} f(w_t)``, each loss where its gradient was taken (Metz et al. 2021's toy meta-loss);
* ``"sum"``: ``sum_{k=1..T} f(w_k)`` and ``"linear"``: ``sum_k k f(w_k)`` (Schröter 2022, eqs. 3.5 and 5.12);
* ``log=True`` takes ``log f`` of each term (Wichrowska et al. 2017), clamped at 1e-30.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import Tensor

from ..core import trees
from ..core.trees import Tree
from ..optimizers.base import Optimizer, State, detach_state
from ..optimizers.functional import get
from ..tasks.base import Task, as_task

META_LOSSES = ("final", "mean", "sum", "linear")
HyperSchedule = Union[Mapping[str, Any], Callable[[int], Mapping[str, Any]], None]
GradFn = Callable[[Tree, int], Tree]


@dataclass
class Run:
    """What :func:`unroll` returns.

    ``params``/``state``: after the last step (on the graph with ``graph=True``); ``losses``: ``f(w_t)`` at every
    evaluated step (``steps + 1`` values when the last one was evaluated; on the graph inside the tracked window);
    ``meta_loss``: the requested meta-loss; ``trajectory``: ``w_start, ..., w_T`` with ``record=True``;
    ``diverged``: a non-finite loss stopped the run (``stop_nonfinite``) after ``steps_done`` steps."""

    params: Tree
    state: State
    losses: Tensor
    meta_loss: Tensor | None = None
    trajectory: list[Tree] = field(default_factory=list)
    diverged: bool = False
    steps_done: int = 0


def _check(steps: int, truncate: int | None, meta: str | None) -> None:
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
    if meta is not None and meta not in META_LOSSES:
        raise ValueError(f"meta must be one of {META_LOSSES}; got {meta!r}")
    if truncate is not None and (not isinstance(truncate, int) or not 1 <= truncate <= max(steps, 1)):
        raise ValueError(f"truncate must be an integer from 1 to steps={steps}; got {truncate!r}")


def unroll(task: Task | Callable[[Tree, int], Tensor], optimizer: str | Optimizer, params: Tree, steps: int, *,
           hp: HyperSchedule = None, state: State | None = None, start: int = 0, graph: bool = False,
           truncate: int | None = None, second_order: bool = True, meta: str | None = None, log: bool = False,
           outer: Callable[[Tree], Tensor] | None = None, grad_fn: GradFn | None = None, record: bool = False,
           last_loss: bool = True, stop_nonfinite: bool = False,
           callback: Callable[[int, Tree, Tree, Tensor], None] | None = None) -> Run:
    """Run ``steps`` steps of ``optimizer`` on ``task`` from ``params`` (step indices ``start .. start+steps-1``).

    ``task``: a :class:`~learnopt_course.tasks.base.Task` or a function ``(params, t) -> loss``. ``hp``: the
    optimizer's hyperparameters, or a schedule ``t -> hyperparameters``. ``state``: the optimizer state to continue
    from (default ``optimizer.init(params)``). ``last_loss``: also evaluate ``f(w_T)`` (always done when the
    meta-loss needs it). ``callback(t, w_t, g_t, loss_t)`` sees every step (the RL environment's observations).
    """
    _check(steps, truncate, meta)
    task = as_task(task)
    opt = get(optimizer)
    schedule = hp if callable(hp) else (lambda t, _hp=hp: _hp)
    state = opt.init(params) if state is None else state
    window = start + steps - truncate if (graph and truncate is not None) else (start if graph else math.inf)
    need_last = last_loss or (meta == "final" and outer is None) or meta in ("sum", "linear")
    uses_loss = getattr(opt, "uses_loss", False)
    w = params
    losses: list[Tensor] = []
    trajectory: list[Tree] = []
    diverged, done = False, 0
    for k in range(steps + 1):
        t = start + k
        last = k == steps
        if last and not need_last:
            break
        tracking = t >= window
        if not tracking or (truncate is not None and t == window):  # no graph before the window
            w, state = trees.detach(w), detach_state(state)
        g = None
        if grad_fn is None and not last:
            with torch.enable_grad():
                w = trees.ensure_grad(w) if tracking else trees.fresh_leaves(w)
                loss = task.step_loss(w, t)
                flat = torch.autograd.grad(loss.sum(), trees.leaves(w), create_graph=tracking and second_order,
                                           retain_graph=tracking)
            g = trees.rebuild(w, [x if tracking and second_order else x.detach() for x in flat])
        else:
            loss = task.step_loss(w, t)
            if not last:
                g = grad_fn(w, t)
        losses.append(loss if tracking else loss.detach())
        if record:
            trajectory.append(w if tracking else trees.detach(w))
        if callback is not None:
            callback(t, w, g, loss)
        if stop_nonfinite and not bool(torch.isfinite(loss).all()):
            diverged = True
            break
        if last:
            break
        extra = {"loss": loss.detach().sum()} if uses_loss else {}
        if tracking:
            w, state = opt.step(w, g, state, schedule(t), **extra)
        else:
            with torch.no_grad():
                w, state = opt.step(w, g, state, schedule(t), **extra)
        done += 1
    stacked = torch.stack(losses) if losses else torch.empty(0)
    meta_loss = None
    if meta is not None and not diverged:
        meta_loss = _meta_loss(meta, losses, steps, log, outer(w) if (meta == "final" and outer is not None) else None)
    return Run(w, state, stacked, meta_loss, trajectory, diverged, done)


def _meta_loss(meta: str, losses: list[Tensor], steps: int, log: bool, outer_value: Tensor | None) -> Tensor:
    f = (lambda x: x.clamp_min(1e-30).log()) if log else (lambda x: x)
    if meta == "final":
        return f(outer_value if outer_value is not None else losses[steps])
    if meta == "mean":
        return torch.stack([f(x) for x in losses[:steps]]).mean(0)
    weights = range(1, steps + 1) if meta == "linear" else [1] * steps
    total = 0
    for w_k, x in zip(weights, losses[1 : steps + 1]):
        total = total + w_k * f(x)
    return total


@dataclass
class Trajectory:
    """Parameters at steps 0..T (``params[t]``) and the loss at each of them (``losses[t]``)."""

    params: list[Tree]
    losses: Tensor

    @property
    def final(self) -> Tree:
        return self.params[-1]


def minimize(loss_fn: Callable[[Tree], Tensor] | Task, params: Tree, optimizer: str | Optimizer,
             hp: HyperSchedule = None, steps: int = 100, *, grad_fn: GradFn | None = None,
             differentiable: bool = False) -> Trajectory:
    """Run ``steps`` optimizer steps on ``loss_fn(params)`` (or a task) from ``params``; record every iterate and loss.

    ``grad_fn(params, t)`` replaces autograd's gradient (noisy or analytic gradients). With ``differentiable=True``
    the whole run stays on the autograd graph (``create_graph``), so the final loss can be differentiated with
    respect to the initial parameters or to tensor hyperparameters."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
    task = loss_fn if isinstance(loss_fn, Task) else as_task(lambda w, t: loss_fn(w))
    if differentiable and grad_fn is None:
        params = trees.ensure_grad(params)
    run = unroll(task, optimizer, params, steps, hp=hp, graph=differentiable, grad_fn=grad_fn, record=True)
    return Trajectory(run.trajectory, run.losses)
