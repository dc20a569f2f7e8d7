"""Test-suite configuration shared by the unit tests and the nbval notebook runs.

The environment is fixed before any kernel starts, so notebooks run as they do in CI: one thread, a fixed hash
seed, the CI scale, and no progress bars. The notebook time budget is the plugin ``learnopt_course.tools.budget``.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["PYTHONHASHSEED"] = "0"
os.environ.setdefault("LEARNOPT_SCALE", "ci")
os.environ.setdefault("LEARNOPT_QUIET", "1")
os.environ["LEARNOPT_STATIC_WIDGETS"] = "1"  # kernels draw explorers as static figures (nbclient output-widget hangs)

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # only this process; kernels keep their inline backend (no MPLBACKEND export)

import torch  # noqa: E402

torch.set_num_threads(1)

pytest_plugins = ["learnopt_course.tools.budget", "learnopt_course.tools.executed", "pytester"]


@__import__("pytest").hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    """Keep each phase's report on the test item (``item.rep_call``), for fixtures that act on failure (the browser
    test's screenshot)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())
