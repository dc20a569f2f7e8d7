"""The one optimizer interface of the library, for hand-designed and learned optimizers alike.

An optimizer is a pair of pure functions (the ``init``/``update`` design of optax and google/learned_optimization,
in PyTorch's functional style)::

    state = opt.init(params)
    params, state = opt.step(params, grads, state, hp)

``params`` and ``grads`` are trees (:mod:`learnopt_course.core.trees`); ``hp`` optionally overrides
hyperparameters. An optimizer whose rule needs the objective's value (Li & Malik's learned optimizer observes its
relative change) sets ``uses_loss = True`` and is then called as ``step(..., loss=value)`` by the engine and by the
``torch.optim`` adapter (which takes it from ``step``'s closure). A state must not keep references to the ``params``
or ``grads`` passed in (copy what it keeps): the ``torch.optim`` adapter updates both in place afterwards. Nothing is modified in place, so a step can sit on the autograd graph: the unroll engine
(:mod:`learnopt_course.meta.engine`) differentiates through it, :class:`~.torch_adapter.TorchOptimizer` runs it in
an ordinary ``loss.backward(); opt.step()`` loop, and the RL environment trains with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, Union, runtime_checkable

from torch import Tensor

Params = Union[Tensor, Mapping[str, Tensor]]
State = Any


@runtime_checkable
class Optimizer(Protocol):
    """What the engine, the ``torch.optim`` adapter and the RL environment need from an optimizer."""

    name: str

    def init(self, params: Params) -> State:
        """The state before the first step (buffers shaped, typed and placed like ``params``)."""

    def step(self, params: Params, grads: Params, state: State,
             hp: Mapping[str, Any] | None = None) -> tuple[Params, State]:
        """One update: new parameters and new state; the inputs are left untouched."""


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """``state`` (any nesting of dicts, lists and tuples) with ``fn`` applied to every tensor in it."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, Mapping):
        return {k: map_state(fn, v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_state(fn, v) for v in state)
    return state


def detach_state(state: State) -> State:
    """A copy of an optimizer state with every tensor detached from the autograd graph (same values): what a
    truncation window or a graph-free run carries forward."""
    return map_state(Tensor.detach, state)
