"""The capstone's experiments as functions (lesson 11; the AlphaOpt proposal's plan, §1.3, and comparison, §1.4).

* E11.1, the 2-D convex test (R8): ``f = 1/2 theta^T diag(10, 1) theta`` (our
  :class:`~learnopt_course.tasks.landscapes.Quadratic` with ``L = 10``, ``kappa = 10``, unrotated), starts
  ``theta_0 ~ N(0, 2^2 I)``, ``T = 50`` steps; success is ``f - f* < 1e-3`` at the end (the lesson notes' inferred
  threshold) over 100 held-out starts; the baseline is gradient descent, its rate tuned on 20 other starts by the area
  under the loss curve (:func:`score`, :func:`tuned_gd`, :func:`train_agent`);
* E11.2, non-convex landscapes against tuned Adam (:func:`landscape_success`, :func:`landscape_gap`,
  :func:`tuned_adam`, :func:`landscape_sampler` for agents trained on one landscape);
* E11.3, the MNIST CNN with its optimizer swapped in an unchanged PyTorch loop (:func:`train_with`);
* E11.4, 5-way 1-shot Omniglot with the optimizer frozen at meta-test (:func:`few_shot_eval`, :func:`tune_few_shot`);
* E11.5, the LSTM optimizer's training problems on the same tasks (:func:`quadratic_problem`,
  :func:`episode_problem`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..meta.engine import unroll
from ..tasks.landscapes import Quadratic
from .env import CoordinateLREnv
from .optimizer import AgentRule
from .policy import CoordinateActorCritic

D = torch.float64
QUADRATIC = Quadratic(kappa=10.0, L=10.0, angle=0.0, bounds=((-4.0, 4.0), (-4.0, 4.0)))


def quadratic_sampler(generator: torch.Generator) -> tuple[Quadratic, torch.Tensor]:
    """E11.1's task and a start ``N(0, 2^2 I)``."""
    return QUADRATIC, 2.0 * torch.randn(2, generator=generator, dtype=D)


def held_out_starts(n: int = 100, seed: int = 12345) -> torch.Tensor:
    """Starts never seen in training (``n x 2``)."""
    return 2.0 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=D)


@dataclass
class Score:
    """Success rate (final loss below ``tol``), mean area under the loss curve, and the loss curves ``[n, T+1]``."""

    success: float
    auc: float
    curves: torch.Tensor = field(repr=False)


def trajectories(optimizer, starts: torch.Tensor, steps: int = 50, hp: dict | None = None,  # noqa: ANN001
                 task=QUADRATIC) -> torch.Tensor:  # noqa: ANN001
    """The points ``[T+1, n, 2]`` of runs from every start (rows of ``starts``), all in one call of the unroll engine:
    the runs are stacked as rows of one tensor and the losses summed, which is exact for every optimizer of this
    lesson because each acts coordinate by coordinate (SGD, Adam, the agent, the coordinatewise LSTM)."""
    run = unroll(lambda w, t: task.loss(w).sum(), optimizer, starts.clone(), steps, hp=hp, record=True)
    return torch.stack([w.detach() for w in run.trajectory])


def score(optimizer, starts: torch.Tensor, steps: int = 50, hp: dict | None = None, tol: float = 1e-3,  # noqa: ANN001
          task: Quadratic = QUADRATIC) -> Score:
    """Run ``optimizer`` (any functional optimizer, e.g. ``"sgd"``, an :class:`~.optimizer.AgentRule` or an LSTM's
    ``net.optimizer()``) from every start through the unroll engine; a diverged run counts as a failure with an
    infinite area."""
    with torch.no_grad():
        curves = task.loss(trajectories(optimizer, starts, steps, hp, task)).T  # [n, T+1]
    finite = torch.where(torch.isfinite(curves), curves, torch.full_like(curves, float("inf")))
    return Score(float((finite[:, -1] - task.min_value < tol).double().mean()), float(finite.sum(1).mean()), curves)


def tuned_gd(steps: int = 50, tune_seed: int = 999, grid: np.ndarray | None = None) -> tuple[float, Score]:
    """Gradient descent's learning rate chosen on 20 other starts by the mean area under the curve, and its score on
    the held-out starts."""
    tune = held_out_starts(20, tune_seed)
    grid = np.logspace(-3, 0, 31) if grid is None else grid
    best = min(grid, key=lambda lr: score("sgd", tune, steps, {"lr": float(lr)}).auc)
    return float(best), score("sgd", held_out_starts(), steps, {"lr": float(best)})


def train_agent(reward: str, env_steps: int, seed: int = 0, horizon: int = 50, sample=None,  # noqa: ANN001
                lr_range: tuple[float, float] = (1e-3, 1.0), ppo: dict | None = None, agent: dict | None = None,
                penalty: str = "threshold") -> tuple[CoordinateActorCritic, dict]:
    """PPO (the course's, with the coordinatewise actor-critic plugged in) on :class:`~.env.CoordinateLREnv` over the
    tasks of ``sample`` (default: E11.1's quadratics) with the given reward; ``ppo`` overrides
    :class:`~learnopt_course.rl.PPOConfig` fields and ``agent`` :class:`~.policy.CoordinateActorCritic`'s (e.g.
    ``{"ratio": "coordinate"}``); ``penalty``: what a diverged episode pays (:mod:`.env`). Returns the agent and
    ``{"seconds", "returns", "clip_fraction"}`` (episode returns in training order; the fraction of clipped
    probability ratios in the last update, which grows with the number of coordinates whose log-probabilities are
    summed)."""
    from ..rl import PPO, PPOConfig

    sample = quadratic_sampler if sample is None else sample
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CoordinateActorCritic(lr_range=lr_range, **(agent or {}))
    options = {"n_steps": 500, "batch_size": 100, "epochs": 5, "lr": 3e-3, "gamma": 0.99} | (ppo or {})
    config = PPOConfig(normalize_obs=False, seed=seed, **options)
    start = time.perf_counter()
    make_env = lambda: CoordinateLREnv(sample, horizon=horizon, reward=reward, lr_range=lr_range,  # noqa: E731
                                       penalty=penalty)
    runner = PPO(make_env, config, net=net)
    last: dict[str, float] = {}
    runner.learn(env_steps, callback=lambda _steps, stats: last.update(stats))
    return net, {"seconds": time.perf_counter() - start, "returns": [h["return"] for h in runner.history],
                   "clip_fraction": float(last.get("clip_fraction", float("nan")))}


def agent_score(agent: CoordinateActorCritic, steps: int = 50) -> Score:
    """The frozen agent's deterministic rule on the held-out starts."""
    return score(AgentRule(agent), held_out_starts(), steps)


# --- E11.2: non-convex 2-D landscapes (the proposal's claim 19) -------------------------------------------------------


def _uniform_in_window(landscape, n: int, generator: torch.Generator) -> torch.Tensor:  # noqa: ANN001
    """``n x 2`` points drawn uniformly in the landscape's plotting window."""
    (x0, x1), (y0, y1) = landscape.bounds
    u = torch.rand(n, 2, generator=generator, dtype=D)
    return torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1)


def landscape_starts(landscape, n: int, seed: int) -> torch.Tensor:  # noqa: ANN001
    """``n`` starts drawn uniformly in the landscape's plotting window."""
    return _uniform_in_window(landscape, n, torch.Generator().manual_seed(seed))


def landscape_sampler(name: str):  # noqa: ANN201
    """``generator -> (task, start)`` for training an agent on one non-convex landscape: starts uniform in its
    window, and the loss measured as the gap ``f - f*`` (the saddle's minimum value is -1/4; a log-loss reward
    needs a loss that reaches 0 only at a minimizer)."""
    from ..tasks.base import FunctionTask
    from ..tasks.landscapes import make_landscape

    landscape = make_landscape(name)
    task = FunctionTask(lambda w, t: landscape.loss(w) - landscape.min_value, name=f"{name} gap")

    def sample(generator: torch.Generator):  # noqa: ANN202
        return task, _uniform_in_window(landscape, 1, generator)[0]
    return sample


def landscape_success(optimizer, landscape, starts: torch.Tensor, steps: int = 200, hp: dict | None = None,  # noqa: ANN001
                      tol: float = 1e-2) -> float:
    """The fraction of runs ending within ``tol`` of one of the landscape's known minimizers (a diverged run is a
    failure)."""
    with torch.no_grad():
        end = trajectories(optimizer, starts, steps, hp, landscape)[-1]  # [n, 2]
    return _hit_rate(end, landscape, tol)


def _hit_rate(end: torch.Tensor, landscape, tol: float) -> float:  # noqa: ANN001
    """The fraction of end points ``[n, 2]`` within ``tol`` of a known minimizer (non-finite ones miss)."""
    distance = (end[:, None, :] - landscape.minima.to(D)[None]).norm(dim=-1).min(dim=1).values
    return float((torch.isfinite(distance) & (distance < tol)).double().mean())


def landscape_gap(optimizer, landscape, starts: torch.Tensor, steps: int = 200, hp: dict | None = None  # noqa: ANN001
                  ) -> float:
    """The median over the runs of the final gap ``f - f*`` (``inf`` for a diverged run): how close the runs get
    where few end within the success radius."""
    with torch.no_grad():
        end = trajectories(optimizer, starts, steps, hp, landscape)[-1]
    gap = landscape.loss(end) - landscape.min_value
    return float(torch.where(torch.isfinite(gap), gap, torch.full_like(gap, float("inf"))).median())


def tuned_adam(landscape, steps: int = 200, tune_seed: int = 999, n_tune: int = 20,  # noqa: ANN001
               grid: np.ndarray | None = None) -> float:
    """Adam's learning rate chosen on ``n_tune`` other starts by success rate (ties: the smaller mean final loss)."""
    tune = landscape_starts(landscape, n_tune, tune_seed)
    grid = np.logspace(-3, 0, 13) if grid is None else grid

    def key(lr: float) -> tuple[float, float]:
        with torch.no_grad():
            end = trajectories("adam", tune, steps, {"lr": float(lr)}, landscape)[-1]
        finals = landscape.loss(end)
        finite = finals[torch.isfinite(finals)]
        return (-_hit_rate(end, landscape, 1e-2), float(finite.mean()) if finite.numel() else np.inf)

    return float(min(grid, key=key))


# --- E11.5 (RL vs RNN) on E11.1's tasks: the LSTM optimizer's training problems ----------------------------------


def quadratic_problem(generator: torch.Generator, batch: int = 32):  # noqa: ANN201
    """E11.1's quadratic from ``batch`` starts as one :class:`~learnopt_course.l2l.Problem` for the coordinatewise LSTM
    (lesson 05): the starts are rows, the loss their **sum** (a mean would divide every run's gradient by
    ``batch``), so each start is optimised exactly as alone."""
    from ..l2l import Problem

    starts = 2.0 * torch.randn(batch, 2, generator=generator, dtype=D)
    return Problem(starts.reshape(-1), lambda theta, t: QUADRATIC.loss(theta.view(-1, 2)).sum())


# --- E11.4: few-shot Omniglot with a frozen optimizer (the proposal's claim 21) -----------------------------------

OMNIGLOT_CHANNELS = (16, 16, 16)  # a 5,525-parameter CNN for 5-way tasks: the spec's "tiny CNN"
FEW_SHOT_STEPS = 10


def omniglot_family(split: str = "background", seed: int = 0, channels: tuple[int, ...] = OMNIGLOT_CHANNELS):  # noqa: ANN201
    """5-way 1-shot Omniglot episodes (15 queries per class) of ``split``, drawn from a stream seeded by ``seed``:
    meta-training uses ``background``, meta-testing ``evaluation`` (disjoint alphabets, Lake et al. 2015)."""
    from ..tasks import omniglot_task

    return omniglot_task(split, 5, 1, channels=channels, seed=seed)


def episode_sampler(family):  # noqa: ANN001, ANN201
    """``generator -> (episode task, initial parameters)`` for :class:`~.env.CoordinateLREnv`."""
    def sample(generator: torch.Generator):  # noqa: ANN202
        task = family.sample(generator)
        return task, task.init_params()
    return sample


def episode_problem(family):  # noqa: ANN001, ANN201
    """``generator -> l2l.Problem``: one episode's support loss over the flat CNN parameters (the LSTM's training
    problems; the same signal the agent is rewarded on)."""
    from ..core import trees
    from ..l2l import Problem

    def sample(generator: torch.Generator):  # noqa: ANN202
        task = family.sample(generator)
        params = task.init_params()
        return Problem(trees.flat(params), lambda theta, t: task.loss(trees.split(theta, params)))
    return sample


@dataclass
class FewShot:
    """Query accuracies of one optimizer over the test episodes, their mean and the half-width of a 95 % interval
    (``1.96 s / sqrt(n)``)."""

    accuracies: list[float] = field(repr=False)

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def ci95(self) -> float:
        return float(1.96 * np.std(self.accuracies, ddof=1) / np.sqrt(len(self.accuracies)))

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} +- {100 * self.ci95:.1f} %"


def few_shot_eval(optimizer, family, n_tasks: int, steps: int = FEW_SHOT_STEPS, hp: dict | None = None,  # noqa: ANN001
                  seed: int = 0, frozen: nn.Module | None = None) -> FewShot:
    """``steps`` steps of ``optimizer`` on the support set of ``n_tasks`` episodes, each from an initialisation drawn
    with ``seed + k`` (the same for every optimizer when ``family`` is rebuilt with the same seed); returns the query
    accuracies. ``frozen``: a learned optimizer's module, whose weights must be unchanged afterwards (the
    proposal's claim 21: nothing adapts at meta-test) — checked, not assumed."""
    from ..core import trees

    if not isinstance(n_tasks, int) or n_tasks < 2:
        raise ValueError(f"n_tasks must be an integer >= 2 (a spread needs two); got {n_tasks!r}")
    before = _digest(frozen) if frozen is not None else None
    accuracies = []
    for k in range(n_tasks):
        task = family.sample(torch.Generator().manual_seed(seed + k))
        params = unroll(task, optimizer, task.init_params(), steps, hp=hp, last_loss=False).params
        accuracies.append(task.evaluate(trees.detach(params), "val")["accuracy"])
    if frozen is not None and _digest(frozen) != before:
        raise RuntimeError("the learned optimizer's weights changed during meta-testing; it must stay frozen")
    return FewShot(accuracies)


def _digest(module: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def tune_few_shot(optimizer: str, family, n_tasks: int = 20, steps: int = FEW_SHOT_STEPS,  # noqa: ANN001
                  grid: np.ndarray | None = None, seed: int = 50_000) -> float:
    """The learning rate of ``optimizer`` with the best mean query accuracy over ``n_tasks`` episodes of ``family``
    (use the *background* split: tuning never sees the test alphabets)."""
    grid = np.logspace(-3, 0.5, 15) if grid is None else grid
    return float(max(grid, key=lambda lr: few_shot_eval(optimizer, family, n_tasks, steps, {"lr": float(lr)},
                                                         seed).mean))


# --- E11.3: the MNIST CNN with its optimizer swapped (the proposal's claim 20) ------------------------------------

MNIST_CHANNELS = (8, 16)  # the spec's CI-scale CNN (lesson 05 runs the same one through its LSTM)


def mnist_cnn(n_test: int = 10_000, channels: tuple[int, ...] = MNIST_CHANNELS, **options):  # noqa: ANN003, ANN201
    """The MNIST CNN task (``mnist-cnn``) with a test split."""
    from ..tasks import make_task

    return make_task("mnist-cnn", channels=channels, n_test=n_test, **options)


def train_with(make_optimizer, task, steps: int, seed: int, splits: tuple[str, ...] = ("val", "test")  # noqa: ANN001
               ) -> dict[str, float]:
    """An ordinary PyTorch training loop (``zero_grad``, ``backward``, ``step``) on ``task``'s minibatches, with
    whatever ``make_optimizer(parameters)`` returns (``torch.optim.Adam``, :class:`~.optimizer.AlphaOpt`, lesson
    05's ``LearnedOptimizer``): the loop does not change when the optimizer does. Returns the accuracy on each of
    ``splits`` (``"val"``, ``"test"``) after ``steps`` steps."""
    generator = torch.Generator().manual_seed(seed)
    params = {k: nn.Parameter(v) for k, v in task.init_params(generator).items()}
    opt = make_optimizer(list(params.values()))
    for _ in range(steps):
        opt.zero_grad()
        task.minibatch_loss(params, generator).backward()
        opt.step()
    final = {k: v.detach() for k, v in params.items()}
    return {split: task.metrics(final, split)[1] for split in splits}
