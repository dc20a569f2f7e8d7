"""Notebook setup: seeds, threads, scale, device, plot style and a version check.

Every lesson starts with ``cfg = lo.setup(seed=0, requires="0.1")``. The returned :class:`Config` carries the
choices a lesson needs (``cfg.scale``, ``cfg.device``, ``cfg.generator``) so no cell reads the environment itself.
"""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from ._version import __version__

Scale = Literal["ci", "full"]
SCALES: tuple[str, ...] = ("ci", "full")

# Okabe & Ito (2008) colour-blind-safe palette, paired with distinct line styles so that figures also read in grey.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), (0, (5, 5)))


@dataclass(frozen=True)
class Config:
    """What :func:`setup` decided; pass it (or its fields) to library functions instead of reading globals."""

    seed: int
    scale: Scale
    device: torch.device
    threads: int
    version: str = __version__
    generator: torch.Generator = field(repr=False, compare=False, default_factory=torch.Generator)

    @property
    def quick(self) -> bool:
        """True at the default, CI-sized scale."""
        return self.scale == "ci"

    def pick(self, ci: object, full: object) -> object:
        """Return ``ci`` at CI scale and ``full`` at paper scale (for sizes, step counts, seeds)."""
        return ci if self.scale == "ci" else full


def resolve_scale(scale: str | None = None) -> Scale:
    """The scale: the argument, else ``LEARNOPT_SCALE``, else ``"ci"``. Unknown names raise ``ValueError``."""
    source = "scale"
    if scale is None:
        scale = os.environ.get("LEARNOPT_SCALE", "ci")
        source = "LEARNOPT_SCALE"
    name = str(scale).strip().lower()
    if name not in SCALES:
        raise ValueError(f"{source} must be one of {', '.join(repr(s) for s in SCALES)}; got {scale!r}")
    return name  # type: ignore[return-value]


def resolve_threads(threads: int | None = None) -> int:
    """Thread count: the argument, else ``OMP_NUM_THREADS``, else up to 4 (laptops gain little beyond that)."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise ValueError(f"OMP_NUM_THREADS must be a positive integer; got {env!r}") from None
        else:
            threads = min(4, os.cpu_count() or 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}")
    return threads


def resolve_device(device: str | None = None) -> torch.device:
    """CPU unless asked otherwise, at both scales: ``device``, else ``LEARNOPT_DEVICE``, else ``"cpu"``.

    The lessons' cells build some tensors themselves (on the CPU), so the notebooks run on the CPU; ``"cuda"`` puts
    the library's tasks, meta-trainers and experiments on a GPU (scripts, ``learnopt reproduce --device cuda``)."""
    name = device or os.environ.get("LEARNOPT_DEVICE") or "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device must be a torch device name such as 'cpu' or 'cuda'; got {name!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but CUDA is not available on this machine")
    return dev


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_version(requires: str | None, installed: str = __version__) -> None:
    """Compare the version a notebook was written for with the installed package.

    Older installed package: ``RuntimeError`` with the upgrade command. Different minor series: a warning.
    """
    if requires is None:
        return
    want, have = _version_tuple(str(requires)), _version_tuple(installed)
    if not want:
        raise ValueError(f"requires must be a version string such as '0.1'; got {requires!r}")
    if have[: len(want)] < want:
        raise RuntimeError(
            f"this notebook needs learnopt_course >= {requires}, but {installed} is installed; "
            "run `pip install -c constraints.txt -e .` in the course folder"
        )
    if have[:2] != (want + (0,))[:2]:
        warnings.warn(
            f"this notebook was written for learnopt_course {requires}; {installed} is installed, "
            "so some outputs may differ (regenerate with `learnopt student`)",
            stacklevel=3,
        )


def set_plot_style() -> None:
    """A readable, colour-blind-safe matplotlib style: Okabe-Ito colours cycled together with line styles."""
    import matplotlib as mpl
    from cycler import cycler

    n = len(PALETTE)
    mpl.rcParams.update(
        {
            "axes.prop_cycle": cycler(color=list(PALETTE)) + cycler(linestyle=list(LINESTYLES[:n])),
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "image.cmap": "viridis",
        }
    )


_DEVICE = torch.device("cpu")


def default_device() -> torch.device:
    """The device the last :func:`setup` chose (``cfg.device``; CPU before any setup): where the task factories
    (MNIST tasks, quadratics, bilevel problems) put their data and parameters unless told otherwise."""
    return _DEVICE


def use_device(device: str | torch.device | None = None) -> torch.device:
    """Make ``device`` (resolved by :func:`resolve_device`) the task factories' default: :func:`setup` does it with
    ``cfg.device``, scripts without a lesson's setup call it directly (``learnopt reproduce --device``)."""
    dev = resolve_device(None if device is None else str(device))
    global _DEVICE
    _DEVICE = dev
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded with ``seed`` for explicit use."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def setup(
    seed: int = 0,
    scale: str | None = None,
    *,
    requires: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    plot_style: bool = True,
) -> Config:
    """Prepare a lesson: seeds, thread count, scale (``ci`` or ``full``), device, plot style, version check.

    Prints nothing, so the setup cell's output is the same on every machine.
    """
    check_version(requires)
    chosen_scale = resolve_scale(scale)
    n_threads = resolve_threads(threads)
    torch.set_num_threads(n_threads)
    generator = seed_everything(seed)
    dev = use_device(device)
    if plot_style:
        set_plot_style()
    return Config(seed=seed, scale=chosen_scale, device=dev, threads=n_threads, generator=generator)
