"""Notebook-level tests: the student notebooks smoke-run, grading works end to end, the time budget bites.

The solution notebooks themselves run under nbval in the same pytest run (see pyproject's addopts/testpaths).
"""

import json
from pathlib import Path

import pytest

from learnopt_course.tools import cli, notebooks
from learnopt_course.tools.budget import notebook_budget
from learnopt_course.tools.grade import results_from_executed

from nbfactory import code, markdown, notebook, spine_notebook

ROOT = Path(__file__).resolve().parents[1]
STUDENT_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module", params=STUDENT_NOTEBOOKS, ids=lambda p: p.name)
def executed_student(request):
    path = request.param
    return path, notebooks.execute(notebooks.read(path), cwd=path.parent, timeout=300)


def test_student_notebook_smoke_run_only_not_implemented(executed_student):
    path, nb = executed_student
    bad = [
        (i, e.ename, e.evalue)
        for i, cell in enumerate(nb.cells, start=1)
        if cell.cell_type == "code"
        for e in notebooks.errors(cell)
        if e.ename != "NotImplementedError"
    ]
    assert not bad, f"{path.name}: errors other than NotImplementedError: {bad}"
    raised = sum(bool(notebooks.errors(c)) for c in nb.cells if c.cell_type == "code")
    assert raised >= 3, "each untouched exercise should stop at its stub"


def test_untouched_student_notebook_grades_as_not_attempted(executed_student):
    path, nb = executed_student
    results = results_from_executed(nb)
    assert len(results) >= 3
    assert all(r.status == "not attempted" for r in results), results
    assert all(r.message.startswith(f"Exercise {r.exercise}:") for r in results)


def test_grade_command_reports_each_exercise(tmp_path, capsys):
    nb = spine_notebook()
    nb.cells[4:6] = [
        code("def double(x):\n    return 2 * x", "exercise-9.1"),
        code("assert double(2) == 4  # lo.checks", "check-9.1"),
        code("def triple(x):\n    return 4 * x", "exercise-9.2"),
        code("assert triple(1) == 3, 'triple(1) should be 3'  # lo.checks", "check-9.2"),
        code("def halve(x):\n    raise NotImplementedError('Exercise 9.3: replace this line')", "exercise-9.3"),
        code("halve(2)  # lo.checks", "check-9.3"),
    ]
    path = tmp_path / "submission.ipynb"
    notebooks.write(nb, path)
    assert cli.main(["grade", str(path), "--json", "--timeout", "120"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] == 1 and report["total"] == 3
    status = {e["exercise"]: (e["status"], e["message"]) for e in report["exercises"]}
    assert status["9.1"] == ("passed", "")
    assert status["9.2"][0] == "failed" and "triple(1) should be 3" in status["9.2"][1]
    assert status["9.3"][0] == "not attempted"
    assert cli.main(["grade", str(tmp_path / "nope.ipynb")]) == 2
    notebooks.write(notebook(markdown("# nothing to grade")), tmp_path / "empty.ipynb")
    assert cli.main(["grade", str(tmp_path / "empty.ipynb")]) == 2
    assert "no check cells" in capsys.readouterr().err


def test_budget_metadata(tmp_path):
    nb = notebook(code("x = 1"))
    nb.metadata["learnopt"] = {"budget_s": 12}
    notebooks.write(nb, tmp_path / "a.ipynb")
    assert notebook_budget(tmp_path / "a.ipynb") == 12.0
    assert notebook_budget(tmp_path / "missing.ipynb") == 90.0
    assert all(notebook_budget(p) <= 90 for p in (ROOT / "solutions").glob("*.ipynb"))


def test_budget_plugin_fails_a_slow_notebook(pytester, monkeypatch):
    monkeypatch.setenv("LEARNOPT_SCALE", "ci")
    nb = notebook(code("import time\ntime.sleep(0.3)"), code("print('done')"))
    nb.metadata["learnopt"] = {"budget_s": 0.2}
    notebooks.write(nb, pytester.path / "slow.ipynb")
    result = pytester.runpytest_subprocess(
        "-p", "learnopt_course.tools.budget", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "slow.ipynb"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*slow.ipynb took * s, over its budget of 0 s*", "*notebook times*"])
