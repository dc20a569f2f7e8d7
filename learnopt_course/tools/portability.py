"""Golden cells that survive another CPU: run notebooks under switched numeric kernels and compare.

PyTorch and MKL pick their kernels per CPU (AVX-512, AVX2, plain C++), and chaotic training amplifies the last-bit
differences between them, so a golden cell that prints a trained loss to four decimals passes on one laptop and fails
on the next. The same differences appear on one machine when the kernels are switched by environment variables:
``ATEN_CPU_CAPABILITY=default`` makes PyTorch use its unvectorised kernels and ``MKL_CBWR=COMPATIBLE`` makes MKL use
its conditional-numerical-reproducibility path. This module names those variables (:data:`SWITCHED_KERNELS`) and
compares the golden cells of an executed notebook with the stored outputs of its solution notebook
(:func:`golden_mismatches`); the test suite runs the student smoke run under switched kernels and fails on any
difference, so every lesson is checked on two kernel sets in one CI run (nbval checks the native ones).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from nbformat import NotebookNode

from .notebooks import GOLDEN_TAG, errors, tags

SWITCHED_KERNELS: dict[str, str] = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}


def output_text(cell: NotebookNode) -> str:
    """The text a golden cell shows, compared the way nbval compares it: the stdout stream, then the stderr stream
    (each concatenated on its own, so their interleaving does not matter), then the plain text of its results."""
    streams: dict[str, str] = {"stdout": "", "stderr": ""}
    results = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            name = out.get("name", "stdout")
            streams[name] = streams.get(name, "") + out.get("text", "")
        elif kind in ("execute_result", "display_data"):
            text = out.get("data", {}).get("text/plain")
            if text is not None and "image/png" not in out.get("data", {}):
                results.append(text if text.endswith("\n") else text + "\n")
    stderr = f"[stderr]\n{streams['stderr']}" if streams["stderr"] else ""
    return streams["stdout"] + stderr + "".join(results)


@dataclass(frozen=True)
class Mismatch:
    """A golden cell whose output differs from the stored one (``cell`` counts the solution's cells from 1)."""

    cell: int
    expected: str
    got: str

    def __str__(self) -> str:
        diff = difflib.unified_diff(
            self.expected.splitlines(), self.got.splitlines(), "stored", "switched kernels", lineterm="", n=0
        )
        return f"golden cell {self.cell}:\n" + "\n".join(list(diff)[2:])


def golden_mismatches(solution: NotebookNode, executed: NotebookNode) -> tuple[list[Mismatch], int]:
    """Compare each golden cell of ``executed`` that ran without error with the same cell stored in ``solution``.

    Cells are matched by source, so ``executed`` may be the student version (exercise cells stubbed, instructor
    cells removed). Returns the mismatches and the number of golden cells compared.
    """
    stored: dict[str, list[tuple[int, NotebookNode]]] = {}
    for number, cell in enumerate(solution.cells, start=1):
        if cell.cell_type == "code" and GOLDEN_TAG in tags(cell):
            stored.setdefault(cell.source, []).append((number, cell))
    mismatches, compared = [], 0
    for cell in executed.cells:
        if cell.cell_type != "code" or GOLDEN_TAG not in tags(cell) or errors(cell) or not stored.get(cell.source):
            continue
        number, reference = stored[cell.source].pop(0)
        compared += 1
        expected, got = output_text(reference), output_text(cell)
        if expected != got:
            mismatches.append(Mismatch(number, expected, got))
    return mismatches, compared
