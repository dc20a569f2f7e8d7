"""What ``learnopt grade`` runs inside the graded notebook after each of the release's check cells.

``report(exercise_id, namespace, seed, nonce)`` grades the function the student's exercise cell defined (public and
hidden cases, the library's own implementation detected) and prints one marker line ``LEARNOPT-GRADE-<nonce> {json}``
that the grader reads back. Only the last marker of the grader's own cell counts.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "LEARNOPT-GRADE"


def report(exercise_id: str, namespace: dict[str, Any], seed: int, nonce: str) -> None:
    from . import registry
    from .core import grade_exercise

    exercise = registry()[exercise_id]
    student = namespace.get(exercise.name)
    if student is None:
        result = {"status": "failed", "message": f"the exercise cell did not define `{exercise.name}`"}
    else:
        try:
            result = grade_exercise(exercise, student, seed)
        except Exception as err:  # noqa: BLE001  (any crash of the student's code is a failed exercise)
            result = {"status": "failed", "message": f"{type(err).__name__}: {err}"}
    print(f"{MARKER}-{nonce} " + json.dumps({"id": exercise_id, **result}))


def hidden_check(exercise_id: str, student: Any, seed: int | None = None) -> None:
    """The hidden tests of an nbgrader autograder cell: raise ``AssertionError`` unless ``student`` passes the public
    and hidden cases of ``exercise_id`` (hidden cases from ``seed``, default a fresh one) without using the library's
    own implementation."""
    import secrets

    from . import registry
    from .core import grade_exercise

    result = grade_exercise(registry()[exercise_id], student, secrets.randbelow(2**31) if seed is None else seed)
    if result["status"] != "passed":
        raise AssertionError(f"Exercise {exercise_id}: {result['status']}. {result['message']}".strip())
