"""Omniglot (Lake, Salakhutdinov & Tenenbaum 2015) from the official layout, decoded once and cached.

Layout: ``<root>/omniglot/images_background/<alphabet>/characterNN/<id>_<drawer>.png`` (964 characters in 30
alphabets) and ``images_evaluation/...`` (659 characters in 20 alphabets), 20 drawers each. When absent, the official
zips are downloaded (md5-verified) and extracted. Images are returned as ink intensity (0 = paper, 255 = ink),
resized to ``size x size`` (28 is the usual few-shot size).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import atomic_path
from .files import DataError, Opener, candidate_roots, default_cache, extract_zip, verify
from .files import download as fetch

SPLITS: dict[str, tuple[str, int, int]] = {  # split -> (folder, alphabets, characters)
    "background": ("images_background", 30, 964),
    "evaluation": ("images_evaluation", 20, 659),
}
ZIP_MD5 = {"images_background": "68d2efa1b9178cc56df9314c21c6e718", "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811"}
MIRROR = "https://github.com/brendenlake/omniglot/raw/master/python/"
DRAWERS = 20
CACHE_VERSION = 1


@dataclass
class OmniglotSplit:
    """``images``: uint8 ``[characters, 20, size, size]`` (ink = 255); names of each character's alphabet and id."""

    images: torch.Tensor
    alphabets: list[str]
    characters: list[str]
    split: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def alphabet_names(self) -> list[str]:
        return sorted(set(self.alphabets))


def _listing(folder: Path) -> list[tuple[str, str, list[Path]]]:
    characters = []
    for alphabet in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for character in sorted(p for p in alphabet.iterdir() if p.is_dir()):
            files = sorted(character.glob("*.png"))
            if len(files) != DRAWERS:
                raise DataError(f"{character} has {len(files)} images; every Omniglot character has {DRAWERS}")
            characters.append((alphabet.name, character.name, files))
    return characters


def _fingerprint(listing: list[tuple[str, str, list[Path]]], size: int) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{size}".encode())
    for _, _, files in listing:
        for f in files:
            stat = f.stat()
            digest.update(f"{f.parent.parent.name}/{f.parent.name}/{f.name}:{stat.st_size}".encode())
    return digest.hexdigest()[:16]


def _decode(listing: list[tuple[str, str, list[Path]]], size: int) -> torch.Tensor:
    from PIL import Image

    from ..progress import progress

    out = np.empty((len(listing), DRAWERS, size, size), dtype=np.uint8)
    for i, (_, _, files) in enumerate(progress(listing, desc="decoding Omniglot")):
        for j, f in enumerate(files):
            with Image.open(f) as img:
                ink = Image.fromarray(255 - np.asarray(img.convert("L"), dtype=np.uint8))
            if ink.size != (size, size):
                ink = ink.resize((size, size), Image.Resampling.BOX)
            out[i, j] = np.asarray(ink, dtype=np.uint8)
    return torch.from_numpy(out)


def _locate(folder_name: str, roots: list[Path]) -> Path | None:
    for root in roots:
        candidate = root / "omniglot" / folder_name
        if candidate.is_dir():
            return candidate
    return None


def _cache_dir(cache: str | os.PathLike | None) -> Path:
    if cache is not None:
        return Path(cache)
    env = os.environ.get("LEARNOPT_CACHE")
    return Path(env) if env else default_cache() / "decoded"


def load_omniglot(
    split: str = "background",
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    size: int = 28,
    cache: str | os.PathLike | None = None,
    opener: Opener | None = None,
) -> OmniglotSplit:
    """Load an Omniglot split (``background`` or ``evaluation``), resized to ``size``; decoded once and cached.

    The decoded tensor is cached under ``cache`` (default ``$LEARNOPT_CACHE`` or ``~/.cache/learnopt_course/decoded``),
    keyed by the image list and size, written atomically; an unwritable or damaged cache is skipped with a warning.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'background' or 'evaluation'; got {split!r}")
    if not isinstance(size, int) or not 4 <= size <= 105:
        raise ValueError(f"size must be an integer from 4 to 105; got {size!r}")
    folder_name, n_alphabets, n_characters = SPLITS[split]
    roots = candidate_roots(root)
    folder = _locate(folder_name, roots)
    if folder is None and download:
        folder = _download_split(folder_name, roots[0] / "omniglot", opener, roots)
    if folder is None:
        looked = "\n".join(f"  {r / 'omniglot' / folder_name}" for r in roots)
        raise DataError(
            f"Omniglot {split} images not found.\nLooked in:\n{looked}\nTo provide them: call with download=True on a "
            f"machine with internet access, or unzip the official {folder_name}.zip into <root>/omniglot/ and pass "
            "root=... or set LEARNOPT_DATA=<root>."
        )
    listing = _listing(folder)
    alphabets = [a for a, _, _ in listing]
    if len(listing) != n_characters or len(set(alphabets)) != n_alphabets:
        raise DataError(
            f"{folder} holds {len(listing)} characters in {len(set(alphabets))} alphabets; the official {split} set "
            f"has {n_characters} in {n_alphabets}. Re-extract {folder_name}.zip."
        )
    images = _cached_decode(listing, size, split, _cache_dir(cache))
    return OmniglotSplit(images, alphabets, [f"{a}/{c}" for a, c, _ in listing], split)


def _cached_decode(listing, size: int, split: str, cache_dir: Path) -> torch.Tensor:
    path = cache_dir / f"omniglot_{split}_{size}_{_fingerprint(listing, size)}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # a damaged cache is rebuilt, never trusted
            warnings.warn(f"ignoring the damaged Omniglot cache {path} ({type(err).__name__}: {err}); decoding again",
                          RuntimeWarning, stacklevel=3)
    images = _decode(listing, size)
    try:
        with atomic_path(path) as tmp:
            torch.save(images, tmp)
    except (OSError, RuntimeError) as err:  # an unwritable cache (torch.save reports a full disk as RuntimeError)
        warnings.warn(f"could not write the Omniglot cache {path} ({type(err).__name__}: {err}); continuing without it",
                      RuntimeWarning, stacklevel=3)
    return images


def _download_split(folder_name: str, destination: Path, opener: Opener | None, roots: list[Path]) -> Path:
    archive = destination / f"{folder_name}.zip"
    try:
        if not archive.is_file():
            fetch([MIRROR + archive.name], archive, ZIP_MD5[folder_name], opener)
        else:
            verify(archive, ZIP_MD5[folder_name])
        return extract_zip(archive, destination, folder_name)
    except DataError as err:
        looked = "\n".join(f"  {r / 'omniglot' / folder_name}" for r in roots)
        raise DataError(f"Omniglot {folder_name} not found (looked in:\n{looked})\nand the download failed: {err}") from err
