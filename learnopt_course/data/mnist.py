"""MNIST (LeCun, Cortes & Burges): the four official IDX files, md5-checked, decoded by our own reader."""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .files import DataError, Opener, candidate_roots, verify
from .files import download as fetch

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FILES: dict[str, dict[str, tuple[str, str]]] = {
    "train": {
        "images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    },
    "test": {
        "images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        "labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
}
SIZES = {"train": 60000, "test": 10000}
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Decode a gzipped IDX file (magic ``0x0000 <type> <ndim>``, big-endian sizes, then the data)."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is not a complete gzip file ({err}); delete it and load again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES:
        raise DataError(f"{path}: IDX element type 0x{dtype_code:02x} is not supported (only unsigned bytes)")
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header promises {expected} values of shape {shape}, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(filename: str, md5: str, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        path = root / "mnist" / filename
        if path.is_file():
            verify(path, md5)  # a present but corrupt file is an error, never silently used or skipped
            return path
    return None


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    opener: Opener | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``(images, labels)``: uint8 ``[N, 28, 28]`` and int64 ``[N]``; N = 60000 (train) or 10000 (test).

    Files are looked for in ``<root>/mnist/`` for each root of :func:`~learnopt_course.data.candidate_roots`; when
    missing and ``download`` is true they are fetched from the official mirrors into the first root.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    roots = candidate_roots(root)
    paths: dict[str, Path] = {}
    missing: list[tuple[str, str, str]] = []
    for kind, (filename, md5) in FILES[split].items():
        found = _find(filename, md5, roots)
        if found is None:
            missing.append((kind, filename, md5))
        else:
            paths[kind] = found
    if missing and download:
        errors = []
        for kind, filename, md5 in missing:
            try:
                paths[kind] = fetch([m + filename for m in MIRRORS], roots[0] / "mnist" / filename, md5, opener)
            except DataError as err:
                errors.append(str(err))
        if errors:
            raise DataError(_missing_message([m[1] for m in missing], roots) + "\nDownload failed:\n" + "\n".join(errors))
    elif missing:
        raise DataError(_missing_message([m[1] for m in missing], roots))
    images = read_idx(paths["images"])
    labels = read_idx(paths["labels"])
    if images.shape != (SIZES[split], 28, 28) or labels.shape != (SIZES[split],):
        raise DataError(f"MNIST {split}: unexpected shapes {images.shape} and {labels.shape}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def _missing_message(filenames: list[str], roots: Sequence[Path]) -> str:
    looked = "\n".join(f"  {r / 'mnist'}" for r in roots)
    return (
        f"MNIST files not found: {', '.join(filenames)}.\nLooked in:\n{looked}\n"
        "To provide them: call with download=True on a machine with internet access, or copy the official files "
        "into <root>/mnist/ and pass root=... or set LEARNOPT_DATA=<root>."
    )
