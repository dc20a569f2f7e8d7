"""What ``LEARNOPT_SCALE=full`` changes in each lesson: one registry, read by the notebooks and by INSTRUCTORS.md.

Every lesson's experiments take their sizes from ``S = lo.scales.lesson("NN", cfg)``: ``S.name`` is the CI-scale
value by default and the paper-scale value when ``cfg.scale == "full"`` (``LEARNOPT_SCALE=full``). The CI values
are what the notebooks' stored outputs were made with; the full values follow the papers' settings where a paper
sets one (each entry names it), and otherwise add seeds, problems and steps so that every verdict rests on more
evidence. Each entry records the expected time of the whole notebook at full scale, measured on one CPU thread
(see ``cpu_note`` for how) and what a GPU changes. ``tests/test_scales.py`` checks that every lesson has an entry,
that the notebook reads every setting and nothing else decides its scale, and that INSTRUCTORS.md lists the table
:func:`instructors_table` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from .config import Config


@dataclass(frozen=True)
class LessonScale:
    """One lesson's settings at both scales, where the full values come from, and what a full run costs."""

    lesson: str  # "01", "02", ...
    ci: dict[str, object]
    full: dict[str, object]
    source: str  # the paper setting the full values follow, or why they are what they are
    cpu_minutes: float  # the whole notebook at full scale on one CPU thread (see cpu_note)
    cpu_note: str  # "measured on ..." or "estimated from ..."
    gpu: str  # what a GPU (cfg.device == "cuda") changes
    labels: dict[str, str] = field(default_factory=dict)  # how a setting reads in the table (default: its name)

    def __post_init__(self) -> None:
        if set(self.ci) != set(self.full):
            raise ValueError(f"lesson {self.lesson}: ci and full must name the same settings; got "
                             f"{sorted(self.ci)} and {sorted(self.full)}")
        if self.ci == self.full:
            raise ValueError(f"lesson {self.lesson}: full scale must change at least one setting")

    def settings(self, scale: str) -> SimpleNamespace:
        """The settings at ``scale`` (``"ci"`` or ``"full"``) as attributes."""
        if scale not in ("ci", "full"):
            raise ValueError(f"scale must be 'ci' or 'full'; got {scale!r}")
        return SimpleNamespace(**(self.ci if scale == "ci" else self.full))


_GPU_SMALL = ("runs on the CPU (its tensors are tiny: a GPU would spend its time launching kernels); "
              "nothing to move to a GPU")
_MEASURED = "measured: the whole notebook, maintainers' 2-core Xeon, AVX-512, one thread"
_CONTENDED = _MEASURED + ", while the other core ran tests"

SCALES: dict[str, LessonScale] = {s.lesson: s for s in (
    LessonScale("01", ci={"tuning_seeds": 4, "test_seeds": 8}, full={"tuning_seeds": 16, "test_seeds": 64},
                source="the lesson's own experiment (no paper sets it): 4x the tuning seeds and 8x the test seeds of "
                       "the noisy-gradient comparison",
                cpu_minutes=0.2, cpu_note=_MEASURED, gpu=_GPU_SMALL),
    LessonScale("02", ci={"budget": 30, "test_seeds": 10, "n_train": 10_000},
                full={"budget": 100, "test_seeds": 50, "n_train": 50_000},
                source="the schedule experiment in Andrychowicz et al. (2016, sec. 3.2)'s MNIST setting on the "
                       "whole 50,000-image training split: 100 hypergradient steps against a 100-point grid, 50 "
                       "test seeds",
                cpu_minutes=1.0, cpu_note=_MEASURED, gpu=_GPU_SMALL),
    LessonScale("03", ci={"start_seeds": (1, 2, 3)}, full={"start_seeds": tuple(range(1, 11))},
                source="the lesson's own control problems: 10 random starts instead of 3 for the method comparison",
                cpu_minutes=1.0, cpu_note=_MEASURED, gpu=_GPU_SMALL),
    LessonScale("04", ci={"seeds": 5}, full={"seeds": 20},
                source="the lesson's own tuning problem: 20 seeds instead of 5 for policy gradient against grid search",
                cpu_minutes=0.1, cpu_note=_MEASURED, gpu=_GPU_SMALL),
    LessonScale("05", ci={"test_problems": (1001, 1002, 1003), "transfer_seeds": (2024, 2025)},
                full={"test_problems": tuple(range(1001, 1011)), "transfer_seeds": (2024, 2025, 2026, 2027, 2028)},
                source="Andrychowicz et al. (2016) sec. 3: 10 test problems instead of 3, 5 seeds of the transfer "
                       "settings; meta-training at the paper's scale is `learnopt reproduce l2l-mnist` (README, "
                       "Scale up)",
                cpu_minutes=2.8, cpu_note=_CONTENDED,
                gpu="the notebook evaluates on the CPU; the meta-training behind it runs on GPUs with `learnopt "
                    "reproduce l2l-mnist --device cuda [--nproc N] --out ...` (README, Scale up)"),
    LessonScale("06", ci={"train_problems": 16, "test_problems": 20, "horizon": 30, "seeds": 3},
                full={"train_problems": 90, "test_problems": 100, "horizon": 40, "seeds": 5},
                source="Li & Malik (2016)'s low-dimensional logistic-regression setting as a public re-implementation's "
                       "configuration gives it (the paper does not): 90 training and 100 test problems, T = 40; 5 seeds",
                cpu_minutes=2.7, cpu_note=_CONTENDED,
                gpu=_GPU_SMALL),
    LessonScale("07", ci={"cartpole_steps": 20_000, "budget": 2_000}, full={"cartpole_steps": 100_000, "budget": 10_000},
                source="PPO (Schulman et al. 2017) on CartPole-v1 for 100,000 steps, the RL Baselines3 Zoo budget; the "
                       "learning-rate controller's budget 5x",
                cpu_minutes=4.2, cpu_note=_CONTENDED,
                gpu=_GPU_SMALL),
    LessonScale("08", ci={"seeds": (0,), "methods": ("grid", "bo"), "epochs": 30, "bandits": (10,)},
                full={"seeds": (0, 1, 2), "methods": ("grid", "random", "bo"), "epochs": 100, "bandits": (10, 20, 50)},
                source="Crouther (2023) ch. 4: 100 meta-epochs, Bandit-10/20/50, grid, random search and BO, "
                       "3 seeds",
                cpu_minutes=5.4, cpu_note=_CONTENDED,
                gpu=_GPU_SMALL),
    LessonScale("09", ci={"ridge_steps": 2000, "seeds": (0, 1), "hyper_steps": 600, "pw_seeds": (0, 1, 2),
                          "deep_seeds": (0,), "stn_seeds": (0,)},
                full={"ridge_steps": 20_000, "seeds": (0, 1, 2), "hyper_steps": 5000, "pw_seeds": (0, 1, 2, 3, 4),
                      "deep_seeds": (0, 1, 2), "stn_seeds": (0, 1, 2)},
                source="Lorraine (2023) ch. 2: hyper-training to convergence (20,000 ridge steps, 5,000 "
                       "hypernetwork steps), 3 to 5 seeds",
                cpu_minutes=4.1, cpu_note=_CONTENDED,
                gpu="runs on the CPU (the hypernetwork trainers keep their tensors there)"),
    LessonScale("10", ci={"outer_steps": 50, "hyper_steps": 80, "distill_steps": 150},
                full={"outer_steps": 100, "hyper_steps": 200, "distill_steps": 400},
                source="Lorraine et al. (2020): longer hyperparameter optimisation (100 outer steps on the 20 "
                       "decays, 200 on the per-weight decays, 400 for dataset distillation)",
                cpu_minutes=1.2, cpu_note=_CONTENDED,
                gpu="the bilevel problems follow `cfg.device` in the library (`bilevel.*(device=...)`, tested on "
                    "CUDA when present); the notebook's cells run on the CPU"),
    LessonScale("11", ci={"mnist_steps": 100, "omniglot_tasks": 100}, full={"mnist_steps": 390, "omniglot_tasks": 600},
                source="one epoch of MNIST for the optimizer swap (390 minibatches of 128); the AlphaOpt proposal's "
                       "Omniglot evaluation: 5-way 1-shot on at least 600 episodes of held-out alphabets",
                cpu_minutes=4.2, cpu_note=_CONTENDED,
                gpu="runs on the CPU (PPO's environments step on the CPU); its LSTMs' meta-training runs on GPUs with "
                    "`learnopt reproduce l2l-omniglot --device cuda --out ...`"),
    LessonScale("12", ci={"heatmap_points": 25, "sweep_phases": 5, "branch_seeds": 10, "ipd_seeds": 3},
                full={"heatmap_points": 61, "sweep_phases": 9, "branch_seeds": 100, "ipd_seeds": 10},
                source="Lorraine (2023) ch. 4-5 give no numbers in our copy: a finer rate heatmap and adversarialness "
                       "sweep, 10x the branching seeds, 10 prisoner's-dilemma starts",
                cpu_minutes=1.0, cpu_note=_MEASURED, gpu=_GPU_SMALL),
)}


def lesson(number: str, cfg: Config | str) -> SimpleNamespace:
    """Lesson ``number``'s settings at ``cfg``'s scale (or at the scale named by a string)."""
    key = str(number).zfill(2)
    if key not in SCALES:
        raise KeyError(f"no scale settings for lesson {number!r}; lessons with settings: {sorted(SCALES)}")
    return SCALES[key].settings(cfg if isinstance(cfg, str) else cfg.scale)


def _fmt(value: object) -> str:
    if isinstance(value, tuple):
        return f"{len(value)} ({value[0]}..{value[-1]})" if len(value) > 3 and all(isinstance(v, int) for v in value) \
            else ", ".join(str(v) for v in value)
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def instructors_table() -> str:
    """The Markdown table INSTRUCTORS.md shows (a test keeps them equal)."""
    rows = ["| lesson | setting: CI -> full | where the full values come from | full run, 1 CPU thread | GPU |",
            "|---|---|---|---|---|"]
    for s in SCALES.values():
        changes = "; ".join(f"`{k}` {_fmt(s.ci[k])} -> {_fmt(s.full[k])}" for k in s.ci)
        rows.append(f"| {s.lesson} | {changes} | {s.source} | about {s.cpu_minutes:g} min ({s.cpu_note}) | {s.gpu} |")
    return "\n".join(rows)
