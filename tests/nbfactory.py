"""Small in-memory notebooks for the tooling tests."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def code(source, *tags, outputs=None, count=None):
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if outputs is not None:
        cell.outputs = outputs
        cell.execution_count = count
    return cell


def markdown(source, *tags):
    cell = new_markdown_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def spine_notebook():
    """A minimal notebook that follows the lesson spine (used by the lint tests and the grading test)."""
    return notebook(
        markdown("# Lesson 99\n\nLearning objectives: x. Prerequisites: y. Expected time: 1 minute."),
        markdown("## Setup"),
        code("import learnopt_course as lo\ncfg = lo.setup(seed=0)"),
        markdown("## Intuition\n\n## Exercises"),
        code("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "exercise-99.1"),
        code("lo.checks.core  # placeholder check\nassert double(2) == 4", "check-99.1"),
        markdown("## Interactive exploration\n\n## Experiment"),
        code("print(round(double(1.5), 1))", "nbval-check-output", outputs=[stream("3.0\n")], count=4),
        markdown("## Summary\n\n## References"),
    )
