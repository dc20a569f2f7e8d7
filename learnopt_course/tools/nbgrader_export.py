"""Export the course as an nbgrader source: ``learnopt nbgrader-export solutions COURSE``.

Writes ``COURSE/source/lessonNN/NN_name.ipynb`` for every solution notebook and ``COURSE/nbgrader_config.py``, with
nbgrader's cell metadata (schema 3):

* exercise cells (``exercise-N.M``, solution region between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, which
  nbgrader uses too) are autograded answer cells;
* check cells (``check-N.M``) are locked autograder tests worth the exercise's points, with the hidden cases of
  :mod:`learnopt_course.checks` inside ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``;
* a written question (``written-N.M``) becomes a locked question cell and a manually graded answer cell holding the
  model answer, which ``nbgrader generate_assignment`` replaces by its answer prompt;
* ``instructor`` cells are left out, ``solution`` cells become answer cells; the rubrics of written questions go
  to ``COURSE/rubrics/lessonNN.md``, never into a notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import notebooks
from .student import MD_BEGIN, MD_END

CONFIG = '''"""nbgrader configuration written by `learnopt nbgrader-export` (edit freely)."""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ExecutePreprocessor.timeout = {timeout}
'''


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    grade_id = grade_id.replace(".", "_")  # nbgrader's ids are [a-zA-Z0-9_-]
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = points
    return meta


def _test_source(check: NotebookNode, exercise: str, name: str) -> str:
    return (check.source.rstrip() + "\n### BEGIN HIDDEN TESTS\n"
            "from learnopt_course.checks.grading import hidden_check\n"
            f"hidden_check({exercise!r}, {name})\n### END HIDDEN TESTS\n")


def convert(solution: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The nbgrader source version of a solution notebook."""
    from ..checks import registry

    exercises = registry()
    points = solution.metadata.get("learnopt", {}).get("points", {})
    out = nbformat.from_dict(solution)
    out.metadata["learnopt"] = {k: v for k, v in out.metadata.get("learnopt", {}).items() if k != "rubric"}
    cells = []
    for index, cell in enumerate(out.cells, start=1):
        tags = notebooks.tags(cell)
        if "instructor" in tags:
            continue
        cell.metadata.pop("nbgrader", None)
        exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
        check = notebooks.tagged_id(cell, notebooks.CHECK_TAG)
        written = notebooks.tagged_id(cell, notebooks.WRITTEN_TAG)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if exercise is not None or (cell.cell_type == "code" and "solution" in tags):
            if "### BEGIN SOLUTION" not in cell.source:
                cell.source = "### BEGIN SOLUTION\n" + cell.source + "\n### END SOLUTION"
            cell.metadata["nbgrader"] = _meta(f"exercise-{exercise or index}", solution=True)
        elif check is not None:
            if check not in exercises:
                raise ValueError(f"{name}, cell {index}: check {check} has no registered exercise")
            cell.source = _test_source(cell, check, exercises[check].name)
            cell.metadata["nbgrader"] = _meta(f"check-{check}", grade=True, locked=True,
                                              points=float(points.get(check, 1)))
        elif written is not None:
            match = re.search(re.escape(MD_BEGIN) + r"(.*?)" + re.escape(MD_END), cell.source, re.S)
            if match is None:
                raise ValueError(f"{name}, cell {index}: written question {written} has no model answer between "
                                 f"{MD_BEGIN} and {MD_END}")
            question = cell.source[: match.start()].rstrip()
            cell.source = question
            cell.metadata["nbgrader"] = _meta(f"question-{written}", locked=True)
            cells.append(cell)
            answer = nbformat.v4.new_markdown_cell(match.group(1).strip())
            answer.metadata["nbgrader"] = _meta(f"written-{written}", solution=True, grade=True,
                                                points=float(points.get(written, 1)))
            cells.append(answer)
            continue
        elif cell.cell_type == "markdown" and MD_BEGIN in cell.source:
            raise ValueError(f"{name}, cell {index}: a markdown answer region outside a cell tagged written-N.M")
        cells.append(cell)
    out.cells = cells
    return out


def export(solutions: str | Path, course: str | Path, timeout: int = 900) -> list[Path]:
    """Write the nbgrader source of every solution notebook under ``course/source/lessonNN/``; returns the paths."""
    from ..core import atomic_write_text
    from .grade import lesson_of

    src, root = Path(solutions), Path(course)
    if not src.is_dir():
        raise FileNotFoundError(f"solutions folder {str(src)!r} does not exist")
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nb = notebooks.read(path)
        target = root / "source" / f"lesson{lesson_of(nb, path)}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        notebooks.write(convert(nb, path.name), target)
        written.append(target)
        rubric = nb.metadata.get("learnopt", {}).get("rubric", {})
        if rubric:  # for the instructor's manual grading; never inside a notebook that is released
            text = "".join(f"## Question {key}\n\n{value}\n\n" for key, value in sorted(rubric.items()))
            atomic_write_text(root / "rubrics" / f"{target.parent.name}.md", f"# Rubric: {path.stem}\n\n{text}")
            written.append(root / "rubrics" / f"{target.parent.name}.md")
    atomic_write_text(root / "nbgrader_config.py", CONFIG.format(timeout=timeout))
    return written
