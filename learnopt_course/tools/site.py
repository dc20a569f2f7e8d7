"""`learnopt site`: the course website, built from the solution notebooks with their outputs (Sphinx + MyST-NB).

The executed notebooks come from the test suite's run (:mod:`learnopt_course.tools.executed` writes them to
``build/executed/`` with the sha256 of the solution they ran); a lesson without a current executed copy is executed
here (CI scale, static explorers) unless ``execute_missing`` is off. The Sphinx source is assembled in
``build/site-src/``: ``docs/`` (configuration and front page), ``lessons/`` (the executed solutions) and
``students/`` (the student notebooks, offered for download on every lesson's row); Sphinx then builds with warnings
as errors, so a broken internal link or a missing page fails the build. The output folder is self-contained static
HTML that an instructor can publish as it is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from ..core import atomic_write_text
from . import notebooks
from .executed import SOURCE_KEY, executed_dir, source_digest

MARKER = "<!-- LESSONS -->"


class SiteError(RuntimeError):
    """The website could not be built (a lesson without an executed copy, or Sphinx failed)."""


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def executed_copy(solution: Path, cache: Path, execute_missing: bool, timeout: int = 600) -> nbformat.NotebookNode:
    """The executed version of ``solution``: the cached copy if it ran this exact file, else a fresh run (stored in
    the cache) when ``execute_missing``, else a :class:`SiteError`."""
    cached = cache / solution.name
    digest = source_digest(solution)
    if cached.is_file():
        nb = nbformat.read(str(cached), as_version=4)
        if nb.metadata.get("learnopt", {}).get(SOURCE_KEY) == digest:
            return nb
    if not execute_missing:
        raise SiteError(f"no executed copy of {solution.name} in {cache} that ran the current file (run the test "
                        "suite, which writes them, or build without --no-execute)")
    nb = notebooks.execute(notebooks.read(solution), cwd=solution.parent, timeout=timeout)
    errors = [e.ename for c in nb.cells if c.cell_type == "code" for e in notebooks.errors(c)]
    if errors:
        raise SiteError(f"{solution.name} raised {errors} when executed for the website")
    nb.metadata.setdefault("learnopt", {})[SOURCE_KEY] = digest
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cached, nbformat.writes(nb))
    return nb


def assemble(root: Path, source: Path, cache: Path, execute_missing: bool = True) -> list[tuple[str, str]]:
    """Write the Sphinx source tree into ``source`` (replaced); returns ``(lesson file, title)`` pairs."""
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(root / "docs", source)
    (source / "lessons").mkdir()
    (source / "students").mkdir()
    lessons = []
    for solution in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")):
        student = root / "notebooks" / solution.name
        if not student.is_file():
            raise SiteError(f"{solution.name} has no student notebook in notebooks/ (run `learnopt student`)")
        nb = executed_copy(solution, cache, execute_missing)
        atomic_write_text(source / "lessons" / solution.name, nbformat.writes(nb))
        shutil.copy2(student, source / "students" / solution.name)
        lessons.append((solution.name, _title(nb, solution.stem)))
    rows = ["| lesson | student notebook |", "|---|---|"]
    rows += [f"| [{title}](lessons/{name}) | {{download}}`{name} <students/{name}>` |" for name, title in lessons]
    toctree = ["```{toctree}", ":maxdepth: 1", ":caption: Lessons", ":hidden:", ""]
    toctree += [f"lessons/{Path(name).stem}" for name, _ in lessons] + ["```"]
    index = (source / "index.md").read_text()
    if MARKER not in index:
        raise SiteError(f"docs/index.md must contain the marker {MARKER} where the lesson table goes")
    (source / "index.md").write_text(index.replace(MARKER, "\n".join(rows + [""] + toctree)))
    return lessons


def build(root: str | Path = ".", out: str | Path | None = None, execute_missing: bool = True,
          cache: str | Path | None = None) -> Path:
    """Build the website of the course at ``root`` into ``out`` (default ``build/site``); returns ``out``."""
    root = Path(root).resolve()
    if not (root / "docs" / "conf.py").is_file() or not (root / "solutions").is_dir():
        raise SiteError(f"{root} is not the course repository (docs/conf.py and solutions/ are needed)")
    out = Path(out) if out is not None else root / "build" / "site"
    source = root / "build" / "site-src"
    assemble(root, source, Path(cache) if cache is not None else executed_dir(root), execute_missing)
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source),
                           str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SiteError("Sphinx failed (warnings are errors: a broken link or a missing page):\n"
                        + (done.stderr or done.stdout)[-4000:])
    return out


def pages(out: Path) -> dict[str, str]:
    """The built site's HTML pages by path (for tests)."""
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*.html")}
