"""The meta-trainer: the one outer loop of the library.

``train(objective, config, generator, estimator)`` runs ``config.runs`` inner problems ("super epochs"); each is cut
into windows of ``config.unroll`` steps, and after every window the estimator's meta-gradient updates the
meta-parameters (Andrychowicz et al. 2016; Schröter 2022, sec. 3.4; Lorraine 2023, Alg. 4 for hyperparameters).
Around that loop, each optional:

* a meta learning-rate ``schedule`` (constant, or cosine to 0 over all updates);
* gradient ``normalize`` (per tensor, Schröter 2022, sec. 5.3.2, or global) and ``clip_norm`` (the global norm
  clipped, Pascanu et al. 2013, as PPO does);
* snapshot selection: ``validate(objective)`` (lower is better, on held-out tasks) before training and every
  ``validate_every`` runs; the best snapshot is restored at the end;
* a non-finite guard: a window whose meta-loss or gradient is not finite is not applied and its run stops there
  (``inf`` in the history); a warning counts them;
* atomic, resumable checkpoints: with ``checkpoint=path`` the whole training state (meta-parameters, meta-optimizer,
  schedule, every rank's generator, history, validation scores, best snapshot) is written after every
  ``checkpoint_every``-th run (to a temporary file, then moved into place, so a process killed at any moment leaves
  the previous checkpoint whole), and a later call resumes from it, giving the result an uninterrupted call would have;
* data parallelism: inside a ``torchrun`` process group (:mod:`learnopt_course.meta.distributed`) every rank samples
  its own tasks from a rank-split generator, the window's meta-loss and meta-gradient are averaged over ranks by one
  all-reduce before the (identical) meta-optimizer step, rank 0 alone validates (its score is broadcast), writes the
  checkpoint and shows progress.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import atomic_path
from . import distributed
from .gradients import Estimator, MetaObjective, TruncatedBackprop


@dataclass
class TrainConfig:
    """How long and how the meta-parameters are trained."""

    runs: int = 100  # inner problems ("super epochs")
    steps: int = 100  # inner steps per run
    unroll: int = 20  # window (truncation) length
    meta_lr: float = 1e-3
    schedule: str = "constant"  # or "cosine": meta_lr to 0 over all updates
    normalize: str = "none"  # "per_tensor" or "global"
    validate_every: int = 0
    clip_norm: float = 0.0  # > 0: clip the global gradient norm to this

    def __post_init__(self) -> None:
        for name in ("runs", "steps", "unroll"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine'; got {self.schedule!r}")
        if self.normalize not in ("none", "per_tensor", "global"):
            raise ValueError(f"normalize must be 'none', 'per_tensor' or 'global'; got {self.normalize!r}")
        if not isinstance(self.validate_every, int) or self.validate_every < 0:
            raise ValueError(f"validate_every must be >= 0 (0 = never); got {self.validate_every!r}")
        if not self.clip_norm >= 0:
            raise ValueError(f"clip_norm must be >= 0 (0 = no clipping); got {self.clip_norm!r}")
        if not 1 <= self.unroll <= self.steps:
            raise ValueError(f"unroll must be between 1 and steps={self.steps}; got {self.unroll}")


def normalize_(grads: list[torch.Tensor], how: str) -> None:
    """Divide meta-gradients in place by their norm, per tensor or globally."""
    if how == "per_tensor":
        for g in grads:
            g.div_(g.norm().clamp_min(1e-30))
    elif how == "global":
        total = torch.sqrt(sum((g**2).sum() for g in grads)).clamp_min(1e-30)
        for g in grads:
            g.div_(total)


class History(list):
    """The mean meta-loss per step of every run (a list), with ``validation``: the validation scores in the order
    they were taken (before training, then every ``validate_every`` runs), kept across a resumed checkpoint."""

    validation: list[float]

    def __init__(self, values=(), validation=()) -> None:  # noqa: ANN001
        super().__init__(values)
        self.validation = list(validation)


def _snapshot(phi: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: p.detach().clone() for k, p in phi.items()}


def train(objective: MetaObjective, config: TrainConfig, generator: torch.Generator,
          estimator: Estimator | None = None, *,
          meta_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer] | None = None,
          validate: Callable[[MetaObjective], float] | None = None,
          callback: Callable[[int, float], None] | None = None,
          on_update: Callable[[int, float, list[Any]], None] | None = None,
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
          progress_desc: str | None = "meta-training", data_parallel: bool = True) -> History:
    """Meta-train ``objective``'s parameters in place; returns the mean meta-loss per step of every run
    (a :class:`History`; its ``validation`` holds the validation scores).

    ``meta_optimizer(params)`` builds the meta-optimizer (default ``torch.optim.Adam(lr=config.meta_lr)``).
    ``callback(run, mean meta-loss)`` after every run; ``on_update(update, meta-loss, workers)`` after every
    applied update (the workers hold the inner parameters). Under ``torchrun`` both are called on every rank with
    the rank-averaged meta-loss (guard side effects with :func:`learnopt_course.meta.distributed.is_main`).
    ``data_parallel=False``: this call stays local to its process even under ``torchrun`` (a deterministic fit
    every rank repeats identically, such as pretraining)."""
    from ..progress import progress

    if not isinstance(checkpoint_every, int) or isinstance(checkpoint_every, bool) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive number of runs; got {checkpoint_every!r}")
    rank, world_size = distributed.world() if data_parallel else (0, 1)
    main = distributed.is_main()
    if data_parallel:
        generator = distributed.rank_generator(generator)
    estimator = estimator or TruncatedBackprop()
    if config.validate_every and validate is None:
        raise ValueError("config.validate_every > 0 needs a validate function (objective -> score, lower is better)")
    phi = objective.parameters()
    if not phi or not any(p.requires_grad for p in phi.values()):
        raise ValueError("the objective has no meta-parameter that requires grad (was the network frozen, e.g. by "
                         "requires_grad_(False)?); meta-training would change nothing")
    params = list(phi.values())
    opt = meta_optimizer(params) if meta_optimizer else torch.optim.Adam(params, lr=config.meta_lr)
    window = config.steps if estimator.full else config.unroll
    windows = math.ceil(config.steps / window)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.runs * windows)
                 if config.schedule == "cosine" else None)
    history = History()
    skipped, first_run, updates = 0, 0, 0
    best = None
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=False)
        if saved["config"] != asdict(config):
            raise ValueError(f"checkpoint {path} was written for config {saved['config']}, not {asdict(config)}; "
                             "delete it or use another path")
        if saved.get("world_size", 1) != world_size:
            raise ValueError(f"checkpoint {path} was written by {saved.get('world_size', 1)} process(es), and this "
                             f"run has {world_size}: resume with the same number of processes (each has its own "
                             "generator), or delete it")
        with torch.no_grad():
            for k, p in phi.items():
                p.copy_(saved["phi"][k])
        opt.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved.get("generators", [saved["generator"]])[rank])
        history = History(saved["history"], saved.get("validation", ()))
        skipped, first_run, updates, best = saved["skipped"], saved["run"], saved["updates"], saved["best"]
    elif config.validate_every:
        best = (_validate(validate, objective, main, history, data_parallel), _snapshot(phi))
    runs = range(first_run, config.runs)
    for run in (progress(runs, desc=progress_desc) if progress_desc and main else runs):
        workers = estimator.init(objective, generator)
        total = 0.0
        for start in range(0, config.steps, window):
            length = min(window, config.steps - start)
            value, grads, workers = estimator.estimate(objective, phi, workers, length, generator)
            grad_list = [grads[k] for k in phi]
            if data_parallel:
                value, grad_list = distributed.average(value, grad_list, params)
            if not (bool(torch.isfinite(value)) and all(g is None or bool(torch.isfinite(g).all())
                                                        for g in grad_list)):
                skipped += 1
                total = math.inf
                break
            normalize_([g for g in grad_list if g is not None], config.normalize)
            opt.zero_grad()
            for p, g in zip(params, grad_list):
                p.grad = None if g is None else g.detach().to(p.dtype)
            if config.clip_norm:
                torch.nn.utils.clip_grad_norm_(params, config.clip_norm)
            opt.step()
            if scheduler is not None:
                scheduler.step()
            updates += 1
            total += float(value) / length
            if on_update is not None:
                on_update(updates, float(value), workers)
        history.append(total / windows)
        if callback is not None:
            callback(run, history[-1])
        if best is not None and ((run + 1) % config.validate_every == 0 or run + 1 == config.runs):
            score = _validate(validate, objective, main, history, data_parallel)
            if score < best[0]:
                best = (score, _snapshot(phi))
        if path is not None and ((run + 1) % checkpoint_every == 0 or run + 1 == config.runs):
            # a collective: every rank takes part
            states = distributed.gather_generator_states(generator) if data_parallel else [generator.get_state()]
            if main:
                with atomic_path(path) as tmp:
                    torch.save({"config": asdict(config), "phi": _snapshot(phi), "optimizer": opt.state_dict(),
                                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                                "generator": states[0], "generators": states, "world_size": world_size,
                                "history": list(history), "validation": history.validation, "skipped": skipped,
                                "run": run + 1, "updates": updates, "best": copy.deepcopy(best)}, tmp)
    if best is not None:
        with torch.no_grad():
            for k, p in phi.items():
                p.copy_(best[1][k])
    if skipped and main:
        warnings.warn(f"meta-training skipped {skipped} non-finite meta-updates (diverged inner runs); those runs "
                      "stopped early and are inf in the history", RuntimeWarning, stacklevel=2)
    return history


def _validate(validate: Callable[[MetaObjective], float], objective: MetaObjective, main: bool,
              history: History, data_parallel: bool) -> float:
    """Rank 0 scores the meta-parameters (identical on every rank) and every rank receives its score; a local call
    (``data_parallel=False``) scores on its own process."""
    score = float(validate(objective)) if main or not data_parallel else 0.0
    if data_parallel:
        score = distributed.broadcast_float(score)
    history.validation.append(score)
    return score


class _FullBatchLoss:
    """A loss that needs no inner run (a regression, a policy step through a model) as an objective of
    :func:`train`: one window is one evaluation of ``loss()``."""

    def __init__(self, module: torch.nn.Module, loss: Callable[[], torch.Tensor]) -> None:
        self.module, self.loss = module, loss

    def parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.module.named_parameters())

    def start(self, generator: torch.Generator) -> None:
        return None

    def unroll(self, phi: Any, worker: Any, length: int, graph: bool) -> tuple[torch.Tensor, None]:
        return self.loss(), None


def fit(module: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[[], torch.Tensor],
        steps: int = 1) -> list[float]:
    """``steps`` updates of ``module``'s parameters by ``optimizer`` (kept by the caller across calls) on the
    full-batch ``loss()``, through :func:`train`; returns the loss before each update. The supervised steps of the
    learned components (lesson 06's policy fit, lesson 08's model and policy steps) use it."""
    return train(_FullBatchLoss(module, loss), TrainConfig(runs=steps, steps=1, unroll=1), torch.Generator(),
                 meta_optimizer=lambda params: optimizer, progress_desc=None, data_parallel=False)
