"""Episode sampler: support and query never share an image, seeds reproduce, rotations are real rotations."""

import pytest
import torch

from learnopt_course.data import EpisodeSampler


@pytest.fixture
def images():
    # 12 classes x 20 examples of 6x6 images, every image unique (its value encodes class and example)
    base = torch.arange(12 * 20 * 36, dtype=torch.float32).reshape(12, 20, 6, 6)
    return base / base.max()


def test_shapes_and_labels(images):
    ep = EpisodeSampler(images, n_way=5, k_shot=2, q_queries=3, seed=0).sample()
    assert ep.support_x.shape == (10, 1, 6, 6) and ep.query_x.shape == (15, 1, 6, 6)
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert ep.query_y.bincount().tolist() == [3, 3, 3, 3, 3]
    assert len(set(ep.classes.tolist())) == 5


def test_support_and_query_never_share_an_image(images):
    sampler = EpisodeSampler(images, n_way=5, k_shot=5, q_queries=15, seed=1)
    for _ in range(50):
        ep = sampler.sample()
        for s, q in zip(ep.support_drawers, ep.query_drawers):
            assert not set(s.tolist()) & set(q.tolist())
        support = {tuple(x.flatten().tolist()) for x in ep.support_x}
        query = {tuple(x.flatten().tolist()) for x in ep.query_x}
        assert not support & query


def test_reproducible_by_seed(images):
    a = [EpisodeSampler(images, 3, 1, 2, seed=7).sample() for _ in range(2)]
    s1, s2 = EpisodeSampler(images, 3, 1, 2, seed=7), EpisodeSampler(images, 3, 1, 2, seed=8)
    first, other = s1.sample(), s2.sample()
    assert torch.equal(a[0].support_x, a[1].support_x) and torch.equal(a[0].query_x, first.query_x)
    assert not torch.equal(first.query_x, other.query_x)
    assert not torch.equal(first.query_x, s1.sample().query_x), "successive episodes differ"


def test_rotations_make_new_classes(images):
    sampler = EpisodeSampler(images, n_way=48, k_shot=1, q_queries=1, rotations=True, seed=0)
    ep = sampler.sample()
    assert sorted(ep.classes.tolist()) == list(range(48))
    for i, cls in enumerate(ep.classes.tolist()):
        char, rot = divmod(cls, 4)
        expected = torch.rot90(images[char, ep.support_drawers[i, 0]], rot, dims=(-2, -1))
        assert torch.equal(ep.support_x[i, 0], expected)


def test_uint8_images_are_scaled():
    data = torch.full((6, 20, 4, 4), 255, dtype=torch.uint8)
    ep = EpisodeSampler(data, 2, 1, 1).sample()
    assert ep.support_x.dtype == torch.float32 and float(ep.support_x.max()) == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_way": 13}, "n_way=13 exceeds the 12 classes"),
        ({"k_shot": 10, "q_queries": 11}, "k_shot \\+ q_queries = 21 exceeds the 20 examples"),
        ({"k_shot": 0}, "k_shot must be a positive integer; got 0"),
    ],
)
def test_bad_arguments(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EpisodeSampler(images, **kwargs)
    with pytest.raises(ValueError, match=r"images must be a tensor \[classes, examples, H, W\]"):
        EpisodeSampler(images[0])
