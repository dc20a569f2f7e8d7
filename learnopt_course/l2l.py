"""Learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016), as reimplemented and
dissected by Schröter (2022): a coordinatewise two-layer LSTM optimizer, its meta-training by truncated BPTT, a
``torch.optim`` wrapper and verified checkpoints.

The update is ``theta_{t+1} = theta_t + alpha * g_t`` with ``[g_t, h_{t+1}] = m(rho(grad_t), h_t; phi)`` (Schröter 2022,
eqs. 3.3, 3.7): one small LSTM, shared by every coordinate, each coordinate with its own state. The meta-loss is
``sum_t w_t f(theta_t)`` over truncated slices of ``T`` steps (eq. 3.5), meta-optimised by Adam; gradients of the
optimizee are treated as constants by default (``d grad_t / d phi := 0``, eq. 3.8).

What makes meta-training reliable at laptop scale, each optional: pretraining towards gradient descent
(:func:`pretrain`, Schröter 2022, sec. 5.4.4), a log meta-loss (Wichrowska et al. 2017), a cosine-decayed meta
learning rate and snapshot selection on held-out problems (:func:`meta_train`); :func:`compare` scores a learned
optimizer against hand-designed ones tuned on one grid.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .core import trees
from .meta.engine import unroll
from .meta.objectives import LearnedOptimizerObjective
from .meta.trainer import TrainConfig, train
from .optimizers.base import detach_state as _detach_any
from .optimizers.learned import (  # noqa: F401  (the lesson's names)
    HEADS,
    PREPROCESSING,
    CoordinateLSTM,
    LSTMConfig,
    LSTMState,
    preprocess_log_sign,
    preprocess_thesis,
    response_to_constant_gradient,
)
from .optimizers.torch_adapter import LearnedOptimizer  # noqa: F401
from .tasks.base import FunctionTask

State = LSTMState


def detach_state(state: State) -> State:
    """The LSTM state detached from the graph (same values)."""
    return _detach_any(state)


def pretrain(net: CoordinateLSTM, target_lr: float, iterations: int = 200, coordinates: int = 128, length: int = 20,
             scale: tuple[float, float] = (1e-4, 1e-1), omega: float = 2.0, lr: float = 1e-2,
             generator: torch.Generator | None = None) -> list[float]:
    """Pretraining (Schröter 2022, sec. 5.4.4, eq. 5.11): teach ``net`` the prior "update = -target_lr * gradient"
    before meta-training, so that it starts as gradient descent rather than as a random rule.

    Each iteration feeds ``coordinates`` independent coordinates a sequence of ``length`` gradients from a zero state
    (as at the start of a run): coordinate i sees ``s_i * eps_t`` with ``eps_t ~ N(0, 1)`` and a size ``s_i``
    log-uniform in ``scale`` (the thesis draws N(0, 0.001^2), the size of its MNIST gradients; a range exercises both
    branches of the preprocessing). The loss is the sign-weighted L1 ``mean |u - u*| exp(-omega sgn(u u*))`` of
    eq. 5.11, which charges a wrong sign ``e^(2 omega)`` times more than a wrong size. Adam with ``lr``, through the
    meta-trainer (one window per iteration); returns the loss of every iteration."""
    if target_lr <= 0 or iterations < 1 or coordinates < 1 or length < 1:
        raise ValueError("target_lr must be > 0 and iterations, coordinates, length >= 1; got "
                         f"target_lr={target_lr}, iterations={iterations}, coordinates={coordinates}, length={length}")
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be (low, high) with 0 < low <= high; got {scale}")
    objective = _Pretraining(net, target_lr, coordinates, length, scale, omega)
    config = TrainConfig(runs=iterations, steps=1, unroll=1, meta_lr=lr)
    return train(objective, config, generator or torch.Generator().manual_seed(0), progress_desc=None,
                 data_parallel=False)


class _Pretraining:
    """Eq. 5.11 as a meta-objective: a worker is one draw of gradient sizes; its single window feeds the network
    ``length`` gradients of those sizes and scores the updates against ``-target_lr * gradient``."""

    def __init__(self, net: CoordinateLSTM, target_lr: float, coordinates: int, length: int,
                 scale: tuple[float, float], omega: float) -> None:
        self.net, self.target_lr, self.coordinates, self.length, self.omega = net, target_lr, coordinates, length, omega
        self.log_lo, self.log_hi = math.log(scale[0]), math.log(scale[1])

    def parameters(self) -> dict[str, Tensor]:
        return dict(self.net.named_parameters())

    def _draw(self, f, generator: torch.Generator) -> Tensor:
        weight = self.net.cells[0].weight_ih
        return f(self.coordinates, generator=generator, dtype=weight.dtype).to(weight.device)

    def start(self, generator: torch.Generator) -> tuple[Tensor, torch.Generator]:
        return torch.exp(self.log_lo + (self.log_hi - self.log_lo) * self._draw(torch.rand, generator)), generator

    def unroll(self, phi, worker, length: int, graph: bool) -> tuple[Tensor, tuple]:
        sizes, generator = worker
        state, loss = self.net.init_state(self.coordinates), 0
        with torch.set_grad_enabled(graph):
            for _ in range(self.length):
                grad = sizes * self._draw(torch.randn, generator)
                update, state = self.net(grad, state)
                target = -self.target_lr * grad
                loss = loss + ((update - target).abs() * torch.exp(-self.omega * torch.sign(update * target))).mean()
        return loss / self.length, worker


# --- Problems: a flat parameter vector and a loss per step ------------------------------------------------------


class Problem(FunctionTask):
    """What the learned optimizer trains: a flat ``theta0`` ``[N]`` and ``loss(theta, t)`` (``t`` picks a minibatch);
    a :class:`~learnopt_course.tasks.base.Task` whose step-``t`` data is ``t`` itself.

    ``objective(theta)``, if given, is the deterministic loss a run is judged by (for a classifier: the loss on the
    whole training split, not on one minibatch of 128, whose noise would hide differences of a few percent)."""

    def __init__(self, theta0: Tensor, loss: Callable[[Tensor, int], Tensor],
                 objective: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__(loss, theta0, objective, "problem")

    @property
    def theta0(self) -> Tensor:
        """The flat starting point (the task's ``params0``)."""
        return self.params0

    def final(self, theta: Tensor, step: int) -> float:
        """The score of a run that ended at ``theta`` after ``step`` steps: ``objective(theta)`` if the problem has
        one, else ``loss(theta, step)``; ``inf`` for a diverged run."""
        with torch.no_grad():
            value = float(self.objective(theta) if self.objective is not None else self.loss(theta, step))
        return value if math.isfinite(value) else math.inf


def quadratic_problem(generator: torch.Generator, batch: int = 128, dim: int = 10) -> Problem:
    """A batch of random quadratics ``||W theta - y||^2`` (Andrychowicz et al. 2016, sec. 3.1); loss = their mean."""
    from .tasks.quadratic import QuadraticBatch

    q = QuadraticBatch.sample(batch, dim, generator)
    theta0 = q.init(generator).reshape(-1)
    return Problem(theta0, lambda theta, t: q.loss(theta.view(batch, dim)).mean())


def classification_problem(task, generator: torch.Generator, steps: int) -> Problem:
    """A fresh initialisation of ``task`` (a :class:`~learnopt_course.tasks.ClassificationTask`) with ``steps + 1``
    minibatches drawn in advance, so the run is reproducible and ``loss(theta, t)`` uses minibatch ``t``; its
    ``objective`` is the loss on the whole training split."""
    sampled = task.sample(generator, steps)
    params = sampled.init_params()
    return Problem(trees.flat(params), lambda theta, t: task.loss(trees.split(theta, params), sampled.batch(t)),
                   lambda theta: sampled.loss(trees.split(theta, params)))  # the whole training split, chunked


# --- Meta-training --------------------------------------------------------------------------------------------


@dataclass
class MetaTrainConfig:
    steps: int = 100  # optimizee steps per run ("super epoch")
    unroll: int = 20  # truncation length T
    meta_lr: float = 1e-3
    runs: int = 100  # super epochs
    second_order: bool = False
    normalize: str = "none"  # "none", "per_tensor" (Schröter 2022, sec. 5.3.2) or "global"
    weights: str = "constant"  # w_t = 1, or "linear": w_t = t + 1 within a slice (eq. 5.12)
    log_loss: bool = False  # sum w_t log f(theta_t) instead of w_t f(theta_t) (Wichrowska et al. 2017)
    schedule: str = "constant"  # meta learning rate: constant, or "cosine" from meta_lr to 0 over all meta-updates
    validate_every: int = 0  # with a validation score: score every this many runs and keep the best weights

    def __post_init__(self) -> None:
        self.trainer_config()  # the trainer's checks (schedule, normalize, validate_every, unroll <= steps)
        if self.weights not in ("constant", "linear"):
            raise ValueError(f"weights must be 'constant' or 'linear'; got {self.weights!r}")

    def trainer_config(self) -> TrainConfig:
        return TrainConfig(runs=self.runs, steps=self.steps, unroll=self.unroll, meta_lr=self.meta_lr,
                           schedule=self.schedule, normalize=self.normalize, validate_every=self.validate_every)


def unroll_slice(net: CoordinateLSTM, problem: Problem, theta: Tensor, state: State, start: int, length: int,
                 second_order: bool = False, weights: str = "constant",
                 log_loss: bool = False) -> tuple[Tensor, Tensor, State]:
    """One truncated slice: ``length`` learned-optimizer steps from ``theta`` (a detached leaf) at step ``start``.

    Returns the slice's meta-loss ``sum_k w_k f(theta_{start+k})`` for ``k = 1..length`` (each depends on phi;
    with ``log_loss``, ``sum_k w_k log f(theta_{start+k})``, which weighs a halving of the loss equally early and
    late in the run instead of letting the large early losses dominate), the final theta and state (still on the
    graph; detach them before the next slice). One call of the unroll engine."""
    run = unroll(problem, net.optimizer(), theta, length, state={"t": start, "lstm": state}, start=start,
                 graph=True, second_order=second_order, meta="linear" if weights == "linear" else "sum",
                 log=log_loss)
    return run.meta_loss, run.params, run.state["lstm"]


def meta_train(net: CoordinateLSTM, make_problem: Callable[[torch.Generator], Problem], config: MetaTrainConfig,
               generator: torch.Generator, callback: Callable[[int, float], None] | None = None,
               validate: Callable[[CoordinateLSTM], float] | None = None, estimator=None,
               checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1) -> list[float]:
    """Meta-train ``net`` with Adam on ``config.runs`` fresh problems, truncated BPTT every ``config.unroll`` steps
    (values carry over between slices, the graph does not). Returns the mean meta-loss per step of each run.

    With ``validate`` (lower is better, e.g. :func:`validation_score` on problems that are neither training nor test
    problems) and ``config.validate_every = k``, the network is scored before training and after every k-th run, and
    the best-scoring weights are restored at the end: early stopping on held-out problems, the protocol that turns
    the large seed-to-seed spread of meta-training (Schröter 2022, sec. 5.4) into a choice made without the test set.

    Non-finite guard: a slice whose meta-loss or meta-gradient is not finite (a diverged inner run) is not applied;
    that run stops there (its history entry is ``inf``), and a warning counts the skipped updates at the end.
    ``estimator``: any estimator of :mod:`learnopt_course.meta.gradients` (default truncated backpropagation);
    ``checkpoint``: a path for resumable checkpoints, written every ``checkpoint_every`` runs. Under ``torchrun`` it
    runs data-parallel. The loop is :func:`learnopt_course.meta.trainer.train`'s."""
    objective = LearnedOptimizerObjective(net, make_problem, second_order=config.second_order,
                                          weights=config.weights, log_loss=config.log_loss)
    score = None if validate is None else (lambda _objective: validate(net))
    return train(objective, config.trainer_config(), generator, estimator, validate=score, callback=callback,
                 checkpoint=checkpoint, checkpoint_every=checkpoint_every)


def validation_score(net: CoordinateLSTM, problems: list[Problem], steps: int) -> float:
    """Mean :meth:`Problem.final` score after ``steps`` learned-optimizer steps over ``problems`` (``inf`` if any run
    diverged): the score :func:`meta_train` uses to choose among snapshots. Draw the problems with seeds used for
    nothing else."""
    if not problems:
        raise ValueError("problems must hold at least one validation problem; got none")
    finals = [problem.final(run_learned(net, problem, steps, return_theta=True)[1], steps) for problem in problems]
    return sum(finals) / len(finals)


def run_learned(net: CoordinateLSTM, problem: Problem, steps: int, return_theta: bool = False):
    """Optimise ``problem`` for ``steps`` steps with the learned optimizer (no meta-gradients, O(1) memory);
    returns the losses ``f(theta_0), ..., f(theta_steps)`` (and the final theta with ``return_theta``)."""
    run = unroll(problem, net.optimizer(), problem.theta0.detach(), steps)
    return (run.losses, run.params) if return_theta else run.losses


# --- Checkpoints (one format for every learned component: learnopt_course.core.checkpoints) --------------------

from .core.checkpoints import CHECKPOINT_DIR, load_checkpoint, save_checkpoint, sha256, shipped  # noqa: E402,F401


@dataclass
class Recipe:
    """How a shipped checkpoint is made: the problem family, the architecture and the meta-training settings."""

    name: str
    problem: str  # "quadratic" or "mnist"
    lstm: LSTMConfig
    train: MetaTrainConfig
    seed: int = 0
    quick_runs: int = 3
    selection_problems: int = 0  # with train.validate_every: snapshots are scored on this many problems
    selection_seed: int = 3001  # ... drawn with seeds selection_seed, selection_seed + 1, ... (used for nothing else)
    pretrain_lr: float = 0.0  # > 0: first pretrain towards "update = -pretrain_lr * gradient" (Schröter, 5.4.4)
    pretrain_iterations: int = 200
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train.validate_every and self.selection_problems < 1:
            raise ValueError(f"recipe {self.name!r}: train.validate_every={self.train.validate_every} needs "
                             f"selection_problems >= 1; got {self.selection_problems}")


# --- Honest comparison with tuned hand-designed optimizers -------------------------------------------------------


LR_GRID = tuple(10 ** (k / 4) for k in range(-12, 5))  # 1e-3 .. 10 in quarter decades: one grid for every baseline
BASELINES = {"SGD": ("sgd", None), "heavy ball": ("heavy_ball", 0.9), "RMSprop": ("rmsprop", None),
             "Adam": ("adam", None)}
TEST_SEEDS = (1001, 1002, 1003)  # problems that score; recipes were chosen on 2001-2010, snapshots on 3001-...


def _run_baseline(problem: Problem, steps: int, optimizer: str, lr: float,
                  momentum: float | None = None, last_loss: bool = False):
    """``steps`` steps of a functional hand-designed optimizer (one call of the unroll engine)."""
    hp = {"lr": lr} | ({"momentum": momentum} if momentum is not None else {})
    return unroll(problem, optimizer, problem.theta0.detach(), steps, hp=hp, last_loss=last_loss)


def final_loss(problem: Problem, steps: int, optimizer: str, lr: float, momentum: float | None = None) -> float:
    """:meth:`Problem.final` after ``steps`` steps of a functional hand-designed optimizer on ``problem`` (``inf`` if
    it diverged)."""
    return problem.final(_run_baseline(problem, steps, optimizer, lr, momentum).params, steps)


def baseline_losses(problem: Problem, steps: int, optimizer: str, lr: float, momentum: float | None = None) -> Tensor:
    """The minibatch losses ``f(theta_0), ..., f(theta_steps)`` along a hand-designed optimizer's run: the same
    curve :func:`run_learned` returns for the learned optimizer, for plotting the two side by side."""
    return _run_baseline(problem, steps, optimizer, lr, momentum, last_loss=True).losses


def tune_baseline(sample: Callable[[torch.Generator], Problem], steps: int, optimizer: str, grid: list[float],
                  tuning_seed: int, momentum: float | None = None) -> float:
    """The learning rate from ``grid`` with the lowest final loss on one tuning problem drawn with ``tuning_seed``."""
    scores = {lr: final_loss(sample(torch.Generator().manual_seed(tuning_seed)), steps, optimizer, lr, momentum)
              for lr in grid}
    return min(scores, key=scores.get)


@dataclass
class Row:
    """One optimizer's line in a comparison: its learning rate (``None`` for the learned one) and test scores."""

    lr: float | None
    scores: list[float]

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)

    @property
    def std(self) -> float:
        m = self.mean
        return math.sqrt(sum((x - m) ** 2 for x in self.scores) / max(len(self.scores) - 1, 1))


def compare(sample: Callable[[torch.Generator], Problem], net: CoordinateLSTM, steps: int = 100,
            seeds: tuple[int, ...] = TEST_SEEDS, grid: tuple[float, ...] = LR_GRID, tuning_seed: int = 7,
            baselines: dict[str, tuple[str, float | None]] = BASELINES) -> dict[str, Row]:
    """The learned optimizer against hand-designed ones, each with its learning rate chosen from ``grid`` on the
    tuning problem, all scored (:meth:`Problem.final` at ``steps``) on the same problems drawn with ``seeds``."""
    if not seeds:
        raise ValueError("seeds must name at least one test problem; got an empty sequence")
    problems = [sample(torch.Generator().manual_seed(s)) for s in seeds]  # runs never modify a problem: draw once
    rows = {"learned LSTM": Row(None, [p.final(run_learned(net, p, steps, return_theta=True)[1], steps)
                                       for p in problems])}
    for label, (name, momentum) in baselines.items():
        lr = tune_baseline(sample, steps, name, list(grid), tuning_seed, momentum)
        rows[label] = Row(lr, [final_loss(p, steps, name, lr, momentum) for p in problems])
    return rows
