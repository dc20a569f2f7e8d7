"""The lesson's bilevel problems, as lesson 10's :class:`~learnopt_course.hpo.bilevel.Bilevel` (so unrolling, the
IFT and the hypernetwork methods all run on the very same problem).

* :func:`ridge`: Lorraine 2023's claim C2.2 setting (lesson notes), ``L_T = (1/n) |X w - y|^2 + e^lam |w|^2``,
  ``L_V = (1/n_val) |X_v w - y_v|^2``, with the best response and its Jacobian in closed form
  (:func:`ridge_best_response`);
* :func:`mnist_linear`: the thesis's MNIST linear model (784 x 10 + 10 = 7,850 weights, sec. 2.4.1), few training
  points, one log weight decay or one per weight (sec. 2.4.3). Cross-entropy instead of the thesis's squared error
  (its code uses a Gaussian likelihood and an unsquared norm; the course uses cross-entropy throughout) and the
  squared penalty ``1/2 sum exp(lam) w^2``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..hpo.bilevel import Bilevel, _accuracy, _mnist_split


def ridge(d: int = 20, n: int = 30, noise: float = 2.0, n_val: int = 500, seed: int = 0,
          dtype: torch.dtype = torch.float64) -> Bilevel:
    """Ridge regression with one log penalty ``lam`` (shape ``[1]``): ``n`` training and ``n_val`` validation points
    ``y = x . w_true + noise * eps``, ``x, w_true, eps ~ N(0, 1)`` from a generator seeded with ``seed``. The inner
    step is ``1 / L`` with ``L`` the training loss's largest curvature at ``lam``."""
    for name, value in (("d", d), ("n", n), ("n_val", n_val)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}")
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, generator=g, dtype=dtype)
    x = torch.randn(n + n_val, d, generator=g, dtype=dtype)
    y = x @ w_true + noise * torch.randn(n + n_val, generator=g, dtype=dtype)
    data = {"x_train": x[:n], "y_train": y[:n], "x_val": x[n:], "y_val": y[n:]}
    gram_max = float(torch.linalg.eigvalsh(data["x_train"].T @ data["x_train"] / n).max())

    def train_loss(w: Tensor, lam: Tensor) -> Tensor:
        return ((data["x_train"] @ w - data["y_train"]) ** 2).mean() + lam.exp().sum() * (w**2).sum()

    def val_loss(w: Tensor, lam: Tensor) -> Tensor:
        return ((data["x_val"] @ w - data["y_val"]) ** 2).mean()

    return Bilevel(f"ridge regression (d={d}, n={n}, noise {noise})", train_loss, val_loss,
                   torch.zeros(d, dtype=dtype), torch.zeros(1, dtype=dtype),
                   lambda lam: 1.0 / (2 * (gram_max + float(lam.exp().sum()))), None, data)


def ridge_best_response(problem: Bilevel, lam: float | Tensor) -> tuple[Tensor, Tensor]:
    """``w*(lam) = (X^T X / n + e^lam I)^-1 X^T y / n`` and its Jacobian ``dw*/dlam = -(X^T X / n + e^lam I)^-1 e^lam
    w*`` (the implicit function theorem, eq. 3.3, in closed form) for a :func:`ridge` problem."""
    x, y = problem.data["x_train"], problem.data["y_train"]
    n, d = x.shape
    scale = torch.exp(torch.as_tensor(lam, dtype=x.dtype)).reshape(())
    A = x.T @ x / n + scale * torch.eye(d, dtype=x.dtype)
    w = torch.linalg.solve(A, x.T @ y / n)
    return w, -torch.linalg.solve(A, scale * w)


def _metrics(logits: Callable[[dict[str, Tensor], Tensor], Tensor], w: dict[str, Tensor], data: dict[str, Tensor]
             ) -> dict[str, float]:
    """Cross-entropy and accuracy of ``logits(w, x)`` on the train, validation and test splits of ``data``."""
    with torch.no_grad():
        out = {}
        for split in ("train", "val", "test"):
            z = logits(w, data[f"x_{split}"])
            out[f"{split}_loss"] = float(F.cross_entropy(z, data[f"y_{split}"]))
            out[f"{split}_acc"] = _accuracy(z, data[f"y_{split}"])
        return out


def mnist_linear(n_train: int = 10, n_val: int = 2000, per_weight: bool = False, seed: int = 0,
                 dtype: torch.dtype = torch.float32, root: str | None = None) -> Bilevel:
    """The MNIST linear model ``logits = x W + b`` (7,850 weights) trained on ``n_train`` images (sec. 2.4.1 uses 10,
    "to exaggerate overfitting"), validated on ``n_val``, tested on the official test set; one log weight decay
    (``lam`` of shape ``[1]``) or, with ``per_weight``, one per weight (``lam`` shaped like the weights, 7,850).
    ``lam0`` is ``0`` (decay 1) for one decay, ``-4`` per weight."""
    data = _mnist_split(n_train, n_val, seed, root)
    data = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in data.items()}
    w0 = {"W": torch.zeros(784, 10, dtype=dtype), "b": torch.zeros(10, dtype=dtype)}
    lam0 = {k: torch.full_like(v, -4.0) for k, v in w0.items()} if per_weight else torch.zeros(1, dtype=dtype)
    x_norm = float(torch.linalg.matrix_norm(data["x_train"], ord=2) ** 2) / n_train

    def logits(w: dict[str, Tensor], x: Tensor) -> Tensor:
        return x @ w["W"] + w["b"]

    def decay(w: dict[str, Tensor], lam: dict[str, Tensor] | Tensor) -> Tensor:
        if isinstance(lam, dict):
            return 0.5 * sum((lam[k].exp() * w[k] ** 2).sum() for k in w)
        return 0.5 * lam.exp().sum() * sum((v**2).sum() for v in w.values())

    def train_loss(w: dict[str, Tensor], lam: dict[str, Tensor] | Tensor) -> Tensor:
        return F.cross_entropy(logits(w, data["x_train"]), data["y_train"]) + decay(w, lam)

    def val_loss(w: dict[str, Tensor], lam: object = None) -> Tensor:
        return F.cross_entropy(logits(w, data["x_val"]), data["y_val"])

    def metrics(w: dict[str, Tensor]) -> dict[str, float]:
        return _metrics(logits, w, data)

    def lr(lam: dict[str, Tensor] | Tensor) -> float:  # 1/L: softmax cross-entropy curvature <= |x|^2 / n / 2
        top = max(float(v.exp().max()) for v in lam.values()) if isinstance(lam, dict) else float(lam.exp().max())
        return 1.0 / (0.5 * x_norm + top)

    kind = "7,850 weight decays" if per_weight else "one weight decay"
    return Bilevel(f"MNIST linear model, {n_train} training images, {kind}", train_loss, val_loss, w0, lam0, lr,
                   metrics, data)


def mnist_mlp(hidden: tuple[int, ...], n_train: int = 200, n_val: int = 500, seed: int = 0, log_decay: float = -4.0,
              lr: float = 0.2, root: str | None = None) -> Bilevel:
    """Sec. 2.4.4's deeper networks at CPU scale: a ReLU MLP ``784 -> hidden... -> 10`` (the thesis: 784-100-10 and
    784-100-100-10) with one weight decay per weight, ``L_T = CE_train + 1/2 sum exp(lam) w^2``, trained on
    ``n_train`` images, validated on ``n_val``, tested on the official test set; metrics report losses and
    accuracies. ``hidden=()`` is a linear model (in the MLP's parameterisation)."""
    from ..tasks.models import mlp

    if any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a tuple of positive integers; got {hidden!r}")
    data = _mnist_split(n_train, n_val, seed, root)
    data = {k: (v.float() if v.is_floating_point() else v) for k, v in data.items()}
    model = mlp([784, *hidden, 10], "relu")
    w0 = model.init(torch.Generator().manual_seed(seed))
    lam0 = {k: torch.full_like(v, log_decay) for k, v in w0.items()}

    def train_loss(w: dict[str, Tensor], lam: dict[str, Tensor]) -> Tensor:
        decay = sum((lam[k].exp() * w[k] ** 2).sum() for k in w)
        return F.cross_entropy(model(w, data["x_train"]), data["y_train"]) + 0.5 * decay

    def val_loss(w: dict[str, Tensor], lam: object = None) -> Tensor:
        return F.cross_entropy(model(w, data["x_val"]), data["y_val"])

    def metrics(w: dict[str, Tensor]) -> dict[str, float]:
        return _metrics(model, w, data)

    sizes = "-".join(str(s) for s in (784, *hidden, 10))
    return Bilevel(f"MNIST MLP {sizes}, {n_train} training images, one decay per weight", train_loss, val_loss, w0,
                   lam0, lr, metrics, data)
