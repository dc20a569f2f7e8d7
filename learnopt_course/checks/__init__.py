"""Exercise checkers, one module per lesson: ``lo.checks.lesson01.heavy_ball_step(student_fn)``.

A checker runs the student's function against the library's reference on seeded public inputs, prints a one-line
verdict (with a hint that names the mistake or points to the equation, never the expected value) and raises
``AssertionError`` when it fails. An untouched stub's ``NotImplementedError`` passes through unchanged, and the
reference is never substituted for the student's code. ``learnopt grade`` also runs every exercise's hidden cases
and detects the library's own implementation (:func:`~learnopt_course.checks.core.grade_exercise`); ``registry()``
lists every exercise of every lesson.
"""

from importlib import import_module
from types import ModuleType

__all__ = ["lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06", "lesson07", "lesson08", "lesson09", "lesson10",
           "lesson11", "lesson12"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'learnopt_course.checks' has no attribute {name!r}")


def registry() -> dict:
    """Every exercise of every lesson, by id (``"1.1"`` -> :class:`~learnopt_course.checks.core.Exercise`)."""
    from .core import Exercise

    found = {}
    for name in __all__:
        module = import_module(f".{name}", __name__)
        for value in vars(module).values():
            if isinstance(value, Exercise):
                found[value.id] = value
    return found
