"""Supervised optimizee tasks on real data: logistic regression, MLPs and a CNN on MNIST; few-shot Omniglot.

A :class:`ClassificationTask` is a model and its data: a :class:`~learnopt_course.tasks.base.TaskFamily` whose
``sample(generator)`` draws an initialisation and a minibatch order (a :class:`SampledClassification`, the
:class:`~learnopt_course.tasks.base.Task` the unroll engine trains). Evaluation on the train, validation and test
splits is chunked and builds no graph. Parameters are plain tensors (``FunctionalModel``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.episodes import Episode, EpisodeSampler
from .base import Task, TaskFamily
from .models import FunctionalModel, cnn, mlp

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class ClassificationTask(TaskFamily):
    """A model and a dataset with a held-out validation split (for choosing) and an optional test split (for reporting).

    Select hyperparameters on ``val``, report on ``test``: a method tuned and scored on the same split reports an
    optimistic number.
    """

    name: str
    model: FunctionalModel
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    batch_size: int = 128
    eval_chunk: int = 10000
    test_x: Tensor | None = None
    test_y: Tensor | None = None

    def init_params(self, generator: torch.Generator) -> dict[str, Tensor]:
        """Fresh parameters in the data's dtype, on its device."""
        return self.model.init(generator, self.train_x.dtype, self.train_x.device)

    def loss(self, params: dict[str, Tensor], x: Tensor | tuple[Tensor, Tensor], y: Tensor | None = None) -> Tensor:
        """Mean cross-entropy of the model with ``params`` on ``(x, y)`` (or on a batch ``(x, y)``)."""
        if y is None:
            x, y = x
        return F.cross_entropy(self.model(params, x), y)

    def sample_indices(self, generator: torch.Generator) -> Tensor:
        """The indices of one minibatch, drawn with replacement from the training split."""
        return torch.randint(0, self.train_x.shape[0], (self.batch_size,), generator=generator)

    def sample_batch(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        idx = self.sample_indices(generator)
        return self.train_x[idx], self.train_y[idx]

    def sample(self, generator: torch.Generator, steps: int | None = None) -> SampledClassification:
        """A task: an initialisation drawn with ``generator``, then the minibatch order, drawn from the same
        generator (all ``steps + 1`` at once when ``steps`` is given, else as the steps ask for them)."""
        params = self.init_params(generator)
        task = SampledClassification(self, params, generator)
        if steps is not None:
            task.batch(steps)
        return task

    def metrics(self, params: dict[str, Tensor], split: str) -> tuple[float, float]:
        """(loss, accuracy) on ``"train"``, ``"val"`` or ``"test"``."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test'; got {split!r}")
        return getattr(self, f"{split}_metrics")(params)

    def minibatch_loss(self, params: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """Loss on a minibatch drawn (with replacement) from the training split by ``generator``."""
        return self.loss(params, *self.sample_batch(generator))

    def _evaluate(self, params: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[float, float]:
        total, correct = 0.0, 0
        with torch.no_grad():
            for start in range(0, x.shape[0], self.eval_chunk):
                logits = self.model(params, x[start : start + self.eval_chunk])
                target = y[start : start + self.eval_chunk]
                total += float(F.cross_entropy(logits, target, reduction="sum"))
                correct += int((logits.argmax(-1) == target).sum())
        return total / x.shape[0], correct / x.shape[0]

    def train_metrics(self, params: dict[str, Tensor]) -> tuple[float, float]:
        """(loss, accuracy) on the whole training split."""
        return self._evaluate(params, self.train_x, self.train_y)

    def val_metrics(self, params: dict[str, Tensor]) -> tuple[float, float]:
        """(loss, accuracy) on the held-out validation split."""
        return self._evaluate(params, self.val_x, self.val_y)

    def test_metrics(self, params: dict[str, Tensor]) -> tuple[float, float]:
        """(loss, accuracy) on the test split; a task built without one raises ``ValueError``."""
        if self.test_x is None or self.test_y is None:
            raise ValueError(f"task {self.name!r} has no test split; build it with n_test (e.g. make_task(..., n_test=2000))")
        return self._evaluate(params, self.test_x, self.test_y)


@dataclass
class SampledClassification(Task):
    """One draw of a :class:`ClassificationTask`: initial parameters and a minibatch order (``batch(t)`` is the same
    minibatch however often it is asked for; indices are drawn from ``generator`` in step order and kept)."""

    family: ClassificationTask
    params0: dict[str, Tensor]
    generator: torch.Generator = field(repr=False)
    order: list[Tensor] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.family.name

    def init_params(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self.params0.items()}

    def batch(self, t: int) -> tuple[Tensor, Tensor]:
        while len(self.order) <= t:
            self.order.append(self.family.sample_indices(self.generator))
        idx = self.order[t]
        return self.family.train_x[idx], self.family.train_y[idx]

    def loss(self, params: dict[str, Tensor], batch: Any = None) -> Tensor:
        """The minibatch loss; ``batch=None``: the loss on the whole training split (chunked, on the graph)."""
        if batch is None:
            f = self.family
            total = sum(F.cross_entropy(f.model(params, f.train_x[i : i + f.eval_chunk]),
                                        f.train_y[i : i + f.eval_chunk], reduction="sum")
                        for i in range(0, f.train_x.shape[0], f.eval_chunk))
            return total / f.train_x.shape[0]
        return self.family.loss(params, batch)

    def evaluate(self, params: dict[str, Tensor], split: str = "train") -> dict[str, float]:
        loss, accuracy = self.family.metrics(params, split)
        return {"loss": loss, "accuracy": accuracy}


@functools.lru_cache(maxsize=4)
def _mnist(split: str, root: str | None) -> tuple[Tensor, Tensor]:
    from ..data import load_mnist

    images, labels = load_mnist(split, root=root)
    return ((images.float() / 255 - MNIST_MEAN) / MNIST_STD).unsqueeze(1), labels


def mnist_task(
    model: str = "mlp",
    hidden: tuple[int, ...] = (20,),
    activation: str = "sigmoid",
    *,
    n_train: int | None = None,
    n_val: int = 10000,
    n_test: int | None = None,
    batch_size: int = 128,
    split_seed: int = 0,
    channels: tuple[int, ...] = (16, 32),
    root: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    project: int | None = None,
    project_seed: int = 0,
    init: str = "torch",
) -> ClassificationTask:
    """An MNIST task. ``model``: ``logreg`` (784-10), ``mlp`` (784-hidden-10, e.g. 20 sigmoid units as in
    Andrychowicz et al. 2016, or (32, 32) as in Crouther 2023) or ``cnn``. The validation split is ``n_val``
    images held out of the official training set by a seeded permutation; ``n_train`` limits the rest. ``n_test``
    (optional) takes the first ``n_test`` images of the official test set as a test split, never used for choices.
    Images and parameters are in ``dtype`` on ``device`` (default: the lesson's ``cfg.device``). ``project=d``
    replaces each image by a random Gaussian projection to ``d`` dimensions (one matrix from ``project_seed``),
    standardised to zero mean and unit variance per dimension on the training split: Li & Malik (2017, sec. 4)'s
    48-dimensional MNIST; the MLP then takes ``d`` inputs. ``init``: the MLP's initialisation scheme
    (:class:`~learnopt_course.tasks.models.FunctionalModel`)."""
    from ..config import default_device

    device = default_device() if device is None else device
    place = lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None)  # noqa: E731
    x, y = _mnist("train", None if root is None else str(root))
    if not 0 < n_val < x.shape[0]:
        raise ValueError(f"n_val must be between 1 and {x.shape[0] - 1}; got {n_val!r}")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    if n_train is not None:
        if not 0 < n_train <= train_idx.numel():
            raise ValueError(f"n_train must be between 1 and {train_idx.numel()}; got {n_train!r}")
        train_idx = train_idx[:n_train]
    inputs = 784
    if project is not None:
        if not isinstance(project, int) or project < 1:
            raise ValueError(f"project must be a positive number of dimensions; got {project!r}")
        if model == "cnn":
            raise ValueError("project needs a model on vectors ('logreg' or 'mlp'), not 'cnn'")
        P = torch.randn(784, project, generator=torch.Generator().manual_seed(project_seed)) / 784**0.5
        flat = x.reshape(x.shape[0], -1) @ P
        mean, std = flat[train_idx].mean(0), flat[train_idx].std(0)
        x, inputs = (flat - mean) / std, project
        if n_test is not None:
            test_images, test_labels = _mnist("test", None if root is None else str(root))
            _projected_test = ((test_images.reshape(test_images.shape[0], -1) @ P - mean) / std, test_labels)
    if model == "logreg":
        net = mlp([inputs, 10], init=init)
    elif model == "mlp":
        net = mlp([inputs, *hidden, 10], activation, init)
    elif model == "cnn":
        net = cnn(10, channels, 28, activation="relu" if activation == "sigmoid" else activation)
    else:
        raise ValueError(f"model must be 'logreg', 'mlp' or 'cnn'; got {model!r}")
    test_x = test_y = None
    if n_test is not None:
        tx, ty = _projected_test if project is not None else _mnist("test", None if root is None else str(root))
        if not isinstance(n_test, int) or not 0 < n_test <= tx.shape[0]:
            raise ValueError(f"n_test must be an integer between 1 and {tx.shape[0]}; got {n_test!r}")
        test_x, test_y = place(tx[:n_test]), place(ty[:n_test])
    return ClassificationTask(
        f"MNIST {net.name}", net, place(x[train_idx]), place(y[train_idx]), place(x[val_idx]), place(y[val_idx]),
        batch_size, test_x=test_x, test_y=test_y,
    )


@dataclass
class FewShotTask(TaskFamily):
    """N-way K-shot classification on Omniglot episodes with a small CNN (adapted on support, scored on query).
    ``sample(generator)`` is one episode as a task (:class:`EpisodeTask`)."""

    name: str
    model: FunctionalModel
    sampler: EpisodeSampler

    def init_params(self, generator: torch.Generator) -> dict[str, Tensor]:
        return self.model.init(generator)

    def episode(self) -> Episode:
        return self.sampler.sample()

    def support_loss(self, params: dict[str, Tensor], episode: Episode) -> Tensor:
        return F.cross_entropy(self.model(params, episode.support_x), episode.support_y)

    def query_loss(self, params: dict[str, Tensor], episode: Episode) -> Tensor:
        return F.cross_entropy(self.model(params, episode.query_x), episode.query_y)

    def query_accuracy(self, params: dict[str, Tensor], episode: Episode) -> float:
        with torch.no_grad():
            return float((self.model(params, episode.query_x).argmax(-1) == episode.query_y).float().mean())

    def sample(self, generator: torch.Generator) -> EpisodeTask:
        """An episode (from the sampler's own seeded stream) and an initialisation drawn with ``generator``."""
        return EpisodeTask(self, self.init_params(generator), self.episode())


@dataclass
class EpisodeTask(Task):
    """Adapt on an episode's support set (every step sees all of it), score on its query set (split ``"val"``)."""

    family: FewShotTask
    params0: dict[str, Tensor]
    episode: Episode

    def init_params(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self.params0.items()}

    def loss(self, params: dict[str, Tensor], batch: Any = None) -> Tensor:
        return self.family.support_loss(params, self.episode)

    def evaluate(self, params: dict[str, Tensor], split: str = "train") -> dict[str, float]:
        if split not in ("train", "val"):
            raise ValueError(f"an episode has splits 'train' (support) and 'val' (query); got {split!r}")
        with torch.no_grad():
            if split == "train":
                return {"loss": float(self.family.support_loss(params, self.episode))}
            return {"loss": float(self.family.query_loss(params, self.episode)),
                    "accuracy": self.family.query_accuracy(params, self.episode)}


def omniglot_task(
    split: str = "background",
    n_way: int = 5,
    k_shot: int = 1,
    q_queries: int = 15,
    *,
    rotations: bool = True,
    size: int = 28,
    channels: tuple[int, ...] = (32, 32, 32),
    seed: int = 0,
    root: str | os.PathLike | None = None,
) -> FewShotTask:
    """Few-shot Omniglot: meta-train on ``background``, meta-test on ``evaluation`` (Lake et al. 2015 split)."""
    from ..data import load_omniglot

    data = load_omniglot(split, root=root, size=size)
    sampler = EpisodeSampler(data.images, n_way, k_shot, q_queries, rotations=rotations, seed=seed)
    net = cnn(n_way, channels, size)
    return FewShotTask(f"Omniglot {split} {n_way}-way {k_shot}-shot", net, sampler)


def omniglot_classification(
    n_classes: int = 10,
    *,
    project: int = 48,
    hidden: tuple[int, ...] = (48,),
    activation: str = "relu",
    train_per_class: int = 15,
    batch_size: int = 64,
    seed: int = 0,
    project_seed: int = 0,
    split: str = "background",
    root: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> ClassificationTask:
    """A flat ``n_classes``-way classification problem from Omniglot: ``n_classes`` characters drawn with ``seed``,
    ``train_per_class`` of each character's 20 drawings for training and the rest for validation, every image
    randomly projected to ``project`` dimensions and standardised on the training split (as
    :func:`mnist_task` does for MNIST), classified by an MLP ``project-hidden-n_classes``. Li & Malik (2017, sec. 4)
    test their learned optimizer on unseen datasets (TFD with 7 classes, CIFAR-10 and CIFAR-100), which cannot be
    downloaded here; 7-, 10- and 100-class Omniglot problems stand in for them."""
    from ..config import default_device
    from ..data import load_omniglot

    data = load_omniglot(split, root=root)
    if not isinstance(n_classes, int) or not 2 <= n_classes <= len(data):
        raise ValueError(f"n_classes must be an integer from 2 to {len(data)}; got {n_classes!r}")
    drawings = data.images.shape[1]
    if not isinstance(train_per_class, int) or not 1 <= train_per_class < drawings:
        raise ValueError(f"train_per_class must be an integer from 1 to {drawings - 1}; got {train_per_class!r}")
    if not isinstance(project, int) or project < 1:
        raise ValueError(f"project must be a positive number of dimensions; got {project!r}")
    g = torch.Generator().manual_seed(seed)
    chars = torch.randperm(len(data), generator=g)[:n_classes]
    order = torch.stack([torch.randperm(drawings, generator=g) for _ in range(n_classes)])
    images = data.images[chars].float() / 255  # [classes, drawings, size, size]
    images = torch.gather(images, 1, order[:, :, None, None].expand_as(images))
    flat = images.reshape(n_classes, drawings, -1)
    P = torch.randn(flat.shape[-1], project, generator=torch.Generator().manual_seed(project_seed)) / flat.shape[-1] ** 0.5
    labels = torch.arange(n_classes)[:, None].expand(n_classes, drawings)
    train_x, val_x = (flat[:, :train_per_class] @ P).reshape(-1, project), (flat[:, train_per_class:] @ P).reshape(-1, project)
    train_y, val_y = labels[:, :train_per_class].reshape(-1), labels[:, train_per_class:].reshape(-1)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-8)
    device = default_device() if device is None else device
    place = lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None)  # noqa: E731
    net = mlp([project, *hidden, n_classes], activation)
    return ClassificationTask(f"Omniglot {n_classes}-class {net.name}", net, place((train_x - mean) / std),
                              place(train_y), place((val_x - mean) / std), place(val_y), batch_size)
