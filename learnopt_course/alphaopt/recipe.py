"""How the shipped capstone agent is made (``learnopt reproduce alphaopt-quadratic2d``): PPO on E11.1's 2-D
quadratics (:mod:`.experiments`) with the ``log_delta`` reward for ``env_steps`` environment steps."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass
class AlphaOptRecipe:
    name: str
    reward: str = "log_delta"
    env_steps: int = 40_000
    seed: int = 0
    quick_steps: int = 1_000


def train_recipe(recipe: AlphaOptRecipe, quick: bool, seed: int) -> tuple[nn.Module, dict, list[float]]:
    """``learnopt reproduce``'s trainer: the history is the episode returns in training order; the info records the
    agent's success rate and mean area under the curve on the 100 held-out starts."""
    from .experiments import agent_score, train_agent

    steps = recipe.quick_steps if quick else recipe.env_steps
    agent, log = train_agent(recipe.reward, steps, seed)
    result = agent_score(agent)
    info = {"runs": steps, "reward": recipe.reward, "held_out_success": result.success,
            "held_out_auc": round(result.auc, 4), "episodes": len(log["returns"])}
    return agent, info, log["returns"]
