"""A trained HyperSVG agent as one shippable component: the synthetic optimizer (the surrogate) and the
learning-rate policy that learned through it (Crouther 2023, sec. 3.4.2 and 4.3.2), with the recipe
``learnopt reproduce hypersvg-mnist49`` trains it by.

The shipped agent is online Adaptive HyperSVG at the thesis's length, 100 meta-epochs of 20 SGD steps, on lesson
08's 500-parameter MNIST task (:func:`~.experiments.small_mnist`), from one of the thesis's six starts. Its
surrogate's weights are stored in float32 (a 500 -> 256 -> 500 surrogate is 1 MB in float32, 2 MB in float64;
rounding them changes its predictions by about 1e-7 relative), the policy's in float64 (its parameter sits where
tanh saturates, and float32 would move the rate by 0.5 %); ``agent.double()`` restores float64 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .model import ModelConfig, SyntheticOptimizer
from .policy import LRPolicy


@dataclass
class AgentConfig:
    """The surrogate's shape (:class:`~.model.ModelConfig`'s fields) and the policy's start and range."""

    state_dim: int
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    residual: bool = True
    sigma: float = 0.1
    init_lr: float = 1e-3
    lr_low: float = 1e-5
    lr_high: float = 1e-1


class HyperSVGAgent(nn.Module):
    """``model``: the synthetic optimizer; ``policy``: the constant learning-rate policy."""

    def __init__(self, config: AgentConfig) -> None:
        super().__init__()
        self.config = config
        self.model = SyntheticOptimizer(ModelConfig(config.state_dim, list(config.hidden), config.activation,
                                                    config.residual, config.sigma))
        self.policy = LRPolicy(init_lr=config.init_lr, lr_range=(config.lr_low, config.lr_high))

    def stored(self) -> HyperSVGAgent:
        """The storage precision: the surrogate in float32, the policy in float64 (in place; returns ``self``)."""
        self.model.float()
        self.policy.double()
        return self


@dataclass
class HyperSVGRecipe:
    """How the shipped agent is made: :func:`~.experiments.online_run` from ``start_lr`` for ``epochs`` meta-epochs
    on :func:`~.experiments.small_mnist`'s task of ``seed``."""

    name: str
    start_lr: float
    epochs: int = 100
    mode: str = "adaptive"
    hidden: int = 256
    seed: int = 0
    quick_epochs: int = 3


def train_recipe(recipe: HyperSVGRecipe, quick: bool, seed: int) -> tuple[nn.Module, dict, list[float]]:
    """``learnopt reproduce``'s trainer for a :class:`HyperSVGRecipe`; the history is the surrogate's imitation loss
    per meta-epoch (after its fit)."""
    from .experiments import online_run, small_mnist

    family = small_mnist()
    config = AgentConfig(family.model.num_parameters, [recipe.hidden], init_lr=recipe.start_lr)
    with torch.random.fork_rng(devices=[]):  # the same initial surrogate as experiments.online_runs for this seed
        torch.manual_seed(seed)
        agent = HyperSVGAgent(config).double()
    epochs = recipe.quick_epochs if quick else recipe.epochs
    history = online_run(family, recipe.start_lr, seed, epochs, mode=recipe.mode, model=agent.model,
                         policy=agent.policy)
    info = {"runs": epochs, "start_lr": recipe.start_lr, "final_lr": agent.policy.lr(),
            "lr": [float(f"{lr:.4g}") for lr in history.lr], "val_accuracy": [round(a, 4) for a in history.score],
            "task": "small_mnist (logreg, MNIST projected to 49)"}
    return agent.stored(), info, history.model_loss
