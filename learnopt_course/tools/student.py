"""Generate student notebooks from solution notebooks (nbgrader-compatible markers).

* In code cells, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become one line
  ``raise NotImplementedError("Exercise N.M: ...")`` indented like the ``BEGIN`` marker.
* In markdown cells, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` becomes an answer prompt.
* Cells tagged ``instructor`` are removed; cells tagged ``solution`` are replaced whole by a stub; the notebook's
  grading rubric (``metadata.learnopt.rubric``) is removed, its points are kept.
* Every output and execution count is removed.
* Check cells get the ``raises-exception`` tag, so that Run All in JupyterLab goes on past an exercise that is not
  solved yet: the failed check shows its verdict and traceback, and the lesson's experiments (which use the library,
  never the student's function) still run.

Unbalanced or nested markers are refused with the notebook's name and the cell's number.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..core import atomic_write_text
from . import notebooks

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
RAISES = "raises-exception"  # JupyterLab's Run All, nbclient and nbval go on past a cell with this tag
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
MD_PROMPT = "_Write your answer here._"


class MarkerError(ValueError):
    """A solution notebook whose exercise markers cannot be converted."""


def _stub(exercise: str | None) -> str:
    label = f"Exercise {exercise}" if exercise else "Exercise"
    return f'raise NotImplementedError("{label}: replace this line with your code")'


def _replace_regions(source: str, begin: str, end: str, replacement: str, where: str, indent_stub: bool) -> str:
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside_since is not None:
                raise MarkerError(f"{where}: nested {begin!r} at line {number} (the open one is at line {inside_since})")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())] if indent_stub else ""
            out.append(indent + replacement)
        elif stripped == end:
            if inside_since is None:
                raise MarkerError(f"{where}: {end!r} at line {number} has no matching {begin!r}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{where}: {begin!r} at line {inside_since} is never closed by {end!r}")
    return "\n".join(out)


def make_student(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return the student version of solution notebook ``nb`` (``name`` is used in error messages)."""
    student = nbformat.from_dict(nb)
    cells = []
    for index, cell in enumerate(student.cells, start=1):
        where = f"{name}, cell {index}"
        cell_tags = notebooks.tags(cell)
        exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
        if "instructor" in cell_tags:
            continue
        if cell.cell_type == "code":
            if notebooks.tagged_id(cell, notebooks.CHECK_TAG) is not None and RAISES not in cell_tags:
                cell.metadata["tags"] = [*cell_tags, RAISES]
            if "solution" in cell_tags:
                cell.source = _stub(exercise)
            else:
                cell.source = _replace_regions(cell.source, CODE_BEGIN, CODE_END, _stub(exercise), where, True)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            if "solution" in cell_tags:
                cell.source = MD_PROMPT
            else:
                cell.source = _replace_regions(cell.source, MD_BEGIN, MD_END, MD_PROMPT, where, False)
        cell.metadata.pop("execution", None)
        cells.append(cell)
    student.cells = cells
    student.metadata.pop("widgets", None)
    student.metadata.setdefault("learnopt", {})
    meta = {k: v for k, v in student.metadata["learnopt"].items() if k != "rubric"}  # the rubric is the instructor's
    student.metadata["learnopt"] = dict(meta, student=True)
    return student


@dataclass
class SyncReport:
    written: list[Path]
    drifted: dict[Path, str]  # path -> unified diff (check mode)
    orphans: list[Path]  # student notebooks with no solution

    @property
    def ok(self) -> bool:
        return not self.drifted and not self.orphans


def sync(solutions: str | Path, students: str | Path, check: bool = False) -> SyncReport:
    """Regenerate ``students/*.ipynb`` from ``solutions/*.ipynb``; with ``check`` only compare and report diffs."""
    src, dst = Path(solutions), Path(students)
    if not src.is_dir():
        raise FileNotFoundError(f"solutions folder {str(src)!r} does not exist")
    if not check:
        dst.mkdir(parents=True, exist_ok=True)
    report = SyncReport([], {}, [])
    sources = sorted(src.glob("*.ipynb"))
    for path in sources:
        target = dst / path.name
        text = notebooks.dumps(make_student(notebooks.read(path), path.name))
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current == text:
            continue
        if check:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), str(target), f"generated from {path}", lineterm="", n=2
            )
            report.drifted[target] = "\n".join(diff)
        else:
            atomic_write_text(target, text)
            report.written.append(target)
    names = {p.name for p in sources}
    if dst.is_dir():
        report.orphans = [p for p in sorted(dst.glob("*.ipynb")) if p.name not in names]
    return report
