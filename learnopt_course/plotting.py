"""Pure plotting functions: each takes data (and optionally an Axes) and returns the Axes it drew on.

Nothing here runs an optimizer, so the functions are unit-tested on small arrays. Colours come from the
colour-blind-safe palette of :mod:`learnopt_course.config`, always paired with distinct line styles.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import numpy as np
import torch

from .config import LINESTYLES, PALETTE
from .tasks.landscapes import Landscape



def style(i: int) -> dict[str, object]:
    """Colour and line style of the ``i``-th series (the pair is unique for the first 8)."""
    return {"color": PALETTE[i % len(PALETTE)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def _numpy(x: object, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be array-like numbers; got {type(x).__name__}") from err


def _axes(ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def contour(landscape: Landscape, trajectories: Mapping[str, object] | None = None, ax=None, *, n: int = 150,
            levels: int = 25, log_levels: bool = True, title: str | None = None):
    """Filled contours of ``landscape`` over its bounds, with each trajectory ([T, 2] points) drawn on top.

    Log-spaced levels (on ``f - f_min``) show both the valley floor and the walls of ill-conditioned problems.
    """
    ax = _axes(ax)
    X, Y, Z = (t.numpy() for t in landscape.grid(n))
    if log_levels:
        shifted = Z - Z.min() + 1e-12
        lv = np.geomspace(max(shifted.min(), np.percentile(shifted, 0.5), 1e-8), shifted.max(), levels)
        ax.contourf(X, Y, shifted, levels=lv, norm=_log_norm(lv), cmap="viridis", alpha=0.85)
        ax.contour(X, Y, shifted, levels=lv, colors="white", linewidths=0.3, alpha=0.6)
    else:
        ax.contourf(X, Y, Z, levels=levels, cmap="viridis", alpha=0.85)
    for i, (label, points) in enumerate((trajectories or {}).items()):
        pts = _numpy(points, f"trajectories[{label!r}]")
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"trajectories[{label!r}] must have shape [T, 2]; got {pts.shape}")
        s = style(i + 1)  # skip the first colour, which is dark blue like the low contours
        ax.plot(pts[:, 0], pts[:, 1], marker="o", markersize=2.5, linewidth=1.4, label=label, **s)
        ax.plot(pts[0, 0], pts[0, 1], marker="s", color=s["color"], markersize=6)
    mins = landscape.minima.numpy()
    ax.plot(mins[:, 0], mins[:, 1], linestyle="none", marker="*", color="white", markeredgecolor="black",
            markersize=12, label="minimum")
    (x0, x1), (y0, y1) = landscape.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$ (parameter, no unit)")
    ax.set_ylabel("$x_2$ (parameter, no unit)")
    ax.set_title(title or landscape.name)
    if trajectories:
        ax.legend(loc="upper right", fontsize="small", frameon=True)
    return ax


def _log_norm(levels: np.ndarray):
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=levels[0], vmax=levels[-1])


def loss_curves(curves: Mapping[str, object], ax=None, *, log: bool = True, xlabel: str = "iteration $t$",
                ylabel: str = "loss", title: str | None = None, band: str = "std"):
    """One line per entry. A 1-D entry is a single run; a 2-D entry ``[seeds, T]`` is drawn as its mean with a
    shaded band (``band="std"``: mean +- one standard deviation; ``"minmax"``: the range over seeds)."""
    if band not in {"std", "minmax"}:
        raise ValueError(f"band must be 'std' or 'minmax'; got {band!r}")
    ax = _axes(ax)
    for i, (label, values) in enumerate(curves.items()):
        y = _numpy(values, f"curves[{label!r}]")
        if y.ndim not in (1, 2):
            raise ValueError(f"curves[{label!r}] must be 1-D [T] or 2-D [seeds, T]; got shape {y.shape}")
        s = style(i)
        if y.ndim == 1:
            ax.plot(np.arange(len(y)), y, label=label, **s)
            continue
        mean = y.mean(0)
        lo, hi = (mean - y.std(0), mean + y.std(0)) if band == "std" else (y.min(0), y.max(0))
        if log:
            lo = np.maximum(lo, np.minimum(mean, y.min(0)) * 0.5)
        t = np.arange(y.shape[1])
        ax.plot(t, mean, label=f"{label} (mean of {y.shape[0]})", **s)
        ax.fill_between(t, lo, hi, color=s["color"], alpha=0.2, linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(fontsize="small")
    return ax


def show(fig, alt: str) -> None:
    """Display ``fig`` as an image with alt text (for screen readers) and close it.

    Returns ``None`` on purpose, so a ``show(...)`` on a cell's last line does not display the figure twice.
    """
    from IPython.display import HTML, display
    import html
    import matplotlib.pyplot as plt

    if not alt or not alt.strip():
        raise ValueError("alt must be a non-empty description of the figure")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    display(HTML(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}"/>'))
