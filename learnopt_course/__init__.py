"""learnopt_course: the tested library behind the learned-optimization course.

``import learnopt_course as lo; cfg = lo.setup(seed=0)`` starts every lesson.
"""

from . import optimizers, scales, tasks
from ._version import __version__
from .config import Config, setup

__all__ = ["Config", "__version__", "optimizers", "scales", "setup", "tasks"]


def __getattr__(name: str):  # lazy: plotting, widgets and checks import matplotlib / ipywidgets
    import importlib

    if name in {"plotting", "widgets", "progress", "checks", "theory", "data", "meta", "hpo", "rl", "l2l", "estimators",
                "reproduce", "core"}:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'learnopt_course' has no attribute {name!r}")
