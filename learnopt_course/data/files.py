"""Where data lives and how it arrives: root resolution, md5 checks and atomic, verified downloads."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..core import atomic_path

Opener = Callable[[str], BinaryIO]
CHUNK = 1 << 20


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or could not be downloaded; the message says which and what to do."""


def default_cache() -> Path:
    return Path.home() / ".cache" / "learnopt_course"


def candidate_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """The data roots in the order they are searched: ``root``, then ``LEARNOPT_DATA``, then the user cache."""
    roots: list[Path] = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get("LEARNOPT_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(default_cache())
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, md5: str) -> None:
    """Raise :class:`DataError` naming ``path`` when its md5 is not ``md5``."""
    actual = md5sum(path)
    if actual != md5:
        raise DataError(
            f"{path} is corrupt or truncated: its md5 is {actual}, expected {md5}. "
            "Delete it and load again to re-download it, or replace it with a good copy."
        )


def _urlopen(url: str) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": "learnopt-course"})
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 - fixed https mirrors


def download(urls: Sequence[str], target: Path, md5: str, opener: Opener | None = None) -> Path:
    """Download the first mirror that works into ``target``, atomically and verified.

    The bytes go to a temporary file in ``target``'s folder; only a file whose md5 matches is renamed to
    ``target``. An interrupted or corrupt download leaves nothing behind. Raises :class:`DataError` listing every
    mirror's failure.
    """
    from ..progress import progress

    opener = opener or _urlopen
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            with atomic_path(target) as tmp:  # renamed into place only if the block finishes: verified bytes
                with open(tmp, "wb") as out, opener(url) as response:
                    total = getattr(response, "length", None)
                    with progress(total=total, desc=f"downloading {target.name}", unit="B", unit_scale=True) as bar:
                        for block in iter(lambda: response.read(CHUNK), b""):
                            out.write(block)
                            bar.update(len(block))
                actual = md5sum(tmp)
                if actual != md5:
                    raise DataError(f"checksum mismatch (md5 {actual}, expected {md5})")
            return target
        except Exception as err:  # any failure of this mirror: note it (the temporary file is gone), try the next
            failures.append(f"{url}: {type(err).__name__}: {err}")
    raise DataError(f"could not download {target.name} to {target.parent}:\n  " + "\n  ".join(failures))


def extract_zip(archive: Path, destination: Path, member_root: str) -> Path:
    """Extract ``archive`` (whose entries live under ``member_root/``) so that ``destination/member_root`` appears
    only when complete: extraction happens in a temporary folder that is renamed into place at the end."""
    import zipfile

    final = destination / member_root
    tmp = Path(tempfile.mkdtemp(prefix=f".{member_root}.", dir=destination))
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not (name == f"{member_root}/" or name.startswith(f"{member_root}/")) or ".." in Path(name).parts:
                    raise DataError(f"{archive} has an unexpected entry {name!r} (expected everything under {member_root}/)")
            zf.extractall(tmp)
        (tmp / member_root).replace(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
