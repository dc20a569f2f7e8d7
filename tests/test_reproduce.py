"""Shipped learned optimizers: every checkpoint loads with its recorded sha256 and optimises; the reproduction
command runs (briefly) and its meta-loss falls."""

import json
import math
import os
from pathlib import Path

import pytest
import torch

from learnopt_course import l2l
from learnopt_course.reproduce import RECIPES, problem_factory, reproduce
from learnopt_course.tools import cli

MANIFEST = json.loads((l2l.CHECKPOINT_DIR / "manifest.json").read_text())


def test_every_recipe_has_a_shipped_checkpoint_under_1_5_mb():
    assert set(MANIFEST) == set(RECIPES)
    for name, entry in MANIFEST.items():
        path = l2l.CHECKPOINT_DIR / entry["file"]
        assert path.stat().st_size < 1_500_000  # the largest, lesson 08's surrogate, is 1.03 MB
        assert l2l.sha256(path) == entry["sha256"], f"{name}: file and manifest disagree"
        assert entry["command"] == f"learnopt reproduce {name}"


LSTM_RECIPES = sorted(name for name, recipe in RECIPES.items() if isinstance(recipe, l2l.Recipe))


@pytest.mark.parametrize("name", LSTM_RECIPES)
def test_shipped_checkpoint_optimises_a_held_out_problem(name):
    if RECIPES[name].problem in ("mnist", "omniglot") and not os.environ.get("LEARNOPT_DATA"):
        pytest.skip("needs LEARNOPT_DATA (CI sets it)")
    net, info = l2l.shipped(name)
    assert net.config == RECIPES[name].lstm and info["recipe"] == name
    problem = problem_factory(RECIPES[name])(torch.Generator().manual_seed(999))
    losses = l2l.run_learned(net, problem, RECIPES[name].train.steps)
    assert torch.isfinite(losses).all()
    if name == "l2l-mnist-raw-nopretrain":  # the thesis's negative result: raw gradients, loss stays near ln 10
        assert abs(float(losses[-10:].mean()) - math.log(10)) < 0.3
    elif name == "l2l-mnist-raw":  # pretraining gets it off the plateau, but far behind the preprocessed optimizer
        preprocessed, _ = l2l.shipped("l2l-mnist")
        reference = l2l.run_learned(preprocessed, problem, RECIPES[name].train.steps)
        assert float(losses[-10:].mean()) < math.log(10) - 0.3
        assert float(losses[-10:].mean()) > 2 * float(reference[-10:].mean())
    else:
        assert losses[-1] < 0.5 * losses[0]


def test_quick_reproduction_runs_and_the_meta_loss_falls(tmp_path, capsys):
    out = tmp_path / "quad.pt"
    assert cli.main(["reproduce", "l2l-quadratic", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "meta-loss" in printed and out.is_file()
    first, last = (float(v) for v in printed.split("meta-loss ")[1].split("\n")[0].split(" -> "))
    assert last < first
    net, info = l2l.load_checkpoint(out, l2l.sha256(out))
    assert info["runs"] == RECIPES["l2l-quadratic"].quick_runs
    assert cli.main(["reproduce", "nonexistent"]) == 2
    recipe = RECIPES["l2l-quadratic"]
    if recipe.train.validate_every:  # the snapshot chosen on the selection problems is recorded
        assert 0 <= info["selected_after_runs"] <= recipe.quick_runs and math.isfinite(info["selection_score"])
        assert info["selection_seeds"] == [recipe.selection_seed, recipe.selection_seed + recipe.selection_problems - 1]


def test_reproduce_with_another_seed_writes_elsewhere_only(tmp_path, capsys):
    out = tmp_path / "seed5.pt"
    assert cli.main(["reproduce", "l2l-quadratic", "--quick", "--seed", "5", "--out", str(out)]) == 0
    _, info = l2l.load_checkpoint(out)
    assert info["seed"] == 5
    assert cli.main(["reproduce", "l2l-quadratic", "--quick", "--seed", "5"]) == 2
    assert "--seed needs --out" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs out="):
        reproduce("l2l-quadratic", quick=True, seed=5)


def test_unknown_recipe_is_named():
    with pytest.raises(KeyError, match="no recipe 'x'"):
        reproduce("x")
    with pytest.raises(KeyError, match="no shipped checkpoint"):
        l2l.shipped("x")


def test_the_shipped_gps_policy_optimises_held_out_tasks_and_its_quick_reproduction_runs(tmp_path):
    from learnopt_course.gps import driver, settings

    if not os.environ.get("LEARNOPT_DATA"):
        pytest.skip("needs LEARNOPT_DATA (CI sets it)")
    student, info = l2l.shipped("gps-mnist48")
    assert isinstance(student, driver.GroupedStudent) and info["recipe"] == "gps-mnist48"
    assert student.config.groups == ["1.weight", "1.bias", "3.weight", "3.bias"]
    setting = settings.SETTINGS[settings.TRAINED]
    tasks, _ = settings.tasks(setting, [999], torch.float32, 1000)
    curve = driver.run_student(student, tasks, setting.T, settings.true_objective)[0]
    assert torch.isfinite(curve).all() and curve[-1] < 0.3 * curve[0]
    # the recipe's teacher improved on its initial momentum teacher (the history is the accepted teacher's area)
    assert info["teacher_area"][-1] < 0.95 * info["teacher_area"][0]
    report = reproduce("gps-mnist48", out=tmp_path / "gps.pt", quick=True)
    assert report["runs"] == RECIPES["gps-mnist48"].quick_iterations and (tmp_path / "gps.pt").is_file()
    again, _ = l2l.load_checkpoint(tmp_path / "gps.pt", report["sha256"])
    assert again.config.groups == student.config.groups
