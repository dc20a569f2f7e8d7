"""How the shipped capstone agents are made (``learnopt reproduce alphaopt-...``): PPO on E11.1's 2-D quadratics
(:mod:`.experiments`) with each reward and three seeds, and on 5-way 1-shot Omniglot episodes of the background
alphabets (E11.4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

TASKS = ("quadratic2d", "omniglot", "rosenbrock", "saddle", "rastrigin")


@dataclass
class AlphaOptRecipe:
    name: str
    reward: str = "log_delta"
    env_steps: int = 40_000
    seed: int = 0
    quick_steps: int = 1_000
    task: str = "quadratic2d"  # or "omniglot", or a non-convex landscape (E11.2)
    horizon: int = 50
    lr_range: tuple[float, float] = (1e-3, 1.0)
    ppo: dict = field(default_factory=dict)  # PPOConfig overrides
    agent: dict = field(default_factory=dict)  # CoordinateActorCritic options (e.g. ratio="coordinate")
    penalty: str = "threshold"  # what a diverged episode pays (alphaopt.env)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"recipe {self.name!r}: task must be one of {TASKS}; got {self.task!r}")


def train_recipe(recipe: AlphaOptRecipe, quick: bool, seed: int) -> tuple[nn.Module, dict, list[float]]:
    """``learnopt reproduce``'s trainer: the history is the episode returns in training order; for the quadratics
    the info records the agent's success rate and mean area under the curve on the 100 held-out starts."""
    from . import experiments as E

    steps = recipe.quick_steps if quick else recipe.env_steps
    if recipe.task == "quadratic2d":
        sample = E.quadratic_sampler
    elif recipe.task == "omniglot":
        sample = E.episode_sampler(E.omniglot_family("background", seed))
    else:
        sample = E.landscape_sampler(recipe.task)
    agent, log = E.train_agent(recipe.reward, steps, seed, recipe.horizon, sample, recipe.lr_range, recipe.ppo,
                                 recipe.agent, recipe.penalty)
    info = {"runs": steps, "reward": recipe.reward, "penalty": recipe.penalty, "task": recipe.task,
            "episodes": len(log["returns"]),
            "train_seconds": round(log["seconds"], 1), "last_clip_fraction": round(log["clip_fraction"], 3)}
    if recipe.task == "quadratic2d":
        result = E.agent_score(agent)
        info |= {"held_out_success": result.success, "held_out_auc": round(result.auc, 4)}
    return agent, info, log["returns"]
