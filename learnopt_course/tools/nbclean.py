"""Strip outputs from solution notebooks, except golden cells (tag ``nbval-check-output``), which keep theirs.

Golden cells print rounded, machine-independent facts; nbval compares them on every CI run. Everything else is
removed so that diffs stay readable and notebooks carry no machine-specific output.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import notebooks


def clean(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` with non-golden outputs, execution counts, timing metadata and widget state removed."""
    out = nbformat.from_dict(nb)
    for cell in out.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type != "code":
            continue
        if notebooks.GOLDEN_TAG not in notebooks.tags(cell):
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.outputs = _coalesce_streams(cell.outputs)
    out.metadata.pop("widgets", None)
    if "language_info" in out.metadata:
        out.metadata["language_info"] = {"name": out.metadata["language_info"].get("name", "python")}
    return out


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name (the kernel may split one print into several chunks)."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = previous["text"] + output["text"]
        else:
            merged.append(output)
    return merged


def clean_paths(paths: list[Path], check: bool = False) -> list[Path]:
    """Clean every notebook in ``paths`` (files or folders). Returns those that changed (or would, with ``check``)."""
    changed = []
    for path in _expand(paths):
        nb = notebooks.read(path)
        cleaned = clean(nb)
        if notebooks.dumps(cleaned) != path.read_text(encoding="utf-8"):
            changed.append(path)
            if not check:
                notebooks.write(cleaned, path)
    return changed


def _expand(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(sorted(path.glob("*.ipynb")))
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{str(path)!r} is neither a notebook nor a folder of notebooks")
    return found
