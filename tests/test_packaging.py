"""Packaging: pyproject, constraints, environment.yml, README and .ci/run agree with each other."""

import json
import os
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIRED = {"torch", "numpy", "matplotlib", "ipywidgets", "jupyterlab", "tqdm"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_pyproject_core_and_test_dependencies_are_lower_bounds():
    project = PYPROJECT["project"]
    assert project["name"] == "learnopt-course"
    deps = project["dependencies"]
    assert REQUIRED <= {_name(d) for d in deps}
    assert {"pytest", "nbval", "nbclient"} <= {_name(d) for d in project["optional-dependencies"]["test"]}
    for dep in deps + project["optional-dependencies"]["test"]:
        assert ">=" in dep and "==" not in dep and "<" not in dep.replace("<=", ""), f"lower bounds only: {dep}"
    assert project["scripts"]["learnopt"] == "learnopt_course.tools.cli:main"
    assert not any("torch" in r for r in PYPROJECT["build-system"]["requires"]), "never put torch in build requirements"


def test_constraints_pin_the_local_cpu_torch():
    lines = [l.strip() for l in (ROOT / "constraints.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert "torch==2.13.0" in lines


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == PYPROJECT["project"]["requires-python"], "same Python bound as pyproject"
    assert "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-c constraints.txt" in pip, "conda users must get the same torch pin"
    extras = [p for p in pip if p.startswith("-e .")]
    assert extras == ["-e .[test]"], "install the package (and its test extra) from pyproject, one list of dependencies"
    assert set(PYPROJECT["project"]["optional-dependencies"]) >= {"test"}
    # nothing else is installed behind pyproject's back
    assert all(p.startswith(("-c ", "-e .")) for p in pip)
    conda_only = {str(d).split(">")[0].split("=")[0] for d in deps if isinstance(d, str)}
    assert conda_only <= {"python", "pip"}, f"dependencies belong in pyproject.toml, not environment.yml: {conda_only}"


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)
    assert blocks, "README needs the two commands in a bash block"
    commands = [l for l in blocks[0].splitlines() if l.strip() and not l.startswith("#")]
    return commands


def test_readme_starts_with_install_and_test_commands():
    install, test = _readme_commands()[:2]
    assert "-c constraints.txt" in install and "learnopt lab" in install and "[test]" in install
    assert "pytest" in test
    text = (ROOT / "README.md").read_text()
    assert "INSTRUCTORS.md" in text and (ROOT / "INSTRUCTORS.md").is_file()


def test_ci_runs_exactly_the_readme_test_command():
    install, test = _readme_commands()[:2]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci, ".ci/run must run the README's test command verbatim"
    install_part = install.split("&& .venv/bin/learnopt lab")[0].strip()
    assert install_part in ci, ".ci/run must install exactly as the README does"
    for setting in ("OMP_NUM_THREADS=1", "PYTHONHASHSEED=0", "LEARNOPT_DATA"):
        assert setting in ci


def test_every_solution_has_an_instructors_row():
    text = (ROOT / "INSTRUCTORS.md").read_text()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        assert path.stem in text, f"INSTRUCTORS.md has no row for {path.stem}"


def test_learnopt_lab_opens_jupyterlab_without_the_news_prompt(tmp_path, monkeypatch):
    from learnopt_course.tools.cli import JUPYTER_CONFIG, lab_command

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path))
    command, env = lab_command("notebooks", ["--port", "8890"])
    assert command[1:4] == ["-m", "jupyterlab", "notebooks"] and command[-2:] == ["--port", "8890"]
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(JUPYTER_CONFIG), str(tmp_path)]  # the user's kept
    page_config = json.loads((JUPYTER_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page_config["disabledExtensions"] == {"@jupyterlab/apputils-extension:announcements": True}
