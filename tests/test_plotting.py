"""Plotting functions draw what they are given (checked on the Axes), label axes, and reject bad shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from learnopt_course import plotting  # noqa: E402
from learnopt_course.tasks import Quadratic, Rosenbrock  # noqa: E402


def test_contour_draws_each_trajectory_with_start_and_minimum():
    fig, ax = plt.subplots()
    a = torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    plotting.contour(Rosenbrock(), {"a": a, "b": a.numpy() * 0.5}, ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "a" in labels and "b" in labels and "minimum" in labels
    line_a = next(line for line in ax.get_lines() if line.get_label() == "a")
    assert np.allclose(line_a.get_xydata(), a.numpy())
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "rosenbrock"
    assert ax.get_xlim() == Rosenbrock().bounds[0]
    styles = {(line.get_color(), str(line.get_linestyle())) for line in ax.get_lines() if line.get_label() in "ab"}
    assert len(styles) == 2
    plt.close(fig)


def test_contour_rejects_bad_trajectory_shape():
    with pytest.raises(ValueError, match=r"trajectories\['x'\] must have shape \[T, 2\]"):
        plotting.contour(Quadratic(), {"x": torch.zeros(5, 3)})
    plt.close("all")


def test_loss_curves_single_runs_and_seed_bands():
    fig, ax = plt.subplots()
    runs = torch.tensor([[1.0, 0.5, 0.25], [3.0, 1.5, 0.75]])
    plotting.loss_curves({"one": [1.0, 0.1, 0.01], "seeds": runs}, ax=ax, band="minmax")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert np.allclose(lines["one"].get_ydata(), [1.0, 0.1, 0.01])
    assert np.allclose(lines["seeds (mean of 2)"].get_ydata(), [2.0, 1.0, 0.5])
    assert len(ax.collections) == 1 and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="band must be"):
        plotting.loss_curves({"x": [1.0]}, band="iqr")
    with pytest.raises(ValueError, match=r"1-D \[T\] or 2-D"):
        plotting.loss_curves({"x": torch.zeros(2, 2, 2)})
    plt.close("all")


def test_show_embeds_alt_text(capsys):
    fig, _ = plt.subplots()
    assert plotting.show(fig, alt='a "quoted" plot') is None
    with pytest.raises(ValueError, match="alt must be a non-empty description"):
        plotting.show(plt.subplots()[0], alt=" ")
    plt.close("all")


def test_style_pairs_are_distinct():
    pairs = {(plotting.style(i)["color"], str(plotting.style(i)["linestyle"])) for i in range(8)}
    assert len(pairs) == 8
