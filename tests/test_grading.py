"""Grading instructors can trust: checks from the release, hidden cases, hints that do not give the answer, the
library's own implementation detected, points, a gradebook, feedback, written answers, a time limit, nbgrader."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from learnopt_course.checks import registry
from learnopt_course.checks.core import CheckFailed, check_function, grade_exercise
from learnopt_course.tools import cli, notebooks
from learnopt_course.tools.lint import CODE_IN_HINT, grading_problems, revealing

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = registry()
IDS = sorted(EXERCISES, key=lambda k: tuple(int(x) for x in k.split(".")))


def _fingerprint(kwargs: dict) -> tuple:
    """The inputs' numbers (tensors and scalars; functions, networks and problems are left out)."""
    out = []
    for key in sorted(kwargs):
        value = kwargs[key]
        if isinstance(value, torch.Tensor):
            out.append((key, tuple(value.shape), tuple(value.detach().double().flatten().tolist())))
        elif isinstance(value, dict):
            out.append((key, _fingerprint(value)))
        elif isinstance(value, (int, float, str, bool, type(None))):
            out.append((key, value))
    return tuple(out)


def _perturbed(value):
    if isinstance(value, torch.Tensor):
        return value + 0.125
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_perturbed(v) for v in value)
    return value + 0.125


def test_every_lesson_exercise_is_registered_graded_and_pointed():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        assert grading_problems(notebooks.read(path), path.name) == []
    assert len(EXERCISES) >= 21 and all(e.hidden is not None for e in EXERCISES.values())


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_special_cased_answer_passes_the_public_cases_and_fails_the_hidden_ones(exercise_id):
    exercise = EXERCISES[exercise_id]
    public = {_fingerprint(make()) for make in exercise.cases}

    def special_cased(**kwargs):  # right on the inputs it has seen, wrong elsewhere
        right = exercise.reference(**kwargs)
        return right if _fingerprint(kwargs) in public else _perturbed(right)

    with redirect_stdout(io.StringIO()):
        check_function(exercise, special_cased)  # the notebook's check cell is fooled
        for seed in (0, 123456):
            with pytest.raises(CheckFailed, match="hidden case"):
                check_function(exercise, special_cased, hidden_seed=seed)
    assert len(list(exercise.hidden(7))) >= 2


@pytest.mark.parametrize("exercise_id", IDS)
def test_messages_name_the_mistake_without_the_answer(exercise_id):
    exercise = EXERCISES[exercise_id]
    assert revealing(exercise) == [], "a hint shows code"
    wrong = lambda **kwargs: _perturbed(exercise.reference(**kwargs))  # noqa: E731
    printed = io.StringIO()
    with redirect_stdout(printed), pytest.raises(CheckFailed) as failure:
        check_function(exercise, wrong)
    for text in (printed.getvalue(), str(failure.value)):
        assert "expected" not in text.lower() and "tensor(" not in text and "Hint:" in text
        assert not CODE_IN_HINT.search(text.split("Hint:", 1)[1])


@pytest.mark.parametrize("exercise_id", [i for i in IDS if EXERCISES[i].library])
def test_the_librarys_own_implementation_scores_zero(exercise_id):
    exercise = EXERCISES[exercise_id]
    wrapper = lambda **kwargs: exercise.reference(**kwargs)  # noqa: E731  (calls the library inside)
    with redirect_stdout(io.StringIO()):
        for student in (wrapper, exercise.library[0]):
            result = grade_exercise(exercise, student, seed=1)
            assert result["status"] == "uses library" and "learnopt_course" in result["message"]


def _solution_functions() -> dict:
    """The lessons' model answers, defined as a student would: each exercise cell executed after the setup cell."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = [c for c in notebooks.read(path).cells if c.cell_type == "code"]
        namespace: dict = {}
        exec(cells[0].source.replace("lo.setup(", "lo.setup(plot_style=False, threads=1, "), namespace)
        for cell in cells:
            exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
            if exercise:
                exec(cell.source, namespace)
                found[exercise] = namespace[EXERCISES[exercise].name]
    return found


def test_the_model_answers_pass_public_and_hidden_cases_without_being_flagged():
    with redirect_stdout(io.StringIO()):
        answers = _solution_functions()
        assert sorted(answers) == sorted(EXERCISES)
        for seed in (3, 2**30 + 11):
            results = {key: grade_exercise(EXERCISES[key], fn, seed) for key, fn in answers.items()}
            assert all(r["status"] == "passed" for r in results.values()), results


# --- learnopt grade end to end ---------------------------------------------------------------------------------


def _submissions(tmp_path: Path) -> Path:
    """Four students' lesson 04: solved; untouched; special-cased 4.3 with two check cells tampered; 4.2 by the
    library."""
    solution = notebooks.read(ROOT / "solutions" / "04_score_function_vs_pathwise.ipynb")
    student = notebooks.read(ROOT / "notebooks" / "04_score_function_vs_pathwise.ipynb")
    answers = {notebooks.tagged_id(c, notebooks.EXERCISE_TAG): c.source for c in solution.cells
               if notebooks.tagged_id(c, notebooks.EXERCISE_TAG)}

    def make(name, *edits):
        nb = copy.deepcopy(student)
        for cell in nb.cells:
            exercise = notebooks.tagged_id(cell, notebooks.EXERCISE_TAG)
            if exercise and name != "bob":
                cell.source = answers[exercise]
        for edit in edits:
            edit(nb)
        path = tmp_path / "submissions" / name / "04_score_function_vs_pathwise.ipynb"
        path.parent.mkdir(parents=True)
        notebooks.write(nb, path)

    def set_exercise(key, source):
        def edit(nb):
            for cell in nb.cells:
                if notebooks.tagged_id(cell, notebooks.EXERCISE_TAG) == key:
                    cell.source = source
        return edit

    def tamper(nb):
        nb.cells = [c for c in nb.cells if notebooks.tagged_id(c, notebooks.CHECK_TAG) != "4.1"]
        for cell in nb.cells:
            if notebooks.tagged_id(cell, notebooks.CHECK_TAG) == "4.2":
                cell.source = "pass"
        nb.cells.append(nbformat_code("print('extra')", "check-4.9"))

    make("alice")
    make("bob")
    make("carol", tamper, set_exercise("4.3", "import torch\ndef leave_one_out_baseline(values):\n"
                                              "    n = values.shape[0]\n    if n in (5, 8, 11, 14):\n"
                                              "        return (values.sum() - values) / (n - 1)\n"
                                              "    return values * 0\n"))
    make("dave", set_exercise("4.2", "from learnopt_course.estimators import pathwise as pathwise_estimate"))
    return tmp_path / "submissions"


def nbformat_code(source: str, tag: str):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [tag]
    return cell


def test_batch_grading_against_the_release_with_gradebook_and_feedback(tmp_path, capsys):
    folder = _submissions(tmp_path)
    gradebook, feedback = tmp_path / "gradebook.csv", tmp_path / "feedback"
    code = cli.main(["grade", *map(str, sorted(folder.glob("*/04_*.ipynb"))), "--checks-only", "--csv",
                     str(gradebook), "--feedback", str(feedback), "--release", str(ROOT / "solutions"),
                     "--time-limit", "300"])
    out = capsys.readouterr().out
    assert code == 1  # somebody did not pass everything
    rows = {r["student"]: r for r in csv.DictReader(gradebook.open())}
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    assert [rows["alice"][k] for k in ("4.1", "4.2", "4.3", "autograded", "max")] == ["2", "2", "2", "6", "6"]
    assert rows["bob"]["autograded"] == "0"
    # deleting or emptying a check cell changes nothing: the release's checks ran; the special case fails hidden
    assert [rows["carol"][k] for k in ("4.1", "4.2", "4.3")] == ["2", "2", "0"]
    assert "deleted" in rows["carol"]["tampering"] and "edited" in rows["carol"]["tampering"]
    assert "added" in rows["carol"]["tampering"]
    assert rows["dave"]["4.2"] == "0" and "uses library" in out
    carol = (feedback / "carol-04_score_function_vs_pathwise-feedback.md").read_text()
    assert "failed hidden" in carol and "restored from the release" in carol
    assert "not attempted" in (feedback / "bob-04_score_function_vs_pathwise-feedback.md").read_text()


def test_written_answers_are_collected_with_the_rubric(tmp_path):
    student = notebooks.read(ROOT / "notebooks" / "01_sgd_and_momentum.ipynb")
    assert "rubric" not in student.metadata["learnopt"]  # the rubric never reaches students
    for cell in student.cells:
        if notebooks.tagged_id(cell, notebooks.WRITTEN_TAG) == "1.4":
            cell.source = cell.source.replace("_Write your answer here._", "Because the roots are conjugate.")
    path = tmp_path / "erin" / "01_sgd_and_momentum.ipynb"
    path.parent.mkdir()
    notebooks.write(student, path)
    written = tmp_path / "written.csv"
    assert cli.main(["grade", str(path), "--checks-only", "--written", str(written), "--json"]) == 1
    (row,) = list(csv.DictReader(written.open()))
    assert row["student"] == "erin" and row["question"] == "1.4" and "conjugate" in row["answer"]
    assert row["max_points"] == "3" and "characteristic polynomial" in row["rubric"] and row["points"] == ""


def test_a_looping_submission_gets_a_verdict_within_the_time_limit(tmp_path):
    from learnopt_course.tools.grade import grade

    student = notebooks.read(ROOT / "notebooks" / "04_score_function_vs_pathwise.ipynb")
    for cell in student.cells:
        if notebooks.tagged_id(cell, notebooks.EXERCISE_TAG) == "4.2":
            cell.source = "while True:\n    pass"
    path = tmp_path / "frank" / "04_score_function_vs_pathwise.ipynb"
    path.parent.mkdir()
    notebooks.write(student, path)
    result = grade(path, checks_only=True, time_limit=20, seed=1)
    status = {r.exercise: r.status for r in result.results}
    assert result.timed_out and status["4.1"] == "not attempted" and status["4.2"] == status["4.3"] == "timed out"


# --- nbgrader ---------------------------------------------------------------------------------------------------


def test_nbgrader_round_trip(tmp_path):
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    assert cli.main(["nbgrader-export", str(ROOT / "solutions"), str(course)]) == 0
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for lesson in ("lesson01", "lesson04"):
        subprocess.run([*nbgrader, "generate_assignment", lesson, "--force"], cwd=course, env=env, check=True,
                       capture_output=True)
    release = (course / "release" / "lesson01" / "01_sgd_and_momentum.ipynb").read_text()
    assert "BEGIN SOLUTION" not in release and "HIDDEN TESTS" not in release and "hidden_check" not in release
    assert "characteristic polynomial" not in release and "YOUR ANSWER HERE" in release  # the model answer is gone
    assert "characteristic polynomial" in (course / "rubrics" / "lesson01.md").read_text()  # the rubric is aside
    assert "x - lr * grad + momentum * (x - x_prev)" not in release and "YOUR CODE HERE" in release
    source = course / "source" / "lesson04" / "04_score_function_vs_pathwise.ipynb"
    for student, notebook in (("alice", source),
                              ("bob", course / "release" / "lesson04" / "04_score_function_vs_pathwise.ipynb")):
        target = course / "submitted" / student / "lesson04"
        target.mkdir(parents=True)
        shutil.copy(notebook, target)
    subprocess.run([*nbgrader, "autograde", "lesson04", "--create"], cwd=course, env=env, check=True,
                   capture_output=True)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission("lesson04", s) for s in ("alice", "bob")}
        assert (scores["alice"].score, scores["alice"].max_score) == (6.0, 6.0)
        assert scores["bob"].score == 0.0
    metadata = json.loads(source.read_text())["cells"]
    tests = [c["metadata"]["nbgrader"] for c in metadata if c["metadata"].get("nbgrader", {}).get("grade")]
    assert len(tests) == 3 and all(t["locked"] and t["points"] == 2 for t in tests)
