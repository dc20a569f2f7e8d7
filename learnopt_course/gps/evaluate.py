"""Scoring optimizers the way Li & Malik (2017, sec. 4) do: the true objective along a run of ``T`` steps, its area
under the curve ``sum_{t=1..T} f(x_t)`` (the paper's meta-objective) and its final value, over several tasks.

Baselines are tuned on the *training* setting (a learning-rate grid, the lowest mean area on tuning tasks that are
never scored) and then used unchanged on every transfer setting, as the paper does: a transfer test is then also a
test of how the baselines' tuning transfers. A run whose objective leaves the finite numbers counts as diverged: its
area and final value are ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..core import trees
from ..optimizers.cg import cg
from ..optimizers.lbfgs import lbfgs
from ..tasks.base import Task
from .driver import auc  # the area under the curve, sum_{t=1..T} f(x_t) (inf for a diverged run)

# name -> (optimizer, fixed hyperparameters); each one's learning rate is tuned on the grid
BASELINES: dict[str, tuple[Any, dict[str, float]]] = {
    "SGD": ("sgd", {}),
    "momentum": ("heavy_ball", {"momentum": 0.9}),
    "AdaGrad": ("adagrad", {}),
    "RMSprop": ("rmsprop", {}),
    "Adam": ("adam", {}),
    "CG": (cg, {}),
    "L-BFGS": (lbfgs, {}),
}
GRID = tuple(10 ** (k / 2) for k in range(-8, 1))  # 1e-4 .. 1 in half decades


def curves(tasks: Sequence[Task], optimizer: Any, T: int, objective: Callable[[Task, dict], Tensor],
           hp: Mapping[str, Any] | None = None) -> Tensor:
    """The true objective ``[N, T+1]`` of ``optimizer`` (a name, an optimizer, or a zero-argument factory of a
    stateful one such as a learned rule) run for ``T`` steps on every task from its initial parameters, through the
    unroll engine; a diverged run is ``inf`` from where it left the finite numbers."""
    from ..meta.engine import unroll

    out = []
    for task in tasks:
        opt = optimizer() if callable(optimizer) and not hasattr(optimizer, "step") else optimizer
        run = unroll(task, opt, task.init_params(), T, hp=dict(hp or {}), record=True, stop_nonfinite=True)
        values = [float(objective(task, trees.as_dict(w))) for w in run.trajectory]
        values += [math.inf] * (T + 1 - len(values))
        out.append(torch.tensor(values, dtype=torch.float64).nan_to_num(nan=math.inf, posinf=math.inf, neginf=math.inf))
    curve = torch.stack(out)
    bad = ~torch.isfinite(curve)
    return curve.masked_fill(bad.cummax(1).values, math.inf)


def tune(tasks: Sequence[Task], optimizer: Any, T: int, objective: Callable[[Task, dict], Tensor],
         fixed: Mapping[str, Any] | None = None, grid: Sequence[float] = GRID) -> tuple[float, dict[float, float]]:
    """The learning rate from ``grid`` with the lowest mean area under the curve on ``tasks``, and every score."""
    if not grid:
        raise ValueError("grid must hold at least one learning rate; got an empty sequence")
    scores = {lr: float(auc(curves(tasks, optimizer, T, objective, {**(fixed or {}), "lr": lr})).mean())
              for lr in grid}
    return min(scores, key=scores.__getitem__), scores


@dataclass
class Result:
    """One optimizer on one setting: its tuned learning rate (``None`` for a learned rule), and per task its area
    under the curve and final value; ``curves [N, T+1]``."""

    lr: float | None
    curves: Tensor = field(repr=False)

    @property
    def area(self) -> Tensor:
        return auc(self.curves)

    @property
    def final(self) -> Tensor:
        return self.curves[:, -1]

    @property
    def diverged(self) -> int:
        return int((~torch.isfinite(self.final)).sum())


def mean_std(values: Tensor) -> tuple[float, float]:
    """Mean and sample standard deviation (``inf`` when any value is)."""
    if not bool(torch.isfinite(values).all()):
        return math.inf, math.inf
    return float(values.mean()), float(values.std()) if values.numel() > 1 else 0.0


def compare(tasks: Sequence[Task], T: int, objective: Callable[[Task, dict], Tensor], *,
            learned: Mapping[str, Any], tuned: Mapping[str, float],
            baselines: Mapping[str, tuple[Any, dict]] = BASELINES) -> dict[str, Result]:
    """Every learned rule (``learned[label]``: a factory of a fresh optimizer) and every baseline with its tuned
    learning rate (``tuned[label]``) on the same tasks."""
    missing = set(baselines) - set(tuned)
    if missing:
        raise KeyError(f"tuned must give a learning rate for every baseline; missing {sorted(missing)}")
    rows = {label: Result(None, curves(tasks, make, T, objective)) for label, make in learned.items()}
    for label, (spec, fixed) in baselines.items():
        rows[label] = Result(tuned[label], curves(tasks, spec, T, objective, {**fixed, "lr": tuned[label]}))
    return rows


def table(rows: Mapping[str, Result]) -> str:
    """A plain-text table: area and final value, mean +- std over tasks, with the tuned learning rates."""
    lines = [f"{'optimizer':<12} {'lr':>8} {'area (sum f)':>18} {'final f':>16}"]
    for label, r in sorted(rows.items(), key=lambda kv: mean_std(kv[1].area)[0]):
        a, sa = mean_std(r.area)
        f, sf = mean_std(r.final)
        lr = "learned" if r.lr is None else f"{r.lr:.2g}"
        area = f"{a:8.2f} ± {sa:6.2f}" if math.isfinite(a) else f"diverged ({r.diverged}/{len(r.final)})"
        final = f"{f:.3f} ± {sf:.3f}" if math.isfinite(f) else "-"
        lines.append(f"{label:<12} {lr:>8} {area:>18} {final:>16}")
    return "\n".join(lines)
