"""Optimizers, hand-designed and learned, behind one functional interface (:mod:`.base`).

* :mod:`.functional`: SGD, heavy ball, Nesterov, RMSprop and Adam as pure, differentiable steps (lessons 01-02);
* :mod:`.learned`: the coordinatewise LSTM optimizer and the functional optimizer it defines (lesson 05);
* :mod:`.cg` and :mod:`.lbfgs`: nonlinear conjugate gradient and L-BFGS with a fixed step (lesson 06's baselines);
* :mod:`.torch_adapter`: any of them as a ``torch.optim.Optimizer``.

``minimize`` (a run of an optimizer on a loss, recording its trajectory) is the unroll engine's
(:func:`learnopt_course.meta.engine.minimize`), re-exported here for the first lessons.
"""

from .base import Optimizer, Params, State, detach_state
from .functional import (
    OPTIMIZERS,
    FunctionalOptimizer,
    adagrad,
    adam,
    get,
    heavy_ball,
    nesterov,
    nesterov_position_step,
    polyak_step,
    rmsprop,
    sgd,
)
from .cg import ConjugateGradient, cg
from .lbfgs import LBFGS, lbfgs
from .learned import CoordinateLSTM, LSTMConfig, LSTMOptimizer
from .torch_adapter import LearnedOptimizer, TorchOptimizer

__all__ = [
    "ConjugateGradient", "LBFGS", "OPTIMIZERS", "CoordinateLSTM", "cg", "lbfgs", "FunctionalOptimizer", "LSTMConfig", "LSTMOptimizer", "LearnedOptimizer",
    "Optimizer", "Params", "State", "TorchOptimizer", "Trajectory", "adagrad", "adam", "detach_state", "get", "heavy_ball",
    "minimize", "nesterov", "nesterov_position_step", "polyak_step", "rmsprop", "sgd",
]


def __getattr__(name: str):  # the engine imports this package: import it lazily
    if name in ("minimize", "Trajectory"):
        from ..meta import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
