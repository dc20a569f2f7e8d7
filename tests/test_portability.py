"""The portability check catches a golden cell that prints a chaotic decimal, and passes a rounded verdict."""

import nbformat

from learnopt_course.tools import notebooks
from learnopt_course.tools.portability import SWITCHED_KERNELS, golden_mismatches, output_text
from learnopt_course.tools.student import make_student

from nbfactory import code, notebook, stream

# A chaotic recurrence: tanh's vectorised and scalar kernels differ in the last bit, and 200 steps amplify it.
CHAOS = """import torch
g = torch.Generator().manual_seed(0)
w = torch.randn(50, 50, generator=g) * 0.5
h = torch.randn(50, generator=g)
for _ in range(200):
    h = torch.tanh(w @ h) * 1.5
"""


def _solution(tmp_path):
    """A solution notebook whose golden outputs are recorded on this machine's native kernels."""
    nb = notebook(
        code(CHAOS),
        code("print(f'state sum {float(h.sum()):.4f}')", "nbval-check-output"),
        code("print('bounded by 1.5:', bool(h.abs().max() <= 1.5))", "nbval-check-output"),
        code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", "exercise-1.1"),
        code("print('student answer', f(2))", "nbval-check-output"),
    )
    return notebooks.execute(nb, cwd=tmp_path, timeout=120)


def test_chaotic_decimal_is_caught_and_rounded_verdict_survives(tmp_path):
    solution = _solution(tmp_path)
    switched = notebooks.execute(make_student(solution), cwd=tmp_path, timeout=120, env=SWITCHED_KERNELS)
    mismatches, compared = golden_mismatches(solution, switched)
    assert compared == 2  # the cell calling the stubbed exercise raised and is not compared
    assert [m.cell for m in mismatches] == [2]
    assert "state sum" in str(mismatches[0]) and "golden cell 2" in str(mismatches[0])
    # the same kernels as the stored run reproduce every golden cell
    native = notebooks.execute(make_student(solution), cwd=tmp_path, timeout=120)
    assert golden_mismatches(solution, native) == ([], 2)


def test_output_text_reads_streams_and_results_but_not_figures():
    from nbformat.v4 import new_output

    cell = code("x", outputs=[stream("a\n"), new_output("execute_result", {"text/plain": "3"}, execution_count=1)])
    cell.outputs.append(new_output("display_data", {"text/plain": "<Figure>", "image/png": "AAAA"}))
    assert output_text(cell) == "a\n3\n"
    # stdout and stderr are compared each on its own, as nbval does: their interleaving does not matter
    err = nbformat.v4.new_output("stream", name="stderr", text="warning\n")
    one = code("x", outputs=[stream("a\n"), err, stream("b\n")])
    other = code("x", outputs=[err, stream("a\n"), stream("b\n")])
    assert output_text(one) == output_text(other) == "a\nb\n[stderr]\nwarning\n"


def test_refresh_refuses_a_golden_cell_that_depends_on_the_kernels(tmp_path, capsys):
    from learnopt_course.tools import cli

    path = tmp_path / "chaos.ipynb"
    nb = notebook(code(CHAOS), code("print(f'state sum {float(h.sum()):.4f}')", "nbval-check-output"))
    notebooks.write(nb, path)
    assert cli.main(["refresh", str(path), "--timeout", "120"]) == 1
    out = capsys.readouterr().out
    assert "golden cells print other text under" in out and "not written" in out and "golden cell 2" in out
    assert notebooks.read(path).cells[1].outputs == []  # nothing was written
    nb.cells[1] = code("print('bounded by 1.5:', bool(h.abs().max() <= 1.5))", "nbval-check-output")
    notebooks.write(nb, path)
    assert cli.main(["refresh", str(path), "--timeout", "120"]) == 0
    assert output_text(notebooks.read(path).cells[1]) == "bounded by 1.5: True\n"
