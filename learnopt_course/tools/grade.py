"""Grade student notebooks against the course release, not against what the submission contains.

For each submission the grader takes the lesson's **release** notebook (the student version of the solution, from
``--release``: a folder of solution or student notebooks; by default the repository's ``solutions/``), puts the
student's exercise cells into it, runs the release's own check cells, and after each one a grader cell that runs
the exercise's public *and hidden* cases (:mod:`learnopt_course.checks.grading`). So a deleted, edited or added check
cell changes nothing but the tampering report; an answer fitted to the public cases fails the hidden ones; a function
that is or calls the library's own implementation scores zero. Written answers (cells tagged ``written-N.M``) are
collected for hand grading beside the rubric. Points come from the release's ``metadata.learnopt.points``.

Grading runs the student's code: run it in a sandbox (a container or a throwaway account). The grader also flags
exercise cells that reach into the grader or the checkers (``suspicious``) for a human to look at, since no
in-process grader can stop code that is written to subvert it.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import notebooks

PASSED = "passed"
STATUSES = ("passed", "failed", "failed hidden", "uses library", "not attempted", "timed out")
SUSPICIOUS = re.compile(r"learnopt_course\.checks|lo\.checks|grade_exercise|LEARNOPT-GRADE|setprofile|settrace|"
                        r"get_ipython|__code__|importlib|sys\.modules|checks\.core")


@dataclass
class ExerciseResult:
    exercise: str
    status: str  # one of STATUSES
    message: str = ""
    points: float = 0.0
    max_points: float = 1.0


@dataclass
class WrittenAnswer:
    question: str
    answer: str
    max_points: float
    rubric: str = ""


@dataclass
class Grade:
    notebook: str
    student: str
    results: list[ExerciseResult]
    written: list[WrittenAnswer] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.results) + sum(w.max_points for w in self.written)


# --- the release ------------------------------------------------------------------------------------------------


def default_release() -> Path:
    """The repository's ``solutions/`` folder beside the package (an editable or source install)."""
    return Path(__file__).resolve().parents[2] / "solutions"


def lesson_of(nb: NotebookNode, path: Path) -> str:
    lesson = nb.metadata.get("learnopt", {}).get("lesson")
    if lesson:
        return str(lesson)
    match = re.match(r"(\d+)_", path.name)
    if not match:
        raise ValueError(f"{path}: cannot tell which lesson this is (no metadata.learnopt.lesson, and the file name "
                         "does not start with the lesson number, e.g. 01_sgd_and_momentum.ipynb)")
    return match.group(1)


def find_release(lesson: str, release: Path) -> tuple[NotebookNode, NotebookNode | None]:
    """``(student version, solution or None)`` of ``lesson`` in the release folder."""
    from .student import make_student

    if not release.is_dir():
        raise FileNotFoundError(f"release folder {str(release)!r} does not exist; pass --release DIR (the course's "
                                "solutions/ or the released student notebooks)")
    for path in sorted(release.glob("*.ipynb")):
        nb = notebooks.read(path)
        if lesson_of(nb, path) == lesson:
            if nb.metadata.get("learnopt", {}).get("student"):
                return nb, None
            return make_student(nb, path.name), nb
    raise FileNotFoundError(f"no notebook of lesson {lesson} in the release folder {release}")


def _by_tag(nb: NotebookNode, pattern: re.Pattern[str]) -> dict[str, list[NotebookNode]]:
    found: dict[str, list[NotebookNode]] = {}
    for cell in nb.cells:
        key = notebooks.tagged_id(cell, pattern)
        if key is not None:
            found.setdefault(key, []).append(cell)
    return found


def tampering(release: NotebookNode, submission: NotebookNode) -> list[str]:
    """What the submission changed in the release's check and exercise cells."""
    problems = []
    ours, theirs = _by_tag(release, notebooks.CHECK_TAG), _by_tag(submission, notebooks.CHECK_TAG)
    for key, cells in ours.items():
        if key not in theirs:
            problems.append(f"check {key}: the check cell was deleted")
        elif [c.source.strip() for c in theirs[key]] != [c.source.strip() for c in cells]:
            problems.append(f"check {key}: the check cell was edited")
    problems += [f"check {key}: a check cell was added" for key in theirs if key not in ours]
    exercises = _by_tag(submission, notebooks.EXERCISE_TAG)
    problems += [f"exercise {key}: the exercise cell is missing" for key in _by_tag(release, notebooks.EXERCISE_TAG)
                 if key not in exercises]
    return problems


# --- building and running the graded notebook --------------------------------------------------------------------


def _grader_cell(exercise: str, seed: int, nonce: str) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(
        "from learnopt_course.checks import grading as _learnopt_grading\n"
        f"_learnopt_grading.report({exercise!r}, globals(), seed={seed}, nonce={nonce!r})")
    cell.metadata["tags"] = ["learnopt-grader"]
    return cell


def build(release: NotebookNode, submission: NotebookNode, seed: int, nonce: str,
          checks_only: bool = False) -> NotebookNode:
    """The release notebook with the student's exercise cells, a grader cell after every check cell; with
    ``checks_only``, only the setup cell, the exercise, check and grader cells."""
    theirs = _by_tag(submission, notebooks.EXERCISE_TAG)
    graded = nbformat.from_dict(release)
    cells, first_code = [], True
    for cell in graded.cells:
        exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
        check = notebooks.tagged_id(cell, notebooks.CHECK_TAG)
        if cell.cell_type != "code":
            if not checks_only:
                cells.append(cell)
            continue
        if exercise is not None:
            cell.source = "\n\n".join(c.source for c in theirs.get(exercise, [])) or cell.source
        keep = not checks_only or first_code or exercise is not None or check is not None
        first_code = False
        if keep:
            cells.append(cell)
        if check is not None:
            cells.append(_grader_cell(check, seed, nonce))
    graded.cells = cells
    return graded


def _marker(cell: NotebookNode, nonce: str) -> dict | None:
    from ..checks.grading import MARKER

    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    lines = [line for line in text.splitlines() if line.startswith(f"{MARKER}-{nonce} ")]
    return json.loads(lines[-1].split(" ", 1)[1]) if lines else None


def grade(path: str | Path, release: str | Path | None = None, *, seed: int | None = None, time_limit: float = 900,
          timeout: int = 600, checks_only: bool = False) -> Grade:
    """Grade one submission (see the module docstring). ``time_limit`` bounds the whole notebook, ``timeout`` each
    cell; ``seed`` fixes the hidden cases (default: drawn afresh, so nobody can prepare for them)."""
    path = Path(path)
    submission = notebooks.read(path)
    if not any(notebooks.tagged_id(c, notebooks.EXERCISE_TAG) for c in submission.cells):
        raise ValueError(f"{path}: no exercise cells (tag 'exercise-N.M') to grade")
    release_nb, solution = find_release(lesson_of(submission, path), Path(release) if release else default_release())
    seed = secrets.randbelow(2**31) if seed is None else seed
    nonce = secrets.token_hex(8)
    graded = build(release_nb, submission, seed, nonce, checks_only)
    executed = notebooks.execute(graded, cwd=path.parent.resolve(), timeout=timeout, deadline_s=time_limit)
    stopped = executed.metadata.get("learnopt", {}).get("timed_out")
    points = release_nb.metadata.get("learnopt", {}).get("points", {})
    results = []
    for index, cell in enumerate(executed.cells):
        if "learnopt-grader" not in notebooks.tags(cell):
            continue
        exercise = re.search(r"report\('([^']+)'", cell.source).group(1)
        found = _marker(cell, nonce)
        if found is None:
            status = "timed out" if stopped is not None and index >= stopped else "failed"
            message = (f"the notebook did not finish within its time limit of {time_limit:g} s"
                       if status == "timed out" else "the grader could not run (an error before it)")
            found = {"status": status, "message": message}
        full = float(points.get(exercise, 1))
        results.append(ExerciseResult(exercise, found["status"], found.get("message", ""),
                                      full if found["status"] == PASSED else 0.0, full))
    rubric = (solution.metadata.get("learnopt", {}).get("rubric", {}) if solution is not None else {})
    answers = _by_tag(submission, notebooks.WRITTEN_TAG)
    written = [WrittenAnswer(key, "\n\n".join(c.source for c in answers.get(key, [])),
                             float(points.get(key, 1)), rubric.get(key, ""))
               for key in _by_tag(release_nb, notebooks.WRITTEN_TAG)]
    suspicious = [f"exercise {key}: {m.group(0)}" for key, cells in _by_tag(submission, notebooks.EXERCISE_TAG).items()
                  for c in cells for m in [SUSPICIOUS.search(c.source)] if m]
    student = path.parent.name if path.parent.name not in ("", ".") else path.stem
    return Grade(str(path), student, results, written, tampering(release_nb, submission), suspicious,
                 stopped is not None)


# --- reports ------------------------------------------------------------------------------------------------------

HINTS = {"failed hidden": "it passes the public cases but not hidden ones with other seeds and shapes",
         "uses library": "it uses the course library's own implementation, which scores zero",
         "not attempted": "the stub was not replaced", "timed out": "the notebook ran out of time"}


def report(grade: Grade, as_json: bool = False) -> str:
    """One submission's report (text or JSON)."""
    if as_json:
        return json.dumps({**asdict(grade), "points": grade.points, "max_points": grade.max_points,
                           "passed": sum(r.status == PASSED for r in grade.results), "total": len(grade.results)},
                          indent=2)
    passed = sum(r.status == PASSED for r in grade.results)
    lines = [f"{grade.notebook}: {passed}/{len(grade.results)} exercises passed, {grade.points:g} of "
             f"{sum(r.max_points for r in grade.results):g} points"
             + (f" (+ {len(grade.written)} written answers to grade by hand)" if grade.written else "")]
    for r in grade.results:
        mark = {"passed": "PASS", "not attempted": "TODO"}.get(r.status, "FAIL")
        lines.append(f"  {mark}  Exercise {r.exercise}: {r.status}" + (f" ({r.message})" if r.message else ""))
    lines += [f"  TAMPERING  {t}" for t in grade.tampering] + [f"  REVIEW  suspicious code in {s}"
                                                                for s in grade.suspicious]
    return "\n".join(lines)


def feedback(grade: Grade) -> str:
    """The text returned to the student: each verdict with what it means and the checker's hint."""
    lines = [f"# Feedback: {Path(grade.notebook).name}", "",
             f"Autograded: {grade.points:g} of {sum(r.max_points for r in grade.results):g} points."]
    for r in grade.results:
        detail = r.message or HINTS.get(r.status, "")
        lines.append(f"- Exercise {r.exercise} ({r.points:g}/{r.max_points:g}): {r.status}"
                     + (f" — {detail}" if detail else ""))
    for w in grade.written:
        lines.append(f"- Question {w.question} ({w.max_points:g} points): graded by hand.")
    if grade.tampering:
        lines += ["", "Your check cells were restored from the release before grading: "
                  + "; ".join(grade.tampering) + "."]
    return "\n".join(lines) + "\n"


def write_gradebook(grades: list[Grade], path: str | Path) -> None:
    """One row per student: a column per exercise and per written question (blank, for hand grading), the
    autograded total, the maximum, and the tampering and review notes."""
    from ..core import atomic_path

    exercises = sorted({r.exercise for g in grades for r in g.results}, key=_order)
    questions = sorted({w.question for g in grades for w in g.written}, key=_order)
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student", "notebook", *exercises, *(f"written {q}" for q in questions), "autograded",
                      "max", "tampering", "review"])
        for g in grades:
            by_id = {r.exercise: r.points for r in g.results}
            out.writerow([g.student, g.notebook, *(f"{by_id.get(e, 0):g}" for e in exercises), *("" for _ in questions),
                          f"{g.points:g}", f"{g.max_points:g}", "; ".join(g.tampering), "; ".join(g.suspicious)])


def write_written(grades: list[Grade], path: str | Path) -> None:
    """Every written answer for hand grading: student, question, answer, points available, rubric, a blank score."""
    from ..core import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["student", "question", "answer", "max_points", "rubric", "points"])
        for g in grades:
            for w in g.written:
                out.writerow([g.student, w.question, w.answer, f"{w.max_points:g}", w.rubric, ""])


def _order(key: str) -> tuple[int, ...]:
    return tuple(int(x) for x in key.split("."))


def results_from_executed(nb: NotebookNode) -> list[ExerciseResult]:
    """Self-check results read off a student's own executed notebook (its check cells' errors): what a student
    sees, not a grade (``grade`` runs the release's checks and the hidden cases)."""
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
