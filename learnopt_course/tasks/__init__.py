"""Optimizee tasks: 2-D landscapes, the 1-D toy meta-loss, random quadratics, MNIST and few-shot Omniglot tasks."""

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
from .classification import ClassificationTask, FewShotTask, mnist_task, omniglot_classification, omniglot_task
from .families import FAMILIES, make_task
from .models import FunctionalModel, cnn, mlp
from .quadratic import QuadraticBatch
from .toy import toy_grad, toy_loss, toy_outer_loss

__all__ = [
    "FAMILIES",
    "ClassificationTask",
    "FewShotTask",
    "FunctionalModel",
    "QuadraticBatch",
    "cnn",
    "make_task",
    "mlp",
    "mnist_task",
    "omniglot_classification",
    "omniglot_task",
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
