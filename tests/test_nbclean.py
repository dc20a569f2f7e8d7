"""nbclean: non-golden outputs go, golden outputs and execution counts stay, and the repository is clean."""

from pathlib import Path

from learnopt_course.tools import cli, notebooks
from learnopt_course.tools.nbclean import clean

from nbfactory import code, notebook, stream

ROOT = Path(__file__).resolve().parents[1]


def test_clean_keeps_only_golden_outputs():
    nb = notebook(
        code("print(1)", outputs=[stream("1\n")], count=1),
        code("print(2)", "nbval-check-output", outputs=[stream("2"), stream("\n")], count=2),
    )
    nb.cells[0].metadata["execution"] = {"iopub.execute_input": "2026-01-01"}
    nb.metadata["widgets"] = {"state": {}}
    out = clean(nb)
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    assert "execution" not in out.cells[0].metadata
    assert out.cells[1].execution_count == 2
    assert [o["text"] for o in out.cells[1].outputs] == ["2\n"]  # split stream chunks are merged
    assert "widgets" not in out.metadata
    assert nb.cells[0].outputs  # the input notebook is not modified


def test_check_mode_reports_and_fix_mode_writes(tmp_path, capsys):
    path = tmp_path / "x.ipynb"
    notebooks.write(notebook(code("print(1)", outputs=[stream("1\n")], count=1)), path)
    assert cli.main(["nbclean", str(path), "--check"]) == 1
    assert "has outputs to strip" in capsys.readouterr().out
    assert cli.main(["nbclean", str(path)]) == 0
    assert cli.main(["nbclean", str(path), "--check"]) == 0
    assert cli.main(["nbclean", str(tmp_path / "missing.ipynb")]) == 2


def test_repository_solutions_are_clean_and_have_golden_outputs():
    assert cli.main(["nbclean", str(ROOT / "solutions"), "--check"]) == 0
    for path in (ROOT / "solutions").glob("*.ipynb"):
        nb = notebooks.read(path)
        golden = [c for c in nb.cells if notebooks.GOLDEN_TAG in notebooks.tags(c)]
        assert golden and all(c.outputs and c.execution_count for c in golden), path.name
