"""The course as students meet it: JupyterLab, started as `learnopt lab` starts it, driven in headless Chromium.

JupyterLab serves a copy of solutions/ and notebooks/ (it saves what it runs).

For every lesson, the student notebook is opened in JupyterLab (its setup and explorer cells are the solution's,
character for character, which the test checks first: running both would double the test's time for the same code);
the setup cell and the explorer's cell run (what the explorer needs: the experiments run headless elsewhere in the
suite); no error appears; one control of the live explorer moves and its figure changes. Run All is exercised on the shortest lesson: in the
student notebook it goes past every unsolved exercise to the last cell (check cells carry `raises-exception`), each
failed check shows its verdict, and no other error appears; in the solution notebook nothing fails. JupyterLab's news
prompt never appears. Screenshots go to build/browser/ for inspection.

Needs Debian's `chromium` (`.ci/run` installs it) and Playwright's Python package pointed at it (no browser
download). Without them the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from learnopt_course.tools.cli import lab_command

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("LEARNOPT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LESSONS = sorted(p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
RUN_ALL = "04_score_function_vs_pathwise.ipynb"  # the shortest lesson (about 10 s)
# the flags a closed network needs (no background connections, no first-run or sync)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

missing = [what for what, ok in (("playwright", sync_playwright is not None), ("chromium", Path(CHROMIUM).is_file()))
           if not ok]
if missing and os.environ.get("CI"):
    raise RuntimeError(f"the browser test needs {' and '.join(missing)}; .ci/run installs them")
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {' and '.join(missing)} (installed by .ci/run)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `learnopt lab` runs it, on the repository, with a fresh user-settings folder (the one change:
    notebooks render every cell, so that the test can find cells far down the page)."""
    settings = tmp_path_factory.mktemp("settings")
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), "learnopt-browser-test"
    # JupyterLab saves what it runs: serve copies, so the repository's notebooks stay as they are
    course = tmp_path_factory.mktemp("course")
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, course / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    command, env = lab_command(".", ["--no-browser", f"--port={port}", f"--ServerApp.token={token}",
                                     "--ServerApp.ip=127.0.0.1", "--allow-root",
                                     f"--LabApp.user_settings_dir={settings}",
                                     f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('workspaces')}"])
    env = {**env, "OMP_NUM_THREADS": "1"}
    env.pop("LEARNOPT_STATIC_WIDGETS", None)  # the live explorers
    log = tmp_path_factory.mktemp("log") / "lab.log"
    server = subprocess.Popen(command, cwd=course, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("JupyterLab did not start:\n" + log.read_text()[-3000:]) from None
            time.sleep(0.3)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page, base, token
        browser.close()
    server.terminate()
    server.wait(timeout=30)


def _shutdown_kernels(base: str, token: str) -> None:
    sessions = json.load(urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10))
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30)


def _open(page, base: str, token: str, path: str) -> None:
    _shutdown_kernels(base, token)  # one kernel at a time (each holds PyTorch)
    page.goto(f"{base}/lab/tree/{path}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def _run_cell(page, cell, timeout_ms: int = 180_000) -> None:
    """Run one cell as a student does (click into it, Shift+Enter) and wait until it has finished. A request sent
    while the kernel is still connecting can be dropped (the prompt stays ``[ ]``): then press again."""
    for attempt in range(4):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:  # queued or running ([*]) or done ([n])
            page.wait_for_function("c => /\\[(\\*|\\d+)\\]/.test(c.querySelector('.jp-InputPrompt').textContent)",
                                   arg=cell.element_handle(), timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 3:
                raise
    page.wait_for_function("c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt').textContent)",
                           arg=cell.element_handle(), timeout=timeout_ms)


def _errors(page) -> list[str]:
    """The text of every error shown in the notebook (tracebacks render as stderr outputs)."""
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t for t in texts if "Error" in t or "Traceback" in t or "Exception" in t]


def _no_news_prompt(page) -> None:
    assert page.get_by_text("Would you like to get notified about official Jupyter news").count() == 0


def _setup_and_explorer_sources(path: Path) -> list[str]:
    """The sources of the cells `_explore` runs: the first setup cell and the first explorer cell."""
    code = [cell["source"] for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
    code = ["".join(src) if isinstance(src, list) else src for src in code]
    setup = next(src for src in code if "lo.setup(" in src)
    explorer = next(src for src in code if "lo.widgets." in src and "explorer(" in src)
    return [setup, explorer]


def _explore(page, name: str, kind: str) -> None:
    cells = page.locator(".jp-CodeCell")
    _run_cell(page, cells.filter(has_text="lo.setup(").first)
    explorer = cells.filter(has_text="lo.widgets.").filter(has_text="explorer(").first
    _run_cell(page, explorer)
    image = explorer.locator(".jupyter-widgets .jp-OutputArea img").first
    image.wait_for(timeout=120_000)
    before = image.get_attribute("src")
    select = explorer.locator(".widget-dropdown select")
    handle = explorer.locator(".noUi-handle")
    if handle.count():
        handle.first.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
    else:
        select.first.select_option(index=1)
    # the output is cleared and redrawn: look for the explorer's current image each time
    page.wait_for_function("([cell, old]) => { const img = cell.querySelector('.jupyter-widgets .jp-OutputArea img');"
                           " return img && img.complete && img.getAttribute('src') !== old; }",
                           arg=[explorer.element_handle(), before], timeout=120_000)
    explorer.screenshot(path=str(SHOTS / f"{name[:2]}_{kind}_explorer.png"))
    assert not _errors(page), f"{kind} {name}: {_errors(page)}"
    _no_news_prompt(page)


@pytest.fixture
def shot_on_failure(lab, request):
    """A screenshot of the page when a test fails (build/browser/FAILED-<test>.png)."""
    yield
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        lab[0].screenshot(path=str(SHOTS / f"FAILED-{request.node.name}.png"), full_page=True)


@pytest.mark.parametrize("name", LESSONS, ids=lambda n: n[:2])
def test_every_explorer_runs_live_and_answers_its_controls(lab, name, shot_on_failure):
    page, base, token = lab
    sources = {folder: _setup_and_explorer_sources(ROOT / folder / name) for folder in ("solutions", "notebooks")}
    assert sources["solutions"] == sources["notebooks"], f"{name}: the student's setup or explorer cell differs"
    _open(page, base, token, f"notebooks/{name}")
    _explore(page, name, "student")
    page.screenshot(path=str(SHOTS / f"{name[:2]}_page.png"))


def _run_all(page, timeout: float = 300) -> list[str]:
    """Run > Run All Cells, then wait until every code cell has run, or until nothing has changed for 10 s with the
    kernel idle (Run All stopped early); returns the input prompts. Like a single cell's request, Run All sent while
    the kernel is still connecting can be dropped (every prompt stays ``[ ]``): then it is chosen again."""
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    for attempt in range(4):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:  # the first cell queued, running or done
            page.wait_for_function("() => { const p = document.querySelector('.jp-CodeCell .jp-InputPrompt');"
                                   " return p && /\\[(\\*|\\d+)\\]/.test(p.textContent); }", timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 3:
                raise
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        now = prompts.all_inner_texts()
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
        if idle and all(any(ch.isdigit() for ch in p) for p in now):
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif idle and not any("*" in p for p in now) and time.monotonic() - since > 10:
            return now
        time.sleep(0.5)
    return prompts.all_inner_texts()


def test_run_all_goes_past_unsolved_exercises_and_shows_each_failed_check(lab, shot_on_failure):
    page, base, token = lab
    _open(page, base, token, f"notebooks/{RUN_ALL}")
    prompts = _run_all(page)
    page.screenshot(path=str(SHOTS / "run_all_student.png"), full_page=True)
    cells = page.locator(".jp-CodeCell")
    assert all(any(ch.isdigit() for ch in p) for p in prompts), f"cells left unrun: {prompts}"
    checks = [c for c in cells.all() if "lo.checks." in c.inner_text()]
    assert len(checks) >= 3
    for check in checks:
        shown = check.locator(".jp-OutputArea").inner_text()
        assert "not solved yet" in shown and "NotImplementedError" in shown, shown[:500]
    others = [e for e in _errors(page) if "NotImplementedError" not in e]
    assert not others, others
    _no_news_prompt(page)

    _open(page, base, token, f"solutions/{RUN_ALL}")
    prompts = _run_all(page)
    assert not _errors(page), _errors(page)
    assert all(any(ch.isdigit() for ch in p) for p in prompts), f"cells left unrun: {prompts}"
    page.screenshot(path=str(SHOTS / "run_all_solution.png"), full_page=True)
