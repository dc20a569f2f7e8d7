"""Shared pytest hooks."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    """Keep each phase's report on the test item (``item.rep_call``), for fixtures that act on failure (the browser
    test's screenshot)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())
