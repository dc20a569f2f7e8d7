"""Notebook lint: the lesson spine of COURSE_DESIGN.md, checked mechanically on every solution notebook.

Rules: a title cell naming objectives, prerequisites and expected time; the setup cell as the first code cell;
the spine's section headings in order; every exercise cell followed by its check cell (and every check cell preceded
by its exercise); exercise markers present in each exercise cell; at least one golden cell.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbformat import NotebookNode

from . import notebooks

TITLE_MUST_MENTION = ("Learning objectives", "Prerequisites", "Expected time")
SPINE = ("Setup", "Intuition", "Exercises", "Interactive exploration", "Experiment", "Summary", "References")
SETUP_PATTERN = re.compile(r"import learnopt_course as lo\b.*\n?.*\bcfg = lo\.setup\(", re.S)


def lint(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Return a list of problems (empty when the notebook follows the spine)."""
    problems: list[str] = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.lstrip().startswith("# "):
        problems.append(f"{name}: cell 1 must be a markdown title starting with '# '")
    else:
        for phrase in TITLE_MUST_MENTION:
            if phrase.lower() not in cells[0].source.lower():
                problems.append(f"{name}: the title cell must mention {phrase!r}")
    code = [(i, c) for i, c in enumerate(cells, start=1) if c.cell_type == "code"]
    if not code or not SETUP_PATTERN.search(code[0][1].source):
        where = f"cell {code[0][0]}" if code else "no code cell"
        problems.append(f"{name}: the first code cell ({where}) must be `import learnopt_course as lo` + `cfg = lo.setup(...)`")
    headings = [
        (i, line[3:].strip())
        for i, c in enumerate(cells, start=1)
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    position = 0
    for section in SPINE:
        found = [i for i, (_, text) in enumerate(headings) if text.lower().startswith(section.lower())]
        later = [i for i in found if i >= position]
        if not later:
            problems.append(f"{name}: missing '## {section}...' heading (after the previous spine section)")
        else:
            position = later[0]
    problems.extend(_exercise_problems(code, name))
    if not any(notebooks.GOLDEN_TAG in notebooks.tags(c) for _, c in code):
        problems.append(f"{name}: no golden cell (tag {notebooks.GOLDEN_TAG!r}) states the lesson's numbers")
    return problems


def _exercise_problems(code: list[tuple[int, NotebookNode]], name: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for k, (index, cell) in enumerate(code):
        exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
        check = notebooks.tagged_id(cell, notebooks.CHECK_TAG)
        if exercise:
            if exercise in seen:
                problems.append(f"{name}: cell {index}: exercise {exercise} appears twice")
            seen.add(exercise)
            if "### BEGIN SOLUTION" not in cell.source and "solution" not in notebooks.tags(cell):
                problems.append(f"{name}: cell {index}: exercise {exercise} has no '### BEGIN SOLUTION' region")
            following = code[k + 1][1] if k + 1 < len(code) else None
            if following is None or notebooks.tagged_id(following, notebooks.CHECK_TAG) != exercise:
                problems.append(f"{name}: cell {index}: exercise {exercise} is not followed by a 'check-{exercise}' cell")
        if check:
            previous = code[k - 1][1] if k > 0 else None
            if previous is None or notebooks.tagged_id(previous, notebooks.EXERCISE_TAG) != check:
                problems.append(f"{name}: cell {index}: check {check} does not follow its exercise cell")
            if "lo.checks." not in cell.source:
                problems.append(f"{name}: cell {index}: check {check} must call a checker from lo.checks")
    if not seen:
        problems.append(f"{name}: no exercise cells (tag 'exercise-N.M')")
    return problems


def grading_problems(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """What grading needs of a lesson: every exercise registered in ``lo.checks`` with hidden cases and a hint that
    reveals no code, points for every exercise and written question, a rubric for every written question, and
    markdown model answers only in cells tagged ``written-N.M`` (nbgrader and the grader collect those)."""
    from ..checks import registry
    from .student import MD_BEGIN

    exercises, problems = registry(), []
    meta = nb.metadata.get("learnopt", {})
    points, rubric = meta.get("points", {}), meta.get("rubric", {})
    for index, cell in enumerate(nb.cells, start=1):
        exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
        written = notebooks.tagged_id(cell, notebooks.WRITTEN_TAG)
        if exercise is not None:
            if exercise not in exercises or exercises[exercise].hidden is None:
                problems.append(f"{name}: cell {index}: exercise {exercise} has no registered checker with hidden cases")
            else:
                problems += [f"{name}: cell {index}: exercise {exercise}: {p}" for p in revealing(exercises[exercise])]
        for key in (exercise, written):
            if key is not None and key not in points:
                problems.append(f"{name}: cell {index}: {key} has no points in metadata.learnopt.points")
        if written is not None and not rubric.get(written):
            problems.append(f"{name}: cell {index}: written question {written} has no rubric in metadata.learnopt.rubric")
        if cell.cell_type == "markdown" and MD_BEGIN in cell.source and written is None:
            problems.append(f"{name}: cell {index}: a model answer outside a cell tagged 'written-N.M'")
    return problems


CODE_IN_HINT = re.compile(r"(?<![<>!=])=(?!=)|\([^()]*\b[A-Za-z_]\w*(?:\s+[-+*/@]\s*|\s*[+*/@]\s*)[A-Za-z_(][^()]*\)"
                          r"|\w+\[[^\]]*\]|\b\w+\.\w+\(")


def revealing(exercise) -> list[str]:  # noqa: ANN001
    """Hints of ``exercise`` that show code: an assignment, an arithmetic expression of names in brackets, an
    indexing expression, a method call, or a line of the reference's source."""
    import inspect

    try:
        source = inspect.getsource(exercise.reference)
    except (OSError, TypeError):
        source = ""
    lines = {line.strip() for line in source.splitlines() if len(line.strip()) >= 12}
    problems = []
    for hint in [exercise.hint, *exercise.mistakes]:
        if CODE_IN_HINT.search(hint) or any(line in hint for line in lines):
            problems.append(f"the hint {hint!r} shows code; name the mistake or point to the equation instead")
    return problems


def lint_paths(paths: list[Path]) -> list[str]:
    from .nbclean import _expand

    problems: list[str] = []
    for path in _expand(paths):
        nb = notebooks.read(path)
        problems.extend(lint(nb, path.name))
        if nb.metadata.get("learnopt", {}).get("lesson"):
            problems.extend(grading_problems(nb, path.name))
    return problems
