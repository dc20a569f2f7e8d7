"""Keep what the test suite's run of the solution notebooks printed: executed copies for the course website.

A pytest plugin (registered by the repository's ``conftest.py``). nbval runs every solution notebook cell by cell;
this plugin records each cell's outputs and, when every code cell of a notebook ran and passed, writes the executed
notebook to ``build/executed/`` (or ``LEARNOPT_EXECUTED_DIR``) with the sha256 of the solution it came from, so that
``learnopt site`` can publish the run CI just made instead of executing the lessons a second time
(:mod:`learnopt_course.tools.site`). Nothing is written for a notebook with a failed or skipped cell.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from ..core import atomic_write_text

SOURCE_KEY = "source_sha256"  # metadata.learnopt.source_sha256 of an executed copy: the solution file it ran


def source_digest(path: str | os.PathLike) -> str:
    """The sha256 of a notebook file's bytes (what an executed copy records, and how a stale copy is recognised)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def executed_dir(root: str | os.PathLike) -> Path:
    """Where executed copies go: ``LEARNOPT_EXECUTED_DIR``, else ``<root>/build/executed``."""
    return Path(os.environ.get("LEARNOPT_EXECUTED_DIR") or Path(root) / "build" / "executed")


def with_outputs(path: str | os.PathLike, outputs: dict[int, list]) -> nbformat.NotebookNode:
    """The notebook at ``path`` with code cell ``i`` (counting code cells only) given ``outputs[i]`` and execution
    count ``i + 1``, stamped with the file's sha256."""
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if sorted(outputs) != list(range(len(code))):
        raise ValueError(f"outputs must cover every code cell of {path} (0..{len(code) - 1}); got {sorted(outputs)}")
    for i, cell in enumerate(code):
        cell.outputs = [nbformat.from_dict(dict(o)) for o in outputs[i]]
        cell.execution_count = i + 1
        for o in cell.outputs:
            if o.get("output_type") == "execute_result":
                o["execution_count"] = i + 1
    nb.metadata.setdefault("learnopt", {})[SOURCE_KEY] = source_digest(path)
    return nb


class ExecutedNotebooks:
    """Collect nbval's outputs per notebook; write complete, passing runs of ``solutions/*.ipynb`` at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outputs: dict[Path, dict[int, list]] = defaultdict(dict)
        self.failed: set[Path] = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):  # noqa: ANN201
        outcome = yield
        if type(item).__name__ == "IPyNbCell" and outcome.excinfo is None and item.test_outputs is not None:
            self.outputs[Path(str(item.path)).resolve()][item.cell_num] = list(item.test_outputs)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Any failed or skipped phase of a notebook's cell keeps that notebook unpublished."""
        if report.failed or report.skipped:
            path = Path(self.root, report.fspath).resolve()
            if path.suffix == ".ipynb":
                self.failed.add(path)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        solutions = (self.root / "solutions").resolve()
        for path, outputs in self.outputs.items():
            if path.parent != solutions or path in self.failed:
                continue
            try:
                nb = with_outputs(path, outputs)
            except ValueError:  # not every cell ran (a -k selection): nothing to publish
                continue
            out = executed_dir(self.root) / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out, nbformat.writes(nb))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ExecutedNotebooks(Path(str(config.rootpath))), "learnopt-executed-notebooks")
