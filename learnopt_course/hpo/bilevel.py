"""Bilevel hyperparameter problems and the four ways to differentiate them (lesson 10).

A :class:`Bilevel` problem is ``min_lam L_V(w*(lam), lam)`` with ``w*(lam) = argmin_w L_T(w, lam)`` (Lorraine 2023,
eqs. 3.1-3.2). Its hypergradient is computed by

* ``unroll``: reverse mode through ``steps`` gradient-descent steps (lesson 02's :mod:`~learnopt_course.meta.unroll`);
* ``truncated``: the same, backpropagating only through the last ``K`` steps (Shaban et al. 2019);
* ``exact``, ``cg``, ``neumann``: the implicit function theorem at ``w_T`` (:mod:`~learnopt_course.meta.ift`), with the
  inverse-Hessian-vector product solved exactly, by ``K`` CG steps, or by ``K`` Neumann terms of step ``alpha``.

:func:`optimize` is Lorraine 2023's Alg. 4: warm-started inner steps alternating with hypergradient steps. The
problems are the lesson's experiments: per-feature L2 logistic regression (the hypertorch example of Grazzi et al.
2020), per-weight decay on an MNIST MLP (sec. 3.5.2 at small scale), and dataset distillation (sec. 3.5.3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core import trees
from ..core.trees import Tree
from ..meta import ift
from ..meta.engine import Run, unroll
from ..meta.unroll import graph_bytes
from ..meta.unroll import hypergradient as reverse_hypergradient
from ..tasks.base import Task

Params = Tree
METHODS = ("unroll", "truncated", "exact", "cg", "neumann")


@dataclass
class Bilevel:
    """``train_loss(w, lam)`` = L_T, ``val_loss(w, lam)`` = L_V, a starting point ``w0`` and ``lam0``, and the inner
    gradient-descent step ``lr``: a number, or a function of ``lam`` (a step that stays below ``2 / L`` while the
    hyperparameters change the curvature ``L``; it is treated as a constant, not differentiated). ``metrics(w)``
    reports held-out numbers (accuracy) where the problem has them."""

    name: str
    train_loss: Callable[[Params, Tree], Tensor]
    val_loss: Callable[[Params, Tree], Tensor]
    w0: Params
    lam0: Tree
    lr: float | Callable[[Tree], float]
    metrics: Callable[[Params], dict[str, float]] | None = None
    data: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def to(self, device: torch.device | str | None = None) -> Bilevel:
        """Move the data, ``w0`` and ``lam0`` to ``device`` (default: the lesson's ``cfg.device``), in place; the
        losses read the data at call time, so they follow. Returns the problem."""
        from ..config import default_device

        device = default_device() if device is None else device
        for key, value in self.data.items():
            self.data[key] = value.to(device)
        self.w0, self.lam0 = trees.to(self.w0, device), trees.to(self.lam0, device)
        return self

    def task(self, lam: Tree) -> InnerTask:
        """The inner problem at ``lam`` as a :class:`~learnopt_course.tasks.base.Task`."""
        return InnerTask(self, lam)

    def step_size(self, lam: Tree) -> float:
        return step_size(self, lam)

    def solve(self, lam: Tree, w: Params | None, steps: int, *, graph: bool = False,
              truncate: int | None = None) -> Run:
        """``steps`` gradient-descent steps on ``L_T(., lam)`` from ``w`` (default ``w0``) through the unroll engine;
        the run's meta-loss is ``L_V(w_T, lam)`` (on the graph with ``graph``, through the last ``truncate`` steps)."""
        lr = step_size(self, lam)
        return unroll(self.task(lam), "sgd", trees.detach(self.w0 if w is None else w), steps, hp={"lr": lr},
                      graph=graph, truncate=truncate, meta="final", outer=lambda ww: self.val_loss(ww, lam),
                      last_loss=False)


class InnerTask(Task):
    """``L_T(., lam)`` of a bilevel problem as a task; its ``"val"`` split is ``L_V``."""

    def __init__(self, problem: Bilevel, lam: Tree) -> None:
        self.problem, self.lam = problem, lam

    def init_params(self, generator: torch.Generator | None = None) -> Params:
        return trees.detach(self.problem.w0)

    def loss(self, params: Params, batch: object = None) -> Tensor:
        return self.problem.train_loss(params, self.lam)

    def evaluate(self, params: Params, split: str = "train") -> dict[str, float]:
        if split not in ("train", "val"):
            raise ValueError(f"a bilevel problem has splits 'train' and 'val'; got {split!r}")
        loss = self.problem.train_loss if split == "train" else self.problem.val_loss
        with torch.no_grad():
            return {"loss": float(loss(params, self.lam))}


def step_size(problem: Bilevel, lam: Tree) -> float:
    """The inner learning rate at ``lam`` (a plain float: never differentiated)."""
    if callable(problem.lr):
        with torch.no_grad():
            return float(problem.lr(lam))
    return float(problem.lr)


def inner_solve(problem: Bilevel, lam: Tree, w: Params | None = None, steps: int = 100,
                lr: float | None = None) -> Params:
    """``steps`` steps of gradient descent on ``L_T(., lam)`` from ``w`` (default ``w0``), with no graph kept."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
    lam = trees.detach(lam)
    hp = {"lr": step_size(problem, lam) if lr is None else lr}
    return unroll(problem.task(lam), "sgd", trees.detach(problem.w0 if w is None else w), steps, hp=hp,
                  last_loss=False).params


def _unrolled_val(problem: Bilevel, w: Params, steps: int, truncate: int | None) -> Callable[..., Tensor]:
    def meta(*leaves: Tensor) -> Tensor:
        return problem.solve(trees.rebuild(problem.lam0, list(leaves)), w, steps, graph=True,
                             truncate=truncate).meta_loss

    return meta


def hypergradient(problem: Bilevel, lam: Tree, w: Params, method: str, *, steps: int, K: int = 10,
                  alpha: float | None = None) -> tuple[Tree, Params | None]:
    """The hypergradient after ``steps`` inner steps from ``w``, by ``method`` (see :data:`METHODS`).

    IFT methods run the inner steps without a graph and return ``(hypergradient, w_T)``; unrolled methods return
    ``(hypergradient, None)``. ``alpha`` (Neumann step) defaults to the inner learning rate, which makes K Neumann
    terms equal to K unrolled steps from the optimum (Lorraine 2023, sec. 3.4.2)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive integer; got {K!r}")
    if method in ("unroll", "truncated"):
        truncate = min(K, steps) if method == "truncated" else None
        grads = reverse_hypergradient(_unrolled_val(problem, w, steps, truncate), trees.leaves(lam))
        return trees.rebuild(lam, grads), None
    w_T = inner_solve(problem, lam, w, steps)
    g = ift.hypergradient(problem.train_loss, problem.val_loss, w_T, lam, method, iterations=K,
                          alpha=step_size(problem, lam) if alpha is None else alpha)
    return g, w_T


def cost(problem: Bilevel, lam: Tree, w: Params, method: str, *, steps: int, K: int = 10,
         repeats: int = 3) -> dict[str, float]:
    """Wall-clock seconds per hypergradient (best of ``repeats``) and the bytes the autograd graph holds when the
    backward passes start: the whole unroll for ``unroll``, the last K steps for ``truncated``, one gradient graph
    (for K Hessian products and one mixed product) for the IFT methods."""
    seconds = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        hypergradient(problem, lam, w, method, steps=steps, K=K)
        seconds = min(seconds, time.perf_counter() - start)
    leaves = [t.detach().requires_grad_(True) for t in trees.leaves(lam)]
    if method in ("unroll", "truncated"):
        truncate = min(K, steps) if method == "truncated" else None
        _, nbytes = graph_bytes(lambda: _unrolled_val(problem, w, steps, truncate)(*leaves))
    else:
        w_T = inner_solve(problem, lam, w, steps)
        lam_tree = trees.rebuild(lam, leaves)
        _, nbytes = graph_bytes(
            lambda: ift._gradient_graph(lambda ww: problem.train_loss(ww, lam_tree), w_T)[0])
    return {"seconds": seconds, "graph_bytes": float(nbytes)}


def relative_error(estimate: Tree, exact: Tree) -> float:
    a, b = trees.flat(trees.leaves(estimate)), trees.flat(trees.leaves(exact))
    return float((a - b).norm() / b.norm())


def cosine(estimate: Tree, exact: Tree) -> float:
    """Cosine between two hypergradients (always +-1 with one hyperparameter: then it says only the sign)."""
    a, b = trees.flat(trees.leaves(estimate)), trees.flat(trees.leaves(exact))
    return float(a @ b / (a.norm() * b.norm()))


def retrain(problem: Bilevel, lam: Tree, steps: int) -> dict[str, float]:
    """Train from ``w0`` for ``steps`` steps with the hyperparameters frozen at ``lam`` and report ``metrics``: the
    honest number for tuned hyperparameters (warm-started weights have seen every intermediate ``lam``)."""
    if problem.metrics is None:
        raise ValueError(f"problem {problem.name!r} has no metrics to report")
    return problem.metrics(inner_solve(problem, lam, None, steps))


@dataclass
class History:
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)
    lam: list[Tree] = field(default_factory=list)  # the hyperparameters after each outer step (``record_lam``)


def optimize(problem: Bilevel, *, outer_steps: int, inner_steps: int, method: str = "neumann", K: int = 10,
             hyper_lr: float = 0.1, hyper_optimizer: str = "adam", alpha: float | None = None,
             lam: Tree | None = None, every: int = 0, record_lam: bool = False) -> tuple[Tree, Params, History]:
    """Gradient-based hyperparameter optimisation, Lorraine 2023 Alg. 4: ``inner_steps`` warm-started steps on
    ``w``, then one step of ``hyper_optimizer`` on ``lam`` along the hypergradient; repeated ``outer_steps`` times.
    ``lam`` is the starting point (default ``problem.lam0``). ``every > 0`` records ``metrics(w)`` every that many
    outer steps; ``record_lam`` keeps a detached copy of the hyperparameters after every outer step.

    One run of the meta-trainer (:func:`learnopt_course.meta.trainer.train`) with windows of ``inner_steps``: the
    unrolled methods continue from the very run they differentiated (each inner step is taken once), the IFT
    methods from the graph-free solve they linearise at."""
    from ..meta.gradients import Implicit, TruncatedBackprop
    from ..meta.objectives import HyperparameterObjective
    from ..meta.trainer import TrainConfig, train
    from ..optimizers import TorchOptimizer

    if not isinstance(outer_steps, int) or outer_steps < 1:
        raise ValueError(f"outer_steps must be a positive integer; got {outer_steps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive integer; got {K!r}")
    start = trees.tree_map(lambda t: t.detach().clone(), problem.lam0 if lam is None else lam)
    objective = HyperparameterObjective(problem, start, truncate=K if method == "truncated" else None)
    estimator = TruncatedBackprop() if method in ("unroll", "truncated") else Implicit(method, K, alpha)
    history = History()
    box: dict[str, Params] = {"w": trees.detach(problem.w0)}

    def record(update: int, value: float, workers: list) -> None:
        w = box["w"] = workers[0].params
        lam_now = trees.detach(objective.lam)
        with torch.no_grad():
            history.val_loss.append(float(problem.val_loss(w, lam_now)))
            history.train_loss.append(float(problem.train_loss(w, lam_now)))
        if record_lam:
            history.lam.append(trees.tree_map(lambda t: t.clone(), lam_now))
        if every and problem.metrics is not None and (update % every == 0 or update == outer_steps):
            history.metrics.append({"step": update, **problem.metrics(w)})

    config = TrainConfig(runs=1, steps=outer_steps * inner_steps, unroll=inner_steps, meta_lr=hyper_lr)
    train(objective, config, torch.Generator(), estimator, on_update=record, progress_desc=None,
          meta_optimizer=lambda params: TorchOptimizer(params, hyper_optimizer, lr=hyper_lr))
    return trees.detach(objective.lam), box["w"], history


# --- The lesson's problems ----------------------------------------------------------------------------------


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean()) if logits.dim() > 1 else float(((logits > 0).float() == y)
                                                                                         .float().mean())


def logistic_l2(n: int = 1000, d: int = 20, seed: int = 0, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> Bilevel:
    """Per-feature L2 logistic regression (the hypertorch example, Grazzi et al. 2020): ``n`` points in ``d``
    dimensions, labels ``x . w_true + 0.1 noise > 0``, half for training and half for validation, plus ``n`` test
    points. ``L_T = BCE_train(w) + 1/2 sum_i exp(lam_i) w_i^2``, ``L_V = BCE_val(w)``; ``lam`` has one entry per
    feature (``d`` hyperparameters). The inner step is ``1 / L`` with ``L = |X|^2 / (4 n) + max_i exp(lam_i)``, the
    largest possible curvature, so gradient descent and the Neumann series converge whatever ``lam`` becomes."""
    for name, value in (("n", n), ("d", d)):
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2; got {value!r}")
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, generator=g, dtype=dtype)
    x = torch.randn(2 * n, d, generator=g, dtype=dtype)
    y = (x @ w_true + 0.1 * torch.randn(2 * n, generator=g, dtype=dtype) > 0).to(dtype)
    half = n // 2
    xt, yt, xv, yv, xs, ys = x[:half], y[:half], x[half:n], y[half:n], x[n:], y[n:]

    data = {"x_train": xt, "y_train": yt, "x_val": xv, "y_val": yv, "x_test": xs, "y_test": ys}

    def train_loss(w: Tensor, lam: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(data["x_train"] @ w, data["y_train"]) + 0.5 * (lam.exp() * w**2).sum()

    def val_loss(w: Tensor, lam: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(data["x_val"] @ w, data["y_val"])

    def metrics(w: Tensor) -> dict[str, float]:
        return {"val_acc": _accuracy(data["x_val"] @ w, data["y_val"]),
                "test_acc": _accuracy(data["x_test"] @ w, data["y_test"])}

    bce_curvature = float(torch.linalg.matrix_norm(xt, ord=2) ** 2) / (4 * half)

    return Bilevel(f"per-feature L2 logistic regression (n={n}, d={d})", train_loss, val_loss,
                   torch.zeros(d, dtype=dtype), torch.zeros(d, dtype=dtype),
                   lambda lam: 1.0 / (bce_curvature + float(lam.exp().max())), metrics, data).to(device)


def _mnist_split(n_train: int, n_val: int, seed: int, root: str | None) -> dict[str, Tensor]:
    from ..tasks.classification import _mnist

    x, y = _mnist("train", root)
    xs, ys = _mnist("test", root)
    if not 0 < n_train + n_val <= x.shape[0]:
        raise ValueError(f"n_train + n_val must be between 2 and {x.shape[0]}; got {n_train} + {n_val}")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    flat = lambda t: t.reshape(t.shape[0], -1)  # noqa: E731
    tr, va = perm[:n_train], perm[n_train : n_train + n_val]
    return {"x_train": flat(x[tr]), "y_train": y[tr], "x_val": flat(x[va]), "y_val": y[va], "x_test": flat(xs),
            "y_test": ys}


def mnist_weight_decay(n_train: int = 50, n_val: int = 50, hidden: int = 20, seed: int = 0, lr: float = 0.5,
                       log_decay: float = -6.0, root: str | None = None,
                       device: torch.device | str | None = None) -> Bilevel:
    """Overfitting a small validation set (Lorraine 2023, sec. 3.5.2, on MNIST): a 784-``hidden``-10 sigmoid MLP
    trained on ``n_train`` images with one weight decay per weight, ``L_T = CE_train + 1/2 sum exp(lam) w^2``
    (as many hyperparameters as weights), tuned on ``n_val`` validation images; the test set is the official one."""
    from ..tasks.models import mlp

    data = _mnist_split(n_train, n_val, seed, root)
    model = mlp([784, hidden, 10], "sigmoid")
    w0 = model.init(torch.Generator().manual_seed(seed))
    lam0 = {k: torch.full_like(v, log_decay) for k, v in w0.items()}

    def train_loss(w: dict[str, Tensor], lam: dict[str, Tensor]) -> Tensor:
        decay = sum((lam[k].exp() * w[k] ** 2).sum() for k in w)
        return F.cross_entropy(model(w, data["x_train"]), data["y_train"]) + 0.5 * decay

    def val_loss(w: dict[str, Tensor], lam: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(model(w, data["x_val"]), data["y_val"])

    def metrics(w: dict[str, Tensor]) -> dict[str, float]:
        with torch.no_grad():
            return {split: _accuracy(model(w, data[f"x_{split}"]), data[f"y_{split}"])
                    for split in ("train", "val", "test")}

    return Bilevel(f"per-weight decay, MNIST MLP 784-{hidden}-10 ({n_train} train / {n_val} val)", train_loss,
                   val_loss, w0, lam0, lr, metrics, data).to(device)


def mnist_distillation(n_val: int = 10000, decay: float = 1e-2, seed: int = 0, lr: float = 1.0,
                       root: str | None = None, device: torch.device | str | None = None) -> Bilevel:
    """Dataset distillation (Lorraine 2023, sec. 3.5.3; Wang et al. 2018): ten learned 28x28 images, one per class,
    are the *whole training set* of a logistic regression (``L_T = CE(images, 0..9) + decay/2 ||W||^2``); all real
    images are validation data. The hyperparameters are the 7,840 pixels (initialised to 0, as in the authors'
    code); :func:`retrain` trains a fresh model on the learned images and reports its MNIST test accuracy."""
    data = _mnist_split(1, n_val, seed, root)
    data["labels"] = torch.arange(10)

    def logits(w: dict[str, Tensor], x: Tensor) -> Tensor:
        return x @ w["weight"].T + w["bias"]

    def train_loss(w: dict[str, Tensor], images: Tensor) -> Tensor:
        return F.cross_entropy(logits(w, images), data["labels"]) + 0.5 * decay * (w["weight"] ** 2).sum()

    def val_loss(w: dict[str, Tensor], images: Tensor) -> Tensor:
        return F.cross_entropy(logits(w, data["x_val"]), data["y_val"])

    w0 = {"weight": torch.zeros(10, 784), "bias": torch.zeros(10)}
    problem = Bilevel("dataset distillation, MNIST into 10 images", train_loss, val_loss, w0, torch.zeros(10, 784),
                      lr, None, data)

    def metrics(w: dict[str, Tensor]) -> dict[str, float]:
        with torch.no_grad():
            return {"val_acc": _accuracy(logits(w, data["x_val"]), data["y_val"]),
                    "test_acc": _accuracy(logits(w, data["x_test"]), data["y_test"])}

    problem.metrics = metrics
    return problem.to(device)
