"""The one task protocol: what every inner problem of the course offers the unroll engine.

A :class:`Task` (after google/learned_optimization's ``Task``) is

* ``init_params(generator)``: initial parameters (a tree) drawn from a generator;
* ``batch(t)``: the data of step ``t`` (a minibatch; ``None`` for deterministic losses);
* ``loss(params, batch)``: the loss on that data, a scalar, or ``[B]`` for a batch of ``B`` independent problems
  (their gradients do not interact: the engine differentiates the sum and averages them in meta-losses);
* ``evaluate(params, split)``: numbers on ``"train"``, ``"val"`` or ``"test"`` without building a graph.

A :class:`TaskFamily` samples tasks: ``family.sample(generator)``. Landscapes, the toy meta-loss, random quadratics,
MNIST and Omniglot classification, few-shot episodes, bilevel problems and the RL environment's tasks implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..core.trees import Tree


class Task(ABC):
    """Base class of every inner problem (see the module docstring)."""


    @abstractmethod
    def init_params(self, generator: torch.Generator | None = None) -> Tree:
        """Initial parameters (drawn with ``generator`` where the task draws them)."""

    def batch(self, t: int) -> Any:
        """The data of step ``t`` (default: none, a deterministic loss)."""
        return None

    @abstractmethod
    def loss(self, params: Tree, batch: Any = None) -> Tensor:
        """The loss of ``params`` on ``batch``."""

    def step_loss(self, params: Tree, t: int) -> Tensor:
        """The loss the optimizer sees at step ``t``: ``loss(params, batch(t))``."""
        return self.loss(params, self.batch(t))

    def evaluate(self, params: Tree, split: str = "train") -> dict[str, float]:
        """``{"loss": ...}`` on ``split`` without a graph (deterministic tasks: the loss itself, averaged over
        problems); tasks with data override this with chunked evaluation and accuracy."""
        if split != "train":
            raise ValueError(f"{type(self).__name__} has only a 'train' split; got split={split!r}")
        with torch.no_grad():
            return {"loss": float(self.loss(params, None).mean())}


class TaskFamily(ABC):
    """A distribution over tasks (random quadratics, initialisations and minibatch orders of one network, ...)."""


    @abstractmethod
    def sample(self, generator: torch.Generator) -> Task:
        """A task drawn with ``generator``."""


class FunctionTask(Task):
    """A task made of a function ``loss_fn(params, t)`` (the loss of step ``t``), and optionally a fixed starting
    point and an ``objective(params)`` that scores a run (e.g. the loss on the whole training set)."""

    def __init__(self, loss_fn: Callable[[Tree, int], Tensor], params0: Tree | None = None,
                 objective: Callable[[Tree], Tensor] | None = None, name: str = "function") -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (params, t) -> loss; got {type(loss_fn).__name__}")
        self.loss_fn, self.params0, self.objective, self.name = loss_fn, params0, objective, name

    def init_params(self, generator: torch.Generator | None = None) -> Tree:
        if self.params0 is None:
            raise ValueError(f"task {self.name!r} was built without a starting point; give FunctionTask(params0=...) "
                             "or pass the parameters to the engine yourself")
        return self.params0

    def batch(self, t: int) -> int:
        return t

    def loss(self, params: Tree, batch: Any = None) -> Tensor:
        return self.loss_fn(params, batch)

    def evaluate(self, params: Tree, split: str = "train") -> dict[str, float]:
        if self.objective is None:
            raise ValueError(f"task {self.name!r} has no objective to evaluate; give FunctionTask(objective=...)")
        if split != "train":
            raise ValueError(f"task {self.name!r} has only a 'train' split; got split={split!r}")
        with torch.no_grad():
            return {"loss": float(self.objective(params))}


def as_task(task: Task | Callable[[Tree, int], Tensor]) -> Task:
    """A :class:`Task` as it is; a function ``(params, t) -> loss`` wrapped as a :class:`FunctionTask`."""
    if isinstance(task, Task):
        return task
    if callable(task):
        return FunctionTask(task)
    raise TypeError(f"task must be a Task or a function (params, t) -> loss; got {type(task).__name__}")
