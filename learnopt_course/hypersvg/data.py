"""Trajectories of real training runs as model-learning data (Crouther 2023, sec. 3.2.2 bullet 4: "checkpoints as
trajectories"; the source of the thesis's trajectory data is not stated, real SGD runs at several learning rates is
the reading the lesson notes infer)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import trees
from ..tasks.base import Task


@dataclass
class Transitions:
    """``states [R, T+1, d]``: the flattened parameters along ``R`` runs of ``T`` steps; ``log_lr [R]``: each run's
    (constant) log learning rate. ``pairs()`` gives the one-step transitions ``(s_t, log lr, s_{t+1})``."""

    states: Tensor
    log_lr: Tensor

    def __post_init__(self) -> None:
        if self.states.ndim != 3 or self.log_lr.shape != (self.states.shape[0],):
            raise ValueError(f"states must be [R, T+1, d] and log_lr [R]; got {tuple(self.states.shape)} and "
                             f"{tuple(self.log_lr.shape)}")

    @property
    def runs(self) -> int:
        return self.states.shape[0]

    @property
    def steps(self) -> int:
        return self.states.shape[1] - 1

    def pairs(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(s [R*T, d], log_lr [R*T], s_next [R*T, d])``, run by run."""
        R, T1, d = self.states.shape
        s, s_next = self.states[:, :-1].reshape(-1, d), self.states[:, 1:].reshape(-1, d)
        return s, self.log_lr.repeat_interleave(T1 - 1), s_next

    def split(self, fraction: float, generator: torch.Generator) -> tuple[Transitions, Transitions]:
        """A random split of the runs (not of the steps: a run's steps are correlated) into two sets."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1); got {fraction!r}")
        perm = torch.randperm(self.runs, generator=generator)
        k = max(1, min(self.runs - 1, round(fraction * self.runs)))
        a, b = perm[:k], perm[k:]
        return Transitions(self.states[a], self.log_lr[a]), Transitions(self.states[b], self.log_lr[b])


def collect_trajectories(make_task: Callable[[torch.Generator], Task], lrs: Sequence[float], steps: int,
                         seeds: Sequence[int], optimizer: str = "sgd") -> Transitions:
    """Run ``optimizer`` at every learning rate of ``lrs`` for ``steps`` steps on the task ``make_task(generator)``
    of every seed (one run per (seed, lr), through the unroll engine) and log the flattened parameters."""
    from ..meta.engine import unroll

    if not lrs or not seeds:
        raise ValueError(f"lrs and seeds must be non-empty; got {list(lrs)!r} and {list(seeds)!r}")
    if any(not lr > 0 for lr in lrs):
        raise ValueError(f"every learning rate must be > 0; got {list(lrs)!r}")
    states, log_lr = [], []
    for seed in seeds:
        for lr in lrs:
            task = make_task(torch.Generator().manual_seed(seed))
            run = unroll(task, optimizer, task.init_params(), steps, hp={"lr": lr}, record=True)
            states.append(torch.stack([trees.flat(w).detach().reshape(-1) for w in run.trajectory]))
            log_lr.append(math.log(lr))
    return Transitions(torch.stack(states), torch.tensor(log_lr, dtype=states[0].dtype))
