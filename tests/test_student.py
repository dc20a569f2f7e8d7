"""Student-notebook generation: markers, whole-cell tags, refusal of bad markers, and the --check drift test."""

import shutil
from pathlib import Path

import pytest

from learnopt_course.tools import cli, notebooks
from learnopt_course.tools.student import MD_PROMPT, MarkerError, make_student, sync

from nbfactory import code, markdown, notebook, spine_notebook, stream

ROOT = Path(__file__).resolve().parents[1]


def test_code_region_becomes_indented_stub_with_exercise_id():
    nb = notebook(code("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n# after", "exercise-2.3"))
    out = make_student(nb).cells[0].source
    assert out == (
        "def f(x):\n    y = 1\n"
        '    raise NotImplementedError("Exercise 2.3: replace this line with your code")\n# after'
    )


def test_markdown_region_instructor_and_solution_cells():
    nb = notebook(
        markdown("Q?\n<!-- BEGIN SOLUTION -->\nsecret answer\n<!-- END SOLUTION -->\nend"),
        code("print('only for teachers')", "instructor"),
        code("x = 42", "solution", "exercise-1.9"),
        markdown("whole answer", "solution"),
    )
    cells = make_student(nb).cells
    assert len(cells) == 3
    assert cells[0].source == f"Q?\n{MD_PROMPT}\nend" and "secret" not in cells[0].source
    assert cells[1].source.startswith('raise NotImplementedError("Exercise 1.9:')
    assert cells[2].source == MD_PROMPT


def test_outputs_and_counts_are_removed():
    nb = notebook(code("print(1)", "nbval-check-output", outputs=[stream("1\n")], count=3))
    cell = make_student(nb).cells[0]
    assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", r"lesson\.ipynb, cell 2: '### BEGIN SOLUTION' at line 1 is never closed"),
        ("x = 1\n### END SOLUTION", r"lesson\.ipynb, cell 2: '### END SOLUTION' at line 2 has no matching"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION",
            r"lesson\.ipynb, cell 2: nested '### BEGIN SOLUTION' at line 2 \(the open one is at line 1\)",
        ),
    ],
)
def test_bad_markers_are_refused_with_notebook_and_cell(source, message):
    nb = notebook(markdown("# t"), code(source))
    with pytest.raises(MarkerError, match=message):
        make_student(nb, "lesson.ipynb")


def test_unbalanced_markdown_marker_is_refused():
    with pytest.raises(MarkerError, match="cell 1: '<!-- BEGIN SOLUTION -->' at line 1 is never closed"):
        make_student(notebook(markdown("<!-- BEGIN SOLUTION -->\nanswer")), "x.ipynb")


def test_sync_writes_then_check_passes_then_detects_drift(tmp_path, capsys):
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    notebooks.write(spine_notebook(), src / "99_demo.ipynb")
    assert cli.main(["student", str(src), str(dst)]) == 0
    assert (dst / "99_demo.ipynb").is_file()
    assert cli.main(["student", str(src), str(dst), "--check"]) == 0
    # an edit of the solution notebook without regenerating must fail the check, with a diff
    nb = notebooks.read(src / "99_demo.ipynb")
    nb.cells[0].source += "\nA new sentence."
    notebooks.write(nb, src / "99_demo.ipynb")
    capsys.readouterr()
    assert cli.main(["student", str(src), str(dst), "--check"]) == 1
    out = capsys.readouterr().out
    assert "out of date" in out and "+" in out and "A new sentence." in out
    # a student notebook without a solution is reported too
    shutil.copy(dst / "99_demo.ipynb", dst / "98_orphan.ipynb")
    assert not sync(src, dst, check=False).ok


def test_cli_reports_marker_errors(tmp_path, capsys):
    src = tmp_path / "solutions"
    src.mkdir()
    notebooks.write(notebook(code("### END SOLUTION")), src / "bad.ipynb")
    assert cli.main(["student", str(src), str(tmp_path / "out")]) == 2
    assert "bad.ipynb, cell 1" in capsys.readouterr().err


def test_repository_student_notebooks_are_in_sync():
    report = sync(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert report.ok, "run `learnopt student solutions notebooks`:\n" + "\n".join(report.drifted.values())
    assert sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    )


def test_student_notebooks_contain_no_solutions():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
