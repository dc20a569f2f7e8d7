"""``LEARNOPT_SCALE=full``: every lesson defines its paper-scale settings in one registry, its notebook reads every
one of them (and nothing else decides its scale), and INSTRUCTORS.md lists them. Nothing here runs a full-scale
lesson."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import learnopt_course as lo
from learnopt_course import scales

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _code(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_every_lesson_has_an_entry_and_no_entry_lacks_a_lesson():
    assert SOLUTIONS
    assert sorted(p.name[:2] for p in SOLUTIONS) == sorted(scales.SCALES)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name[:2])
def test_the_notebook_reads_every_setting_of_its_lesson_and_nothing_else_sets_its_scale(path):
    number, code = path.name[:2], _code(path)
    assert f'SCALE = lo.scales.lesson("{number}", cfg)' in code
    entry = scales.SCALES[number]
    unread = [k for k in entry.ci if not re.search(rf"\bSCALE\.{k}\b", code)]
    assert not unread, f"{path.name} never reads {unread}: full scale would not change them"
    unknown = set(re.findall(r"\bSCALE\.(\w+)", code)) - set(entry.ci)
    assert not unknown, f"{path.name} reads settings its entry lacks: {sorted(unknown)}"
    for other in ("cfg.pick(", "cfg.quick", "cfg.scale", "os.environ", "getenv("):
        assert other not in code, f"{path.name} decides its scale with {other} outside the registry"


def test_full_scale_changes_something_everywhere_and_names_its_source_and_costs():
    for entry in scales.SCALES.values():
        assert entry.ci != entry.full and entry.source and entry.gpu and entry.cpu_minutes > 0
        assert entry.cpu_note.startswith(("measured", "estimated"))
        ci, full = entry.settings("ci"), entry.settings("full")
        assert vars(ci) == entry.ci and vars(full) == entry.full


def test_settings_follow_the_scale_of_the_lesson_config():
    cfg = lo.setup(seed=0, scale="full", plot_style=False)
    assert scales.lesson("5", cfg) == scales.SCALES["05"].settings("full")
    assert scales.lesson("05", lo.setup(seed=0, scale="ci", plot_style=False)).test_problems == (1001, 1002, 1003)
    with pytest.raises(KeyError, match="no scale settings for lesson '99'"):
        scales.lesson("99", cfg)
    with pytest.raises(ValueError, match="scale must be 'ci' or 'full'; got 'huge'"):
        scales.SCALES["01"].settings("huge")
    with pytest.raises(ValueError, match="must name the same settings"):
        scales.LessonScale("00", ci={"a": 1}, full={"b": 2}, source="s", cpu_minutes=1, cpu_note="measured", gpu="g")
    with pytest.raises(ValueError, match="must change at least one setting"):
        scales.LessonScale("00", ci={"a": 1}, full={"a": 1}, source="s", cpu_minutes=1, cpu_note="measured", gpu="g")


def test_instructors_lists_the_registry():
    assert scales.instructors_table() in (ROOT / "INSTRUCTORS.md").read_text()
