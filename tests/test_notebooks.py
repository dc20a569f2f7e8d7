"""Notebook-level tests: the student notebooks smoke-run, grading works end to end, the time budget bites.

The solution notebooks themselves run under nbval in the same pytest run (see pyproject's addopts/testpaths).
"""

from pathlib import Path

import pytest

from learnopt_course.tools import notebooks
from learnopt_course.tools.budget import machine_factor, measure_machine_factor, notebook_budget, over_budget
from learnopt_course.tools.portability import SWITCHED_KERNELS, golden_mismatches
from learnopt_course.tools.grade import results_from_executed

from nbfactory import code, notebook

ROOT = Path(__file__).resolve().parents[1]
STUDENT_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module", params=STUDENT_NOTEBOOKS, ids=lambda p: p.name)
def executed_student(request):
    """The student notebook run once, under switched numeric kernels (the solutions run under nbval on native ones)."""
    path = request.param
    return path, notebooks.execute(notebooks.read(path), cwd=path.parent, timeout=300, env=SWITCHED_KERNELS)


def test_golden_cells_survive_switched_kernels(executed_student):
    """Every golden cell that ran in the student smoke run prints exactly the solution's stored text."""
    path, nb = executed_student
    mismatches, compared = golden_mismatches(notebooks.read(ROOT / "solutions" / path.name), nb)
    assert compared >= 3, f"{path.name}: only {compared} golden cells ran in the student notebook"
    assert not mismatches, f"{path.name} prints other golden text under {SWITCHED_KERNELS}:\n" + "\n".join(
        map(str, mismatches)
    )


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


def test_budget_metadata(tmp_path):
    nb = notebook(code("x = 1"))
    nb.metadata["learnopt"] = {"budget_s": 12}
    notebooks.write(nb, tmp_path / "a.ipynb")
    assert notebook_budget(tmp_path / "a.ipynb") == 12.0
    assert notebook_budget(tmp_path / "missing.ipynb") == 90.0
    # budgets are reference seconds; none may exceed 200 (the whole suite must stay well under 20 minutes)
    assert all(notebook_budget(p) <= 200 for p in (ROOT / "solutions").glob("*.ipynb"))


def test_budget_scales_with_the_machine():
    # a notebook using 80 s of its 90 s on the reference machine uses 200 s on a machine 2.5x slower: it passes there
    assert not over_budget(80, 90, 1.0) and not over_budget(2.5 * 80, 90, 2.5)
    # the same notebook doing twice the work fails on both
    assert over_budget(2 * 80, 90, 1.0) and over_budget(2.5 * 2 * 80, 90, 2.5)
    # without the factor the slow machine would fail the unchanged notebook
    assert over_budget(2.5 * 80, 90, 1.0)


def test_machine_factor_override_and_errors(monkeypatch):
    monkeypatch.setenv("LEARNOPT_MACHINE_FACTOR", "2.5")
    assert machine_factor() == 2.5
    for bad in ("0", "-1", "fast", "nan"):
        monkeypatch.setenv("LEARNOPT_MACHINE_FACTOR", bad)
        with pytest.raises(ValueError, match="LEARNOPT_MACHINE_FACTOR must be a positive number; got"):
            machine_factor()


def test_measured_machine_factor_is_positive_and_finite():
    factor = measure_machine_factor(repeats=1)
    assert 0 < factor < float("inf")


SIMULATED_WORK = """import os, time
# stands in for CPU work: on a machine F times slower the same work takes F times as long
time.sleep({seconds} * float(os.environ["LEARNOPT_MACHINE_FACTOR"]))"""


def test_budget_plugin_passes_a_slower_machine_and_fails_twice_the_work(pytester, monkeypatch):
    """On a machine 2.5x slower, a notebook within its budget passes; the same notebook with twice the work fails."""
    monkeypatch.setenv("LEARNOPT_SCALE", "ci")
    monkeypatch.setenv("LEARNOPT_MACHINE_FACTOR", "2.5")
    for name, seconds in (("within.ipynb", 2.0), ("double.ipynb", 4.0)):
        nb = notebook(code(SIMULATED_WORK.format(seconds=seconds)), code("print('done')"))
        nb.metadata["learnopt"] = {"budget_s": 4}  # 2 s of work plus a kernel start fits; 4 s of work does not
        notebooks.write(nb, pytester.path / name)
    result = pytester.runpytest_subprocess(
        "-p", "learnopt_course.tools.budget", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
        "within.ipynb", "double.ipynb",
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*double.ipynb took * s, over its budget of 4 s x machine factor 2.50 = 10 s*",
            "*machine factor 2.50*",
            "*within.ipynb: * s = * reference s (budget 4)*",
        ]
    )
