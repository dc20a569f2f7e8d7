"""Meta-objectives: what the meta-trainer (:mod:`.trainer`) trains, each a thin layer over the unroll engine.

* :class:`LearnedOptimizerObjective`: the weights of a learned optimizer, trained on tasks from a sampler
  (Andrychowicz et al. 2016; lesson 05);
* :class:`HyperparameterObjective`: hyperparameters of a bilevel problem's training loss, with the inner run warm
  started across windows (Lorraine 2023, Alg. 4; lesson 10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..core import trees
from ..optimizers.base import detach_state
from ..optimizers.learned import CoordinateLSTM
from ..tasks.base import Task
from .engine import unroll


@dataclass
class Worker:
    """An inner run in progress: its task, parameters and optimizer state at step ``t`` (all detached)."""

    task: Task
    params: trees.Tree
    state: Any
    t: int = 0


class LearnedOptimizerObjective:
    """Meta-loss ``sum_k w_k f(theta_k)`` (``weights="constant"`` or ``"linear"``, optionally of ``log f``) of the
    learned optimizer ``net`` on tasks drawn by ``sample(generator)``; ``second_order`` keeps the inner gradients'
    dependence on ``phi`` (Schröter 2022, eqs. 3.5, 3.8 and 5.12)."""

    def __init__(self, net: CoordinateLSTM, sample: Callable[[torch.Generator], Task], *, second_order: bool = False,
                 weights: str = "constant", log_loss: bool = False) -> None:
        if weights not in ("constant", "linear"):
            raise ValueError(f"weights must be 'constant' or 'linear'; got {weights!r}")
        self.net, self.sample = net, sample
        self.second_order, self.weights, self.log_loss = second_order, weights, log_loss

    def parameters(self) -> dict[str, Tensor]:
        return dict(self.net.named_parameters())

    def start(self, generator: torch.Generator) -> Worker:
        task = self.sample(generator)
        params = trees.detach(task.init_params(None))
        return Worker(task, params, self.net.optimizer().init(params), 0)

    def unroll(self, phi: Mapping[str, Tensor], worker: Worker, length: int, graph: bool) -> tuple[Tensor, Worker]:
        own = all(phi[k] is p for k, p in self.net.named_parameters())
        opt = self.net.optimizer(None if own else phi)
        run = unroll(worker.task, opt, worker.params, length, state=worker.state, start=worker.t, graph=graph,
                     second_order=self.second_order, meta="linear" if self.weights == "linear" else "sum",
                     log=self.log_loss)
        return run.meta_loss, Worker(worker.task, trees.detach(run.params), detach_state(run.state),
                                     worker.t + length)


class HyperparameterObjective:
    """Hyperparameters ``lam`` of a bilevel problem (:class:`learnopt_course.hpo.bilevel.Bilevel`): every window runs
    ``length`` gradient-descent steps on ``L_T(., lam)`` from where the last window ended (warm start) and scores
    ``L_V(w, lam)`` at its end (Lorraine 2023, Alg. 4). ``truncate`` keeps only the last K steps on the graph."""

    def __init__(self, problem: Any, lam: trees.Tree, *, truncate: int | None = None) -> None:
        self.problem, self.truncate = problem, truncate
        self.lam = trees.fresh_leaves(lam)

    def parameters(self) -> dict[str, Tensor]:
        return trees.as_dict(self.lam, "lam")

    def tree(self, phi: Mapping[str, Tensor]) -> trees.Tree:
        return trees.like(self.lam, phi)

    def start(self, generator: torch.Generator | None = None) -> Worker:
        w0 = trees.detach(self.problem.w0)
        return Worker(self.problem.task(self.lam), w0, None, 0)

    def unroll(self, phi: Mapping[str, Tensor], worker: Worker, length: int, graph: bool) -> tuple[Tensor, Worker]:
        lam = self.tree(phi)
        run = self.problem.solve(lam, worker.params, length, graph=graph,
                                 truncate=min(self.truncate, length) if self.truncate else None)
        return run.meta_loss, Worker(worker.task, trees.detach(run.params), None, worker.t + length)

    def implicit(self, phi: Mapping[str, Tensor], worker: Worker, length: int, method: str, iterations: int,
                 alpha: float | None) -> tuple[Tensor, dict[str, Tensor], Worker]:
        from .ift import hypergradient

        lam = trees.detach(self.tree(phi))
        run = self.problem.solve(lam, worker.params, length, graph=False)
        step = self.problem.step_size(lam)
        g = hypergradient(self.problem.train_loss, self.problem.val_loss, run.params, lam, method,
                          iterations=iterations, alpha=step if alpha is None else alpha)
        return run.meta_loss.detach(), trees.as_dict(g, "lam"), Worker(worker.task, run.params, None,
                                                                         worker.t + length)
