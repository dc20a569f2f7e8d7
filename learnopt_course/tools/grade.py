"""Grade a student notebook: execute it in a fresh kernel and report pass or fail for each exercise id.

A check cell (tag ``check-N.M``) passes when it runs without error. ``NotImplementedError`` means the exercise was
not attempted; any other error is a failure, reported with its message. Grading runs the student's code: run it in
a sandbox (a container or a throwaway account) for work you do not trust.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from nbformat import NotebookNode

from . import notebooks


@dataclass
class ExerciseResult:
    exercise: str
    status: str  # "passed", "failed", "not attempted"
    message: str = ""


def results_from_executed(nb: NotebookNode) -> list[ExerciseResult]:
    """Read per-exercise results off an executed notebook."""
    results = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exercise = notebooks.tagged_id(cell, notebooks.CHECK_TAG)
        if exercise is None:
            continue
        errs = notebooks.errors(cell)
        if cell.get("execution_count") is None and not cell.get("outputs"):
            results.append(ExerciseResult(exercise, "failed", "the check cell did not run"))
        elif not errs:
            results.append(ExerciseResult(exercise, "passed"))
        elif errs[0].ename == "NotImplementedError":
            results.append(ExerciseResult(exercise, "not attempted", errs[0].evalue))
        else:
            results.append(ExerciseResult(exercise, "failed", f"{errs[0].ename}: {errs[0].evalue}".strip()))
    return results


def grade(path: str | Path, timeout: int = 600) -> list[ExerciseResult]:
    """Execute the notebook at ``path`` (errors allowed, so every check runs) and grade each exercise."""
    path = Path(path)
    nb = notebooks.read(path)
    if not any(notebooks.tagged_id(c, notebooks.CHECK_TAG) for c in nb.cells):
        raise ValueError(f"{path}: no check cells (tag 'check-N.M') to grade")
    executed = notebooks.execute(nb, cwd=path.parent.resolve(), timeout=timeout)
    return results_from_executed(executed)


def report(path: str | Path, results: list[ExerciseResult], as_json: bool = False) -> str:
    passed = sum(r.status == "passed" for r in results)
    if as_json:
        return json.dumps(
            {"notebook": str(path), "passed": passed, "total": len(results), "exercises": [asdict(r) for r in results]},
            indent=2,
        )
    lines = [f"{path}: {passed}/{len(results)} exercises passed"]
    for r in results:
        mark = {"passed": "PASS", "failed": "FAIL", "not attempted": "TODO"}[r.status]
        lines.append(f"  {mark}  Exercise {r.exercise}" + (f"  ({r.message})" if r.message and r.status == "failed" else ""))
    return "\n".join(lines)
