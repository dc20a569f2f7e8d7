"""Reading, writing and executing notebooks, shared by every tool (one place decides the on-disk format)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

GOLDEN_TAG = "nbval-check-output"
EXERCISE_TAG = re.compile(r"^exercise-(?P<id>[0-9]+(?:\.[0-9]+)*)$")
CHECK_TAG = re.compile(r"^check-(?P<id>[0-9]+(?:\.[0-9]+)*)$")
WRITTEN_TAG = re.compile(r"^written-(?P<id>[0-9]+(?:\.[0-9]+)*)$")


def read(path: str | Path) -> NotebookNode:
    """Read a notebook (nbformat 4), with a clear error when the file is missing or is not a notebook."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several unrelated types for bad JSON
        raise ValueError(f"{path}: not a readable Jupyter notebook ({err})") from err


def dumps(nb: NotebookNode) -> str:
    """The canonical text of a notebook: nbformat's JSON (indent 1, sorted keys) and a final newline."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def write(nb: NotebookNode, path: str | Path) -> None:
    """Write atomically: to a temporary file beside ``path``, then rename over it."""
    from ..core import atomic_write_text

    atomic_write_text(path, dumps(nb))


def tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def tagged_id(cell: NotebookNode, pattern: re.Pattern[str]) -> str | None:
    """The exercise id in a cell's ``exercise-N.M`` or ``check-N.M`` tag, if it has one."""
    for tag in tags(cell):
        match = pattern.match(tag)
        if match:
            return match.group("id")
    return None


def execute(
    nb: NotebookNode,
    cwd: str | Path,
    timeout: int = 600,
    allow_errors: bool = True,
    env: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
) -> NotebookNode:
    """Execute a copy of ``nb`` in a fresh kernel of the current environment, cell by cell, in ``cwd``.

    ``env`` adds (or overrides) environment variables of the kernel only, for example switched numeric kernels
    (:data:`learnopt_course.tools.portability.SWITCHED_KERNELS`); this process's environment is left alone.
    ``timeout`` bounds each cell; ``deadline_s`` bounds the whole notebook: a cell still running when it expires is
    interrupted, it and every later cell are left unexecuted, and ``copy.metadata.learnopt.timed_out`` says where.
    """
    import os
    import time

    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    os.environ["LEARNOPT_STATIC_WIDGETS"] = "1"  # inherited by the kernel: no output widgets when headless
    copy = nbformat.from_dict(nb)
    client = NotebookClient(
        copy,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        interrupt_on_timeout=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    kernel_env = {"env": {**os.environ, **env}} if env else {}
    if deadline_s is None:
        client.execute(**kernel_env)
        return copy
    end = time.monotonic() + deadline_s
    with client.setup_kernel(**kernel_env):
        for index, cell in enumerate(copy.cells):
            left = end - time.monotonic()
            if left <= 0:
                copy.metadata.setdefault("learnopt", {})["timed_out"] = index
                break
            client.timeout = max(1, int(min(timeout, left)))
            try:
                client.execute_cell(cell, index)
            except (CellTimeoutError, DeadKernelError):
                cell.outputs = []
                cell.execution_count = None
                copy.metadata.setdefault("learnopt", {})["timed_out"] = index
                break
    return copy


def errors(cell: NotebookNode) -> list[NotebookNode]:
    """The error outputs of an executed code cell."""
    return [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
