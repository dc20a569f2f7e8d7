"""Optimizee tasks: 2-D landscapes and the 1-D toy meta-loss (lesson 01); data-backed tasks come in later lessons."""

from .landscapes import (
    LANDSCAPES,
    Landscape,
    NoisyGradient,
    Quadratic,
    Rastrigin,
    Rosenbrock,
    Saddle,
    make_landscape,
)
from .toy import toy_grad, toy_loss, toy_outer_loss

__all__ = [
    "LANDSCAPES",
    "Landscape",
    "NoisyGradient",
    "Quadratic",
    "Rastrigin",
    "Rosenbrock",
    "Saddle",
    "make_landscape",
    "toy_grad",
    "toy_loss",
    "toy_outer_loss",
]
