"""Named task families for training and for generalisation tests (other widths, depths, activations, models).

``make_task("mnist-mlp-20-sigmoid")`` returns a ready task; ``FAMILIES`` says what each name means. Step counts
are not part of a task: an experiment chooses how many steps to run (longer than training to test horizons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .classification import mnist_task, omniglot_task
from .quadratic import QuadraticBatch

FAMILIES: dict[str, tuple[Callable[..., Any], dict[str, Any], str]] = {
    "quadratic-10d": (QuadraticBatch.sample, {"dim": 10}, "random 10-d quadratics (Andrychowicz et al. 2016)"),
    "mnist-logreg": (mnist_task, {"model": "logreg"}, "logistic regression 784-10"),
    "mnist-mlp-20-sigmoid": (mnist_task, {"hidden": (20,)}, "the L2L base optimizee, 784-20-10 sigmoid"),
    "mnist-mlp-40-sigmoid": (mnist_task, {"hidden": (40,)}, "wider: 40 hidden units"),
    "mnist-mlp-20x2-sigmoid": (mnist_task, {"hidden": (20, 20)}, "deeper: two hidden layers"),
    "mnist-mlp-20-relu": (mnist_task, {"hidden": (20,), "activation": "relu"}, "other activation: ReLU"),
    "mnist-mlp-32x32-sigmoid": (mnist_task, {"hidden": (32, 32)}, "Crouther (2023)'s 784-32-32-10"),
    "mnist-mlp-32x32-tanh": (mnist_task, {"hidden": (32, 32), "activation": "tanh"},
                             "Crouther (2023)'s 784-32-32-10 with tanh, as in its PPO runs"),
    "mnist-mlp-32x32-elu": (mnist_task, {"hidden": (32, 32), "activation": "elu", "init": "he_uniform"},
                            "Crouther (2023)'s 784-32-32-10 with ELU and He-uniform init, as in its SVG runs"),
    "mnist-cnn": (mnist_task, {"model": "cnn"}, "a small CNN (16-32 channels)"),
    "mnist48-mlp-48-relu": (mnist_task, {"hidden": (48,), "activation": "relu", "project": 48},
                            "Li & Malik (2017)'s 48-48-10 ReLU net on MNIST projected to 48 dimensions"),
    "omniglot-5way-1shot": (omniglot_task, {"n_way": 5, "k_shot": 1}, "few-shot Omniglot, background split"),
    "omniglot-5way-5shot": (omniglot_task, {"n_way": 5, "k_shot": 5}, "few-shot Omniglot, background split"),
}


def make_task(name: str, **overrides: Any) -> Any:
    """Build the task family ``name`` (see ``FAMILIES``), with keyword overrides (e.g. ``root=``, ``n_train=``)."""
    if name not in FAMILIES:
        raise KeyError(f"task family must be one of {sorted(FAMILIES)}; got {name!r}")
    factory, kwargs, _ = FAMILIES[name]
    return factory(**(kwargs | overrides))
