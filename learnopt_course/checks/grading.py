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
