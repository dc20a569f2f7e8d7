"""The course website (`learnopt site`): built with Sphinx + MyST-NB from executed solution notebooks, with the
student notebooks downloadable and internal links checked (warnings are errors). CI builds the real site after the
test suite (.ci/run); here a two-lesson course is built, once from the cache the test run writes and once executing."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from learnopt_course.tools import site
from learnopt_course.tools.executed import SOURCE_KEY, source_digest, with_outputs
from nbfactory import code, notebook

ROOT = Path(__file__).resolve().parents[1]


def _course(tmp_path: Path, link: str = "[the other lesson](02_b.ipynb)") -> Path:
    root = tmp_path / "course"
    shutil.copytree(ROOT / "docs", root / "docs")
    (root / "solutions").mkdir(parents=True)
    (root / "notebooks").mkdir()
    for name, title, body in (("01_a", "Lesson 01: first", f"See {link}."), ("02_b", "Lesson 02: second", "Done.")):
        nb = notebook(code("print('hello from', 6 * 7)"))
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {title}\n\n{body}"))
        nbformat.write(nb, str(root / "solutions" / f"{name}.ipynb"))
        nbformat.write(nb, str(root / "notebooks" / f"{name}.ipynb"))
    return root


def test_the_site_has_every_lesson_with_its_outputs_and_its_student_download(tmp_path):
    root = _course(tmp_path)
    cache = tmp_path / "executed"
    cache.mkdir()
    # the test run's copy of lesson 01 is used as it is; lesson 02 has none and is executed here
    nbformat.write(with_outputs(root / "solutions" / "01_a.ipynb",
                                {0: [nbformat.v4.new_output("stream", name="stdout", text="from the test run\n")]}),
                   str(cache / "01_a.ipynb"))
    out = site.build(root, tmp_path / "site", cache=cache)
    pages = site.pages(out)
    assert "from the test run" in pages["lessons/01_a.html"] and "hello from 42" in pages["lessons/02_b.html"]
    assert 'href="lessons/01_a.html"' in pages["index.html"] and "Lesson 02: second" in pages["index.html"]
    downloads = list((out / "_downloads").rglob("*.ipynb"))
    assert sorted(p.name for p in downloads) == ["01_a.ipynb", "02_b.ipynb"]
    assert all(f"_downloads/{p.parent.name}/{p.name}" in pages["index.html"] for p in downloads)
    assert 'href="02_b.html"' in pages["lessons/01_a.html"]  # a link between notebooks becomes a link between pages
    executed = nbformat.read(str(cache / "02_b.ipynb"), as_version=4)  # stored for the next build
    assert executed.metadata.learnopt[SOURCE_KEY] == source_digest(root / "solutions" / "02_b.ipynb")


def test_a_broken_internal_link_or_a_stale_copy_fails_the_build(tmp_path):
    root = _course(tmp_path, link="[a lesson that is not there](03_missing.ipynb)")
    with pytest.raises(site.SiteError, match="no executed copy of 01_a.ipynb"):
        site.build(root, tmp_path / "site", cache=tmp_path / "empty", execute_missing=False)
    with pytest.raises(site.SiteError, match="Sphinx failed"):
        site.build(root, tmp_path / "site", cache=tmp_path / "executed")
