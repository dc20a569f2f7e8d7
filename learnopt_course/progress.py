"""Progress bars for anything that takes more than a few seconds, silent in CI and under ``LEARNOPT_QUIET``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_FALSE = {"", "0", "false", "no", "off"}


def quiet() -> bool:
    """True when progress bars should be hidden: ``CI`` or ``LEARNOPT_QUIET`` set to a true value."""
    return any(os.environ.get(var, "").strip().lower() not in _FALSE for var in ("CI", "LEARNOPT_QUIET"))


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str | None = None, **kwargs: Any):
    """A ``tqdm.auto`` bar (a notebook widget in Jupyter, text in a terminal), disabled when :func:`quiet`."""
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=quiet(), **kwargs)
