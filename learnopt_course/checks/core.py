"""The one checking mechanism every lesson's checkers use: compare a student function with a reference.

``check_function`` calls both on the same freshly built, seeded inputs, compares outputs (tensors, numbers or
tuples of them), optionally compares gradients with respect to chosen inputs (which catches ``.detach()``,
``.item()`` and in-place updates that cut the autograd graph), and on failure looks for a known mistake whose
output matches the student's, to print a precise hint.

Every exercise has **public cases** (what the check cell in the notebook runs) and **hidden cases** drawn from a
grading seed (other seeds and shapes) that only ``learnopt grade`` runs, so an answer fitted to the public cases
fails. Messages never show the expected value or reference code: a hint names the likely mistake or points to the
equation in the text. :func:`grade_exercise` is what the grader runs: it also detects a student function that calls
(or is) the library's own implementation, which scores zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

Case = Callable[[], dict[str, Any]]


class CheckFailed(AssertionError):
    """Raised by a checker when the student's function disagrees with the reference."""


@dataclass
class Exercise:
    """What a checker needs to know: its id, the function name the student writes, and the reference."""

    id: str
    name: str
    reference: Callable[..., Any]
    cases: Sequence[Case]
    grad_wrt: tuple[str, ...] = ()
    atol: float = 1e-8
    rtol: float = 1e-6
    mistakes: Mapping[str, Callable[..., Any]] = field(default_factory=dict)  # hint -> known-wrong function
    hint: str = "compare your formula with the equation in the text above"
    requires_graph: bool = False  # the result must carry autograd history (e.g. back to an optimizer's weights)
    hidden: Callable[[int], Sequence[Case]] | None = None  # grading seed -> instructor-only cases
    library: tuple[Callable[..., Any], ...] = ()  # the library's implementations: using one scores zero
    # what a call is judged by when its side effects matter (e.g. a module it must leave untouched):
    # observe(fn, case) -> the value compared; default: fn's return value
    observe: Callable[[Callable[..., Any], dict[str, Any]], Any] | None = None


def _flatten(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [torch.tensor(float(value), dtype=torch.float64)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flatten(v)]
    if isinstance(value, Mapping):
        return [t for k in sorted(value) for t in _flatten(value[k])]
    raise TypeError(f"expected a tensor, a number or a tuple of them; got {type(value).__name__}")


def _close(a: Any, b: Any, atol: float, rtol: float) -> bool:
    try:
        fa, fb = _flatten(a), _flatten(b)
    except TypeError:
        return False
    if len(fa) != len(fb):
        return False
    for x, y in zip(fa, fb):
        if x.shape != y.shape:
            return False
        if not torch.allclose(x.detach().double(), y.detach().double(), atol=atol, rtol=rtol, equal_nan=False):
            return False
    return True


def _leaf_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _leaf_copy(v) for k, v in value.items()}
    return value.detach().clone().requires_grad_(True)


def _gradients(fn: Callable[..., Any], case: dict[str, Any], wrt: tuple[str, ...]) -> list[Tensor]:
    """Gradients of the sum of ``fn``'s outputs with respect to the inputs named in ``wrt`` (tensors, or dicts of
    tensors); an output that does not depend on them has zero gradients, right only where the reference's are."""
    inputs = {k: (_leaf_copy(v) if k in wrt else v) for k, v in case.items()}
    leaves = [t for k in wrt for t in _flatten(inputs[k])]
    out = _flatten(fn(**inputs))
    total = sum(o.sum() for o in out if o.requires_grad)
    if not isinstance(total, Tensor):
        return [torch.zeros_like(t) for t in leaves]
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    return [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, leaves)]


def _say(exercise: Exercise, ok: bool, message: str) -> None:
    mark = "\u2705" if ok else "\u274c"
    print(f"{mark} Exercise {exercise.id} ({exercise.name}): {message}")


def check_function(exercise: Exercise, student: Callable[..., Any], hidden_seed: int | None = None) -> None:
    """Run ``student`` against ``exercise.reference`` on every public case (and, with ``hidden_seed``, on the hidden
    cases drawn from it); print a verdict; raise on failure."""
    if not callable(student):
        _say(exercise, False, f"expected your function `{exercise.name}`, got {type(student).__name__}")
        raise CheckFailed(f"Exercise {exercise.id}: pass the function itself, not {type(student).__name__}")
    _run_cases(exercise, student, list(exercise.cases), "case")
    extra = ""
    if hidden_seed is not None:
        if exercise.hidden is None:
            raise ValueError(f"exercise {exercise.id} has no hidden cases")
        hidden = list(exercise.hidden(hidden_seed))
        _run_cases(exercise, student, hidden, "hidden case")
        extra = f" and {len(hidden)} hidden cases"
    _say(exercise, True, f"correct on {len(exercise.cases)} cases{extra}"
         + (" (values and gradients)" if exercise.grad_wrt else ""))


def _call(exercise: Exercise, fn: Callable[..., Any], case: dict[str, Any]) -> Any:
    return exercise.observe(fn, case) if exercise.observe is not None else fn(**case)


def _run_cases(exercise: Exercise, student: Callable[..., Any], cases: list[Case], label: str) -> None:
    for number, make_case in enumerate(cases, start=1):
        try:
            got = _call(exercise, student, make_case())
        except NotImplementedError:
            _say(exercise, False, "not solved yet: the function still raises NotImplementedError. Write it in the "
                 "cell above and run this check again (Run All goes on: the lesson's experiments use the library)")
            raise
        except Exception as err:  # report any other crash as a failed check, with its cause
            _say(exercise, False, f"your function raised {type(err).__name__}: {err} ({label} {number})")
            raise CheckFailed(f"Exercise {exercise.id}: {type(err).__name__}: {err}") from err
        want = _call(exercise, exercise.reference, make_case())
        if not _close(got, want, exercise.atol, exercise.rtol):
            hint = exercise.hint
            for mistake_hint, wrong in exercise.mistakes.items():
                if _close(got, _call(exercise, wrong, make_case()), exercise.atol, exercise.rtol):
                    hint = mistake_hint
                    break
            _say(exercise, False, f"wrong value on {label} {number}. Hint: {hint}")
            raise CheckFailed(f"Exercise {exercise.id}: wrong value on {label} {number}. Hint: {hint}")
        if exercise.requires_graph and not any(t.requires_grad for t in _flatten(got)):
            _say(exercise, False, "the value is right but it carries no autograd history, so nothing can be learned "
                 "from it. Hint: no in-place updates, .detach() or .item() on the path to the result")
            raise CheckFailed(f"Exercise {exercise.id}: the result has no autograd graph ({label} {number})")
        if exercise.grad_wrt:
            theirs = _gradients(student, make_case(), exercise.grad_wrt)
            ours = _gradients(exercise.reference, make_case(), exercise.grad_wrt)
            if not _close(theirs, ours, exercise.atol, exercise.rtol):
                names = ", ".join(exercise.grad_wrt)
                for mistake_hint, wrong in exercise.mistakes.items():  # a known mistake with the right value
                    if _close(_call(exercise, wrong, make_case()), want, exercise.atol, exercise.rtol) and _close(
                            theirs, _gradients(wrong, make_case(), exercise.grad_wrt), exercise.atol, exercise.rtol):
                        _say(exercise, False, f"the values are right but the gradients with respect to {names} are "
                             f"not ({label} {number}). Hint: {mistake_hint}")
                        raise CheckFailed(f"Exercise {exercise.id}: wrong gradients ({label} {number})")
                _say(exercise, False, f"the values are right but gradients with respect to {names} do not flow "
                     "through your result. Hint: avoid .detach(), .item(), .data, numpy and in-place updates")
                raise CheckFailed(f"Exercise {exercise.id}: the autograd graph is cut ({label} {number})")


def checker(exercise: Exercise, doc: str) -> Callable[[Callable[..., Any]], None]:
    """The public checker for ``exercise``: ``lo.checks.lessonNN.<name>(student_fn)``, named after the function the
    student writes, with ``doc`` as its docstring."""

    def check(student_fn: Callable[..., Any]) -> None:
        check_function(exercise, student_fn)

    check.__name__ = check.__qualname__ = exercise.name
    check.__doc__ = f"Check Exercise {exercise.id} (``{exercise.name}``): {doc}"
    return check


# --- grading --------------------------------------------------------------------------------------------------


def uses_library(exercise: Exercise, student: Callable[..., Any]) -> str | None:
    """The name of a library implementation of this exercise that ``student`` is or calls (on the first public
    case, watched with a profiler, so aliases and wrappers are caught), else ``None``."""
    import inspect
    import sys

    targets = {}
    for fn in exercise.library:
        fn = inspect.unwrap(fn)
        targets[getattr(fn, "__code__", None)] = f"{fn.__module__}.{fn.__qualname__}"
    targets.pop(None, None)
    if inspect.unwrap(student) in {inspect.unwrap(fn) for fn in exercise.library}:
        return targets.get(getattr(inspect.unwrap(student), "__code__", None), exercise.name)
    hit: list[str] = []

    def watch(frame, event, arg):  # noqa: ANN001
        if event == "call" and frame.f_code in targets:
            hit.append(targets[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        student(**exercise.cases[0]())
    except Exception:  # noqa: BLE001  (a crash is the checker's business, not this one's)
        pass
    finally:
        sys.setprofile(previous)
    return hit[0] if hit else None


def grade_exercise(exercise: Exercise, student: Any, seed: int) -> dict[str, str]:
    """What ``learnopt grade`` runs after each check cell: ``{"status", "message"}`` with status ``passed``,
    ``failed``, ``failed hidden``, ``uses library`` or ``not attempted``."""
    if not callable(student):
        return {"status": "failed", "message": f"`{exercise.name}` is not a function"}
    used = uses_library(exercise, student)
    if used is not None:
        return {"status": "uses library", "message": f"calls the library's own implementation ({used}); write it "
                "yourself"}
    try:
        _run_cases(exercise, student, list(exercise.cases), "case")
    except NotImplementedError:
        return {"status": "not attempted", "message": ""}
    except CheckFailed as err:
        return {"status": "failed", "message": str(err)}
    try:
        _run_cases(exercise, student, list(exercise.hidden(seed)), "hidden case")
    except NotImplementedError:
        return {"status": "not attempted", "message": ""}
    except CheckFailed as err:
        return {"status": "failed hidden", "message": f"passes the public cases but not the hidden ones (other "
                f"seeds and shapes): does it special-case the inputs? ({err})"}
    return {"status": "passed", "message": ""}
