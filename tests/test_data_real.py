"""Real data from LEARNOPT_DATA (in CI: ../shared/data). In CI these must run: missing data fails, never skips."""

import os
from pathlib import Path

import pytest
import torch

from learnopt_course.data import EpisodeSampler, load_mnist, load_omniglot


@pytest.fixture(scope="module")
def data_root():
    root = os.environ.get("LEARNOPT_DATA")
    present = root and (Path(root) / "mnist").is_dir() and (Path(root) / "omniglot").is_dir()
    if not present:
        message = f"LEARNOPT_DATA={root!r} does not hold mnist/ and omniglot/"
        if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
            pytest.fail(f"CI must run the real-data tests: {message}")
        pytest.skip(message)
    return Path(root)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("decoded")


def test_mnist_train_and_test(data_root):
    images, labels = load_mnist("train", root=data_root, download=False)
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(images.double().mean().item() - 33.318) < 1e-3
    test_images, test_labels = load_mnist("test", root=data_root, download=False)
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)


@pytest.mark.parametrize("split, characters, alphabets", [("evaluation", 659, 20), ("background", 964, 30)])
def test_omniglot_counts(data_root, cache, split, characters, alphabets):
    data = load_omniglot(split, root=data_root, download=False, cache=cache)
    assert data.images.shape == (characters, 20, 28, 28) and data.images.dtype == torch.uint8
    assert len(data) == characters and len(data.alphabet_names) == alphabets
    assert len(set(data.characters)) == characters
    ink = data.images.float().mean() / 255
    assert 0.02 < ink < 0.2, "ink is the minority of pixels, stored as high values"


def test_omniglot_full_size_and_episodes(data_root, cache):
    data = load_omniglot("evaluation", root=data_root, download=False, cache=cache)
    sampler = EpisodeSampler(data.images, n_way=20, k_shot=1, q_queries=5, rotations=True, seed=0)
    episode = sampler.sample()
    assert episode.support_x.shape == (20, 1, 28, 28) and episode.query_x.shape == (100, 1, 28, 28)
    assert 0.0 <= float(episode.support_x.min()) and float(episode.support_x.max()) <= 1.0
