"""A pytest plugin that enforces a wall-clock budget per notebook run under nbval, scaled to the machine.

Each notebook's budget is ``metadata.learnopt.budget_s`` (default 90 s), in seconds **on the reference machine**
(the 2-core x86 machine the course's CI runs on). Before and after each notebook, the plugin times a fixed reference
workload (:func:`reference_workload`: 300 training steps of the MNIST-sized MLP 784-20-10 on one thread, the kind of
work the lessons do) and divides by the time it takes on the reference machine (:data:`REFERENCE_S`): that
*machine factor* scales every budget, so a laptop 2.5x slower gets 2.5x the seconds, while a notebook that doubles
its work still fails everywhere. Each notebook's factor is the mean of the measurements just before its first cell
and just after its last, so a shared machine's changing load is followed; ``LEARNOPT_MACHINE_FACTOR`` overrides the
measurement. The time counted is the sum of every phase of every cell (kernel start included); the last cell
of a notebook over budget is failed with a message naming the notebook, its time, the factor and its budget. Times
are also reported in reference seconds (time / factor), which are comparable across machines. At
``LEARNOPT_SCALE=full`` budgets are not enforced. Under pytest-xdist each worker measures its own factors and
enforces the budgets of the notebooks it runs; the controller gathers their times for the report.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import pytest

DEFAULT_BUDGET_S = 90.0
# median time of reference_workload() on the reference machine (AMD EPYC, AVX2 kernels, one thread, idle)
REFERENCE_S = 0.12
FACTOR_BOUNDS = (0.25, 20.0)


def reference_workload(steps: int = 300) -> float:
    """A fixed CPU workload like the lessons': ``steps`` SGD steps of a sigmoid MLP 784-20-10 on a batch of 128."""
    import torch

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128, 784, generator=g), torch.randint(0, 10, (128,), generator=g)
    w1 = (torch.randn(784, 20, generator=g) * 0.05).requires_grad_()
    w2 = (torch.randn(20, 10, generator=g) * 0.2).requires_grad_()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(torch.sigmoid(x @ w1) @ w2, y)
        g1, g2 = torch.autograd.grad(loss, (w1, w2))
        with torch.no_grad():
            w1 -= 0.5 * g1
            w2 -= 0.5 * g2
    return float(loss.detach())


def measure_machine_factor(repeats: int = 5) -> float:
    """This machine's time for :func:`reference_workload` (median of ``repeats``) over the reference machine's."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference_workload(20)  # warm-up: allocator, kernels, lazy imports
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            reference_workload()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times) / REFERENCE_S


def machine_factor(repeats: int = 5) -> float:
    """``LEARNOPT_MACHINE_FACTOR`` if set (a positive number), else :func:`measure_machine_factor`, clamped."""
    text = os.environ.get("LEARNOPT_MACHINE_FACTOR")
    if text is not None:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value > 0:
            raise ValueError(f"LEARNOPT_MACHINE_FACTOR must be a positive number; got {text!r}")
        return value
    low, high = FACTOR_BOUNDS
    return min(max(measure_machine_factor(repeats), low), high)


def over_budget(spent_s: float, budget_s: float, factor: float) -> bool:
    """Whether ``spent_s`` seconds on a machine ``factor`` times slower than the reference exceed ``budget_s``."""
    return spent_s > budget_s * factor


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
        self.samples: dict[str, list[float]] = {}
        self.factors: dict[str, float] = {}  # per notebook: the mean of the factors measured before and after it
        self.paths: dict[str, str] = {}  # node id -> notebook path

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if _is_notebook_item(item):
                path = str(item.path)
                self.last_item[path] = item.nodeid
                self.paths[item.nodeid] = path
                self.budgets.setdefault(path, notebook_budget(path))

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        """Before a notebook's first cell (outside every timed phase): measure the machine's speed now, so that a
        shared machine's changing load is seen per notebook, not only once at the start of the run."""
        path = self.paths.get(nodeid)
        if path is not None and path not in self.samples:
            self.samples[path] = [machine_factor(repeats=3)]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        if not _is_notebook_item(item):
            return
        path = str(item.path)
        self.times[path] += call.duration
        report = outcome.get_result()
        if call.when != "call" or self.last_item.get(path) != item.nodeid:
            return
        # after the last cell (its duration is already counted): measure again; the notebook's factor is the mean
        samples = self.samples[path]  # measured at log start, before the first cell
        samples.append(machine_factor(repeats=3))
        self.factors[path] = factor = statistics.fmean(samples)
        if not self.enforce:
            return
        spent, budget = self.times[path], self.budgets.get(path, DEFAULT_BUDGET_S)
        if over_budget(spent, budget, factor) and report.outcome == "passed":
            report.outcome = "failed"
            report.longrepr = (
                f"notebook {Path(path).name} took {spent:.1f} s, over its budget of {budget:.0f} s x machine factor "
                f"{factor:.2f} = {budget * factor:.0f} s at CI scale ({spent / factor:.1f} reference s); make the "
                "default scale lighter or move work behind LEARNOPT_SCALE=full"
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: hand the times to the controller
            workeroutput["learnopt_notebook_times"] = json.dumps(
                {path: [spent, self.budgets.get(path, DEFAULT_BUDGET_S), self.factors.get(path, 1.0)]
                 for path, spent in self.times.items()}
            )

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """The xdist controller: collect a finished worker's notebook times (and that worker's machine factor)."""
        text = getattr(node, "workeroutput", {}).get("learnopt_notebook_times")
        for path, (spent, budget, factor) in json.loads(text or "{}").items():
            self.times[path] += spent
            self.budgets[path] = budget
            self.factors[path] = factor

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.times:
            return
        terminalreporter.section("notebook times")
        factors = sorted({round(self.factors.get(p, 1.0), 2) for p in self.times})
        terminalreporter.write_line(
            f"machine factor {', '.join(f'{f:.2f}' for f in factors)} (reference workload time here / on the reference "
            "machine, per test process); times in reference seconds = seconds / factor"
        )
        for path, spent in sorted(self.times.items()):
            budget, factor = self.budgets.get(path, DEFAULT_BUDGET_S), self.factors.get(path, 1.0)
            terminalreporter.write_line(
                f"{Path(path).name}: {spent:.1f} s = {spent / factor:.1f} reference s (budget {budget:.0f})"
            )


def pytest_configure(config: pytest.Config) -> None:
    enforce = os.environ.get("LEARNOPT_SCALE", "ci").strip().lower() != "full"
    config.pluginmanager.register(NotebookBudget(enforce), "learnopt-notebook-budget")
