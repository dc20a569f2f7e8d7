"""The settings of Li & Malik (2017, sec. 4), scaled to a CPU: the training setting (a 48-48-10 ReLU net on MNIST
randomly projected to 48 dimensions, minibatches of 64) and the transfer settings of their Figs 1-5 (unseen datasets,
a larger net, smaller minibatches, twice the horizon), each as training tasks plus the true objective a run is scored
by (the training loss on a fixed subset of at most 2,000 examples).

The paper's unseen datasets (TFD with 7 classes, CIFAR-10, CIFAR-100) cannot be downloaded here: 7-, 10- and
100-class problems built from Omniglot characters stand in for them (:func:`~learnopt_course.tasks.omniglot_classification`).
Its horizon is 400 steps with an LSTM of 128 units; ours is ``T = 100`` (``2T`` in the horizon test) with 16 units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .driver import GPSConfig, SubsetObjective

D = torch.float64
T_TRAIN = 100  # the horizon the policy is trained on (the paper's: 400)


@dataclass(frozen=True)
class Setting:
    """A family of tasks (data, net, minibatch size) and a horizon."""

    label: str
    dataset: str = "mnist"  # "mnist" or "omniglot"
    classes: int = 10
    project: int = 48
    hidden: int = 48
    batch_size: int = 64
    T: int = T_TRAIN
    claim: str = ""  # what Li & Malik report for it


SETTINGS: dict[str, Setting] = {s.label: s for s in (
    Setting("MNIST 48-48-10 (trained on)", claim="Fig. 1: PSD descends fastest on the dataset it was trained on"),
    Setting("Omniglot 7-class", "omniglot", 7, claim="Fig. 1 (TFD, 7 classes): PSD fastest on an unseen dataset"),
    Setting("Omniglot 10-class", "omniglot", 10, claim="Fig. 1 (CIFAR-10): PSD fastest on an unseen dataset"),
    Setting("Omniglot 100-class", "omniglot", 100, claim="Fig. 1 (CIFAR-100): PSD fastest on an unseen dataset"),
    Setting("MNIST 100-200-10", project=100, hidden=200,
            claim="Fig. 2: on a net with 100 input dimensions and 200 hidden units PSD still descends fastest"),
    Setting("MNIST batch 10", batch_size=10, claim="Figs 3-4: with minibatches of 10 PSD stays fastest; CG degrades"),
    Setting("MNIST 2T steps", T=2 * T_TRAIN, claim="Fig. 5: run for twice its horizon, PSD keeps descending"),
)}


def family(setting: Setting, seed: int = 0, dtype: torch.dtype = D) -> Any:
    """The task family of ``setting`` in ``dtype`` (Omniglot: the characters drawn with ``seed``)."""
    from ..tasks import mnist_task, omniglot_classification

    if setting.dataset == "mnist":
        return mnist_task("mlp", (setting.hidden,), "relu", n_val=2000, batch_size=setting.batch_size, dtype=dtype,
                          project=setting.project)
    if setting.dataset == "omniglot":
        return omniglot_classification(setting.classes, project=setting.project, hidden=(setting.hidden,),
                                       batch_size=setting.batch_size, seed=seed, dtype=dtype)
    raise ValueError(f"dataset must be 'mnist' or 'omniglot'; got {setting.dataset!r}")


def tasks(setting: Setting, seeds: list[int] | tuple[int, ...], dtype: torch.dtype = D,
          examples: int = 2000) -> tuple[list, SubsetObjective]:
    """One task per seed (an initialisation and a minibatch order; for Omniglot also a draw of characters) and the
    true objective, the training loss on the first ``examples`` training examples. Seeds 0-99 train the policy,
    100-199 tune the baselines, 1000+ score. Training uses float64 (the LQG fits); evaluation may use float32."""
    out, objective = [], None
    for seed in seeds:
        fam = family(setting, seed if setting.dataset == "omniglot" else 0, dtype)
        objective = objective if setting.dataset == "mnist" and objective is not None else SubsetObjective(fam, examples)
        task = fam.sample(torch.Generator().manual_seed(seed), setting.T)
        task.objective = objective  # each task carries its own subset (Omniglot tasks differ in data)
        out.append(task)
    return out, objective


def true_objective(task: Any, params: dict) -> torch.Tensor:
    """The objective a task was built with by :func:`tasks`."""
    return task.objective(task, params)


@dataclass
class GPSRecipe:
    """How the shipped policy ``gps-mnist48`` is made: GPS on ``rollouts`` training tasks of the training setting."""

    name: str
    setting: str = "MNIST 48-48-10 (trained on)"
    rollouts: int = 8
    config: GPSConfig = field(default_factory=GPSConfig)
    seed: int = 0
    quick_iterations: int = 2


def train_recipe(recipe: GPSRecipe, quick: bool, seed: int) -> tuple[torch.nn.Module, dict, list[float]]:
    """``learnopt reproduce``'s trainer for a :class:`GPSRecipe`: GPS on the training tasks (seeds ``0 ..
    rollouts-1``); the history is the accepted teacher's mean area under the curve per iteration."""
    from .driver import train

    setting = SETTINGS[recipe.setting]
    config = GPSConfig(**{**recipe.config.__dict__, "T": setting.T})
    rollouts = recipe.rollouts
    if quick:  # proves the command works: a few short iterations on half the rollouts
        config = GPSConfig(**{**config.__dict__, "iterations": recipe.quick_iterations, "fit_steps": 5})
        rollouts = max(1, rollouts // 2)
    train_tasks, _ = tasks(setting, list(range(rollouts)))
    teachers, student, history = train(train_tasks, config, objective=true_objective,
                                       generator=torch.Generator().manual_seed(seed))
    info = {"runs": config.iterations, "teacher_area": [round(a, 3) for a in history.teacher_area],
            "fit_r2": [round(r, 3) for r in history.fit_r2], "setting": recipe.setting, "rollouts": recipe.rollouts}
    return student, info, history.teacher_area


TRAINED = "MNIST 48-48-10 (trained on)"
LONG = "MNIST 2T steps"


def tune_baselines(seeds: tuple[int, ...] = (100, 101), grid: tuple[float, ...] | None = None,
                   dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Each baseline's learning rate, chosen on the training setting's tuning tasks (``seeds``, never scored) by the
    lowest mean area under the curve over ``grid`` (default 1e-3 .. 10 in half decades)."""
    from . import evaluate

    grid = grid or tuple(10 ** (k / 2) for k in range(-6, 3))
    setting = SETTINGS[TRAINED]
    tuning, _ = tasks(setting, seeds, dtype, 1000)
    return {label: evaluate.tune(tuning, spec, setting.T, true_objective, fixed, grid)[0]
            for label, (spec, fixed) in evaluate.BASELINES.items()}


def experiment(learned: dict[str, Any], tuned: dict[str, float], seeds: tuple[int, ...] = (1000, 1001, 1002, 1003, 1004),
               names: tuple[str, ...] | None = None, dtype: torch.dtype = torch.float32) -> dict[str, dict]:
    """Every optimizer on every setting (``names``, default all), scored on the tasks of ``seeds``: setting ->
    optimizer -> :class:`~.evaluate.Result`. The training setting's runs are the first ``T`` steps of the
    ``2T``-step runs (the same tasks: the same initialisations and minibatches)."""
    from . import evaluate

    names = names or tuple(SETTINGS)
    unknown = set(names) - set(SETTINGS)
    if unknown:
        raise KeyError(f"names must be settings of {sorted(SETTINGS)}; got {sorted(unknown)}")
    out: dict[str, dict] = {}
    for name in names:
        if name == TRAINED and LONG in names:
            continue
        setting = SETTINGS[name]
        scored, _ = tasks(setting, seeds, dtype, 1000)
        out[name] = evaluate.compare(scored, setting.T, true_objective, learned=learned, tuned=tuned)
    if TRAINED in names and LONG in names:
        T = SETTINGS[TRAINED].T
        out[TRAINED] = {label: evaluate.Result(r.lr, r.curves[:, : T + 1]) for label, r in out[LONG].items()}
    return {name: out[name] for name in names}


@dataclass
class Claim:
    """A qualitative claim of Li & Malik (2017) and what our run shows."""

    paper: str
    ours: str
    holds: bool


def claims(results: dict[str, dict], learned: str = "PSD (GPS)", l2l: str = "L2LBGDBGD") -> list[Claim]:
    """The paper's qualitative claims about Figs 1-5 (note claims 10-15), each checked on ``results`` (from
    :func:`experiment` over all settings) by the rule stated in its ``ours`` text. Means over the scored tasks."""
    import math

    from .evaluate import mean_std

    def area(setting: str, label: str) -> float:
        return mean_std(results[setting][label].area)[0]

    def final(setting: str, label: str) -> float:
        return mean_std(results[setting][label].final)[0]

    baselines = lambda s: [k for k in results[s] if k not in (learned, l2l)]  # noqa: E731
    out = []
    rankings = {}
    for s in (TRAINED, "Omniglot 7-class", "Omniglot 10-class", "Omniglot 100-class"):
        best = min(baselines(s), key=lambda k: area(s, k))
        ratio = area(s, learned) / area(s, best)
        out.append(Claim(SETTINGS[s].claim, f"{s}: PSD's area / the best baseline's ({best}) = {ratio:.2f} (holds if "
                         "<= 1.05)", ratio <= 1.05))
        rankings[s] = tuple(sorted(baselines(s), key=lambda k: area(s, k)))
    out.append(Claim("L247: the ranking of the other optimizers varies by dataset",
                     f"{len(set(rankings.values()))} distinct rankings of the baselines by area over {len(rankings)} "
                     "datasets (holds if more than 1)", len(set(rankings.values())) > 1))
    s = "MNIST 100-200-10"
    best = min(baselines(s), key=lambda k: final(s, k))
    ratio = final(s, learned) / final(s, best)
    fastest = min(baselines(s), key=lambda k: area(s, k))
    diverged = results[s][learned].diverged
    out.append(Claim(SETTINGS[s].claim, f"PSD diverged on {diverged} tasks; its final loss / the best baseline's "
                     f"({best}) = {ratio:.2f} (holds if no divergence and <= 1.1); its area / the best baseline's "
                     f"({fastest}) = {area(s, learned) / area(s, fastest):.2f}", diverged == 0 and ratio <= 1.1))
    s = "MNIST batch 10"
    best = min(baselines(s), key=lambda k: final(s, k))
    ratio = final(s, learned) / final(s, best)
    cg = final(s, "CG") / final(TRAINED, "CG")
    out.append(Claim(SETTINGS[s].claim, f"PSD's final loss / the best baseline's ({best}) = {ratio:.2f} (holds if "
                     f"<= 1.1); CG's final loss at batch 10 / at batch 64 = "
                     f"{'diverged' if math.isinf(cg) else f'{cg:.2f}'} (degrades if > 1.5)", ratio <= 1.1 and cg > 1.5))
    T = SETTINGS[TRAINED].T
    long = results[LONG][learned].curves
    ratio = float(long[:, -1].mean() / long[:, T].mean())
    out.append(Claim(SETTINGS[LONG].claim, f"PSD's loss at 2T / at T = {ratio:.2f} (holds if <= 1.05)", ratio <= 1.05))
    progress = {s: final(s, l2l) / float(results[s][l2l].curves[:, 0].mean()) for s in results}
    failing = [s for s in results if results[s][l2l].diverged or progress[s] > 0.75]
    worst = max(progress, key=progress.__getitem__)
    out.append(Claim("L269: L2LBGDBGD diverges or stalls on at least one setting (TFD)",
                     f"L2LBGDBGD diverged, or ended above 3/4 of its initial loss (mean), on {len(failing)} of "
                     f"{len(results)} settings; its worst final / initial loss is {progress[worst]:.2f} ({worst}) "
                     "(holds if on at least one)", bool(failing)))
    return out
