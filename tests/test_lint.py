"""Notebook lint: the repository's solution notebooks follow the spine; broken notebooks are flagged."""

from pathlib import Path

import pytest

from learnopt_course.tools import cli
from learnopt_course.tools.lint import lint

from nbfactory import code, markdown, spine_notebook

ROOT = Path(__file__).resolve().parents[1]


def test_repository_solutions_follow_the_spine(capsys):
    assert cli.main(["lint", str(ROOT / "solutions")]) == 0, capsys.readouterr().out


def test_spine_notebook_is_clean():
    assert lint(spine_notebook(), "demo") == []


def _broken(kind):
    nb = spine_notebook()
    if kind == "setup":
        nb.cells[2].source = "import torch"
    elif kind == "check-missing":
        del nb.cells[5]
    elif kind == "check-not-lo":
        nb.cells[5].source = "assert double(2) == 4"
    elif kind == "heading":
        nb.cells[6].source = "## Experiment"
    elif kind == "title":
        nb.cells[0].source = "# Lesson 99"
    elif kind == "golden":
        nb.cells[7].metadata["tags"] = []
    elif kind == "markers":
        nb.cells[4].source = "def double(x):\n    return 2 * x"
    elif kind == "orphan-check":
        nb.cells.insert(3, code("lo.checks.core", "check-99.2"))
    return nb


@pytest.mark.parametrize(
    "kind, message",
    [
        ("setup", "first code cell"),
        ("check-missing", "exercise 99.1 is not followed by a 'check-99.1' cell"),
        ("check-not-lo", "must call a checker from lo.checks"),
        ("heading", "missing '## Interactive exploration...' heading"),
        ("title", "must mention 'Learning objectives'"),
        ("golden", "no golden cell"),
        ("markers", "has no '### BEGIN SOLUTION' region"),
        ("orphan-check", "check 99.2 does not follow its exercise cell"),
    ],
)
def test_broken_notebooks_are_flagged(kind, message):
    problems = lint(_broken(kind), "demo")
    assert any(message in p for p in problems), problems


def test_no_exercises_is_flagged():
    nb = spine_notebook()
    del nb.cells[4:6]
    assert any("no exercise cells" in p for p in lint(nb, "demo"))
    assert lint(nb.__class__(cells=[markdown("text")], metadata={}, nbformat=4, nbformat_minor=5), "x")
