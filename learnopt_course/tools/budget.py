"""A pytest plugin that enforces a wall-clock budget per notebook run under nbval, and reports every time.

Each notebook's budget is ``metadata.learnopt.budget_s`` (default 90 s) at CI scale; the time counted is the sum
of every phase of every cell (kernel start included). The last cell of a notebook over budget is failed with a
message naming the notebook, its time and its budget. At ``LEARNOPT_SCALE=full`` budgets are not enforced.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

DEFAULT_BUDGET_S = 90.0


def notebook_budget(path: str | Path, default: float = DEFAULT_BUDGET_S) -> float:
    """The budget in seconds declared in the notebook's metadata (``learnopt.budget_s``), else ``default``."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return default
    value = meta.get("learnopt", {}).get("budget_s", default)
    return float(value)


def _is_notebook_item(item: pytest.Item) -> bool:
    return str(getattr(item, "path", "")).endswith(".ipynb")


class NotebookBudget:
    def __init__(self, enforce: bool) -> None:
        self.enforce = enforce
        self.times: dict[str, float] = defaultdict(float)
        self.last_item: dict[str, str] = {}
        self.budgets: dict[str, float] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if _is_notebook_item(item):
                path = str(item.path)
                self.last_item[path] = item.nodeid
                self.budgets.setdefault(path, notebook_budget(path))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        if not _is_notebook_item(item):
            return
        path = str(item.path)
        self.times[path] += call.duration
        report = outcome.get_result()
        if call.when != "call" or self.last_item.get(path) != item.nodeid or not self.enforce:
            return
        spent, budget = self.times[path], self.budgets.get(path, DEFAULT_BUDGET_S)
        if spent > budget and report.outcome == "passed":
            report.outcome = "failed"
            report.longrepr = (
                f"notebook {Path(path).name} took {spent:.1f} s, over its budget of {budget:.0f} s at CI scale; "
                "make the default scale lighter or move work behind LEARNOPT_SCALE=full"
            )

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.times:
            return
        terminalreporter.section("notebook times")
        for path, spent in sorted(self.times.items()):
            budget = self.budgets.get(path, DEFAULT_BUDGET_S)
            terminalreporter.write_line(f"{Path(path).name}: {spent:.1f} s (budget {budget:.0f} s)")


def pytest_configure(config: pytest.Config) -> None:
    enforce = os.environ.get("LEARNOPT_SCALE", "ci").strip().lower() != "full"
    config.pluginmanager.register(NotebookBudget(enforce), "learnopt-notebook-budget")
