"""Loader failure paths on small generated fixtures: missing, corrupt, truncated, interrupted, mirrors, zips."""

import gzip
import hashlib
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from learnopt_course.data import DataError, candidate_roots, load_mnist, load_omniglot, mnist, omniglot
from learnopt_course.data.files import download, extract_zip


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture
def tiny_mnist(monkeypatch, tmp_path):
    """Tiny IDX files (5 'train' images) with the loader's md5 table pointed at them."""
    rng = np.random.default_rng(0)
    blobs = {
        "images": idx_bytes(rng.integers(0, 256, (5, 28, 28))),
        "labels": idx_bytes(np.array([3, 1, 4, 1, 5])),
    }
    names = {"images": "tiny-images.gz", "labels": "tiny-labels.gz"}
    table = {"train": {k: (names[k], hashlib.md5(v).hexdigest()) for k, v in blobs.items()}}
    monkeypatch.setattr(mnist, "FILES", table)
    monkeypatch.setattr(mnist, "SIZES", {"train": 5})
    monkeypatch.delenv("LEARNOPT_DATA", raising=False)
    monkeypatch.setattr("learnopt_course.data.files.default_cache", lambda: tmp_path / "home-cache")
    return blobs, names


def _write(root: Path, name: str, data: bytes) -> Path:
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    path = root / "mnist" / name
    path.write_bytes(data)
    return path


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, fail_after: int | None = None):
        super().__init__(data)
        self.length = len(data)
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer (simulated)")
        return super().read(min(n, 1000) if n > 0 else 1000)


def serve(files: dict[str, bytes], fail: set[str] = frozenset(), interrupt: set[str] = frozenset()):
    calls = []

    def opener(url):
        calls.append(url)
        name = url.rsplit("/", 1)[-1]
        if any(url.startswith(f) for f in fail):
            raise OSError("simulated: host unreachable")
        return FakeResponse(files[name], fail_after=1000 if name in interrupt else None)

    opener.calls = calls
    return opener


def test_root_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNOPT_DATA", str(tmp_path / "env"))
    roots = candidate_roots(tmp_path / "arg")
    assert roots[:2] == [tmp_path / "arg", tmp_path / "env"]
    assert roots[2] == Path.home() / ".cache" / "learnopt_course"


def test_reads_tiny_idx_from_root(tiny_mnist, tmp_path):
    blobs, names = tiny_mnist
    for k in blobs:
        _write(tmp_path, names[k], blobs[k])
    images, labels = load_mnist("train", root=tmp_path, download=False)
    assert images.shape == (5, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [3, 1, 4, 1, 5] and labels.dtype == torch.int64


def test_missing_offline_names_files_places_and_remedy(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNOPT_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_mnist("train", root=tmp_path / "arg", download=False)
    message = str(info.value)
    assert "tiny-images.gz" in message and "tiny-labels.gz" in message
    for place in (tmp_path / "arg" / "mnist", tmp_path / "env" / "mnist", tmp_path / "home-cache" / "mnist"):
        assert str(place) in message
    assert "download=True" in message and "LEARNOPT_DATA" in message


def test_wrong_checksum_is_an_error_naming_the_file(tiny_mnist, tmp_path):
    blobs, names = tiny_mnist
    _write(tmp_path, names["labels"], blobs["labels"])
    bad = _write(tmp_path, names["images"], blobs["images"][:-1] + b"x")
    with pytest.raises(DataError, match=r"tiny-images\.gz is corrupt or truncated: its md5 is [0-9a-f]{32}, expected"):
        load_mnist("train", root=tmp_path, download=True)
    assert bad.read_bytes().endswith(b"x"), "a user's file is never overwritten or deleted silently"


def test_truncated_gzip_is_reported(tiny_mnist, tmp_path, monkeypatch):
    blobs, names = tiny_mnist
    truncated = blobs["images"][: len(blobs["images"]) // 2]
    table = dict(mnist.FILES["train"], images=(names["images"], hashlib.md5(truncated).hexdigest()))
    monkeypatch.setattr(mnist, "FILES", {"train": table})
    _write(tmp_path, names["images"], truncated)
    _write(tmp_path, names["labels"], blobs["labels"])
    with pytest.raises(DataError, match=r"tiny-images\.gz is not a complete gzip file"):
        load_mnist("train", root=tmp_path, download=False)


def test_download_falls_back_to_next_mirror_and_verifies(tiny_mnist, tmp_path):
    blobs, names = tiny_mnist
    opener = serve({names[k]: v for k, v in blobs.items()}, fail={mnist.MIRRORS[0]})
    images, labels = load_mnist("train", root=tmp_path, opener=opener)
    assert labels.tolist() == [3, 1, 4, 1, 5]
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(names.values())
    assert any(c.startswith(mnist.MIRRORS[1]) for c in opener.calls)
    # the second load uses the verified files and downloads nothing
    opener.calls.clear()
    load_mnist("train", root=tmp_path, opener=opener)
    assert opener.calls == []


def test_interrupted_download_leaves_nothing(tiny_mnist, tmp_path):
    blobs, names = tiny_mnist
    opener = serve({names[k]: v for k, v in blobs.items()}, interrupt={names["images"]})
    with pytest.raises(DataError) as info:
        load_mnist("train", root=tmp_path, opener=opener)
    assert "ConnectionResetError" in str(info.value) and "tiny-images.gz" in str(info.value)
    assert not (tmp_path / "mnist" / names["images"]).exists()
    assert not list((tmp_path / "mnist").glob(".*part")), "no half-written temporary file remains"


def test_corrupt_download_is_rejected_and_removed(tmp_path):
    opener = serve({"f.bin": b"not what we expected"})
    with pytest.raises(DataError, match="checksum mismatch"):
        download(["https://mirror/f.bin"], tmp_path / "f.bin", "0" * 32, opener)
    assert list(tmp_path.iterdir()) == []


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'validation'"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="split must be 'background' or 'evaluation'; got 'train'"):
        load_omniglot("train")


# ---- Omniglot on a tiny generated tree ----------------------------------------------------------------------------
def _png(seed: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).random((20, 20)) > 0.2  # True = white paper, False = ink (as upstream)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _tiny_tree_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for a, alphabet in enumerate(("Alpha", "Beta")):
            for c in range(1, 3):
                for d in range(1, 21):
                    zf.writestr(f"images_evaluation/{alphabet}/character{c:02d}/{a}{c}_{d:02d}.png", _png(a * 100 + c * 20 + d))
    return buffer.getvalue()


@pytest.fixture
def tiny_omniglot(monkeypatch, tmp_path):
    blob = _tiny_tree_zip()
    monkeypatch.setattr(omniglot, "SPLITS", {"evaluation": ("images_evaluation", 2, 4)})
    monkeypatch.setattr(omniglot, "ZIP_MD5", {"images_evaluation": hashlib.md5(blob).hexdigest()})
    monkeypatch.delenv("LEARNOPT_DATA", raising=False)
    monkeypatch.setattr("learnopt_course.data.files.default_cache", lambda: tmp_path / "home-cache")
    return blob


def test_omniglot_download_extract_decode_and_cache(tiny_omniglot, tmp_path, monkeypatch):
    opener = serve({"images_evaluation.zip": tiny_omniglot})
    data = load_omniglot("evaluation", root=tmp_path / "data", size=10, cache=tmp_path / "cache", opener=opener)
    assert data.images.shape == (4, 20, 10, 10) and data.images.dtype == torch.uint8
    assert data.alphabet_names == ["Alpha", "Beta"] and data.characters[0] == "Alpha/character01"
    assert int(data.images.max()) > 0, "ink is stored as high values"
    assert (tmp_path / "data" / "omniglot" / "images_evaluation" / "Beta" / "character02").is_dir()
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    # the second load reads the cache: decoding is not called again
    monkeypatch.setattr(omniglot, "_decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded twice")))
    again = load_omniglot("evaluation", root=tmp_path / "data", size=10, cache=tmp_path / "cache", opener=opener)
    assert torch.equal(again.images, data.images)
    assert len(opener.calls) == 1


def test_omniglot_corrupt_zip_leaves_nothing(tiny_omniglot, tmp_path):
    opener = serve({"images_evaluation.zip": tiny_omniglot[:-10] + b"0123456789"})
    with pytest.raises(DataError, match="checksum mismatch"):
        load_omniglot("evaluation", root=tmp_path / "data", cache=tmp_path / "cache", opener=opener)
    leftovers = [p for p in (tmp_path / "data" / "omniglot").rglob("*")]
    assert leftovers == []


def test_omniglot_missing_offline_message(tiny_omniglot, tmp_path):
    with pytest.raises(DataError) as info:
        load_omniglot("evaluation", root=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "omniglot" / "images_evaluation") in message
    assert "images_evaluation.zip" in message and "LEARNOPT_DATA" in message


def test_zip_with_unexpected_entries_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("images_evaluation/ok.png", b"x")
        zf.writestr("../outside.txt", b"x")
    with pytest.raises(DataError, match="unexpected entry"):
        extract_zip(archive, tmp_path, "images_evaluation")
    assert not (tmp_path / "images_evaluation").exists()


def test_incomplete_character_folder_is_reported(tiny_omniglot, tmp_path):
    opener = serve({"images_evaluation.zip": tiny_omniglot})
    load_omniglot("evaluation", root=tmp_path / "d", size=10, cache=tmp_path / "c", opener=opener)
    victim = next((tmp_path / "d" / "omniglot" / "images_evaluation" / "Alpha" / "character01").glob("*.png"))
    victim.unlink()
    with pytest.raises(DataError, match="character01 has 19 images"):
        load_omniglot("evaluation", root=tmp_path / "d", size=10, cache=tmp_path / "c", download=False)


def test_data_command_offline_reports_missing_files(tiny_mnist, tmp_path, capsys):
    from learnopt_course.tools import cli

    assert cli.main(["data", "--root", str(tmp_path / "empty"), "--offline"]) == 1
    err = capsys.readouterr().err
    assert "MNIST files not found" in err and str(tmp_path / "empty" / "mnist") in err
