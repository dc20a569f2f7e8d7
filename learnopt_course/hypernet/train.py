"""Hyper-training and the hyperparameter step (Lorraine 2023, sec. 2.2-2.3, Algs 1-3).

Two steps, each differentiating one set of variables only (sec. 2.2; lesson notes 3.2):

* **the hypernetwork step** (:func:`hypertrain_loss`): ``grad_phi L_T(w_phi(lam_s), lam_s)`` at *sampled*
  hyperparameters ``lam_s``, which are data — no gradient reaches them;
* **the hyperparameter step** (:func:`hyper_objective`): ``grad_lam L_V(w_phi(lam), lam) = dL_V/dlam +
  dL_V/dw dw_phi/dlam`` with ``phi`` held fixed: the learned ``dw_phi/dlam`` replaces the IFT's ``dw*/dlam``.

Algorithms: :func:`cross_validation` (Alg. 1, the baseline: train to completion at each of a list of values);
:func:`hypertrain` then :func:`tune` (Alg. 2, global: the hypernetwork first on ``lam ~ p(lam)``, then the
hyperparameters); :func:`joint` (Alg. 3: alternate, sampling ``lam ~ p(lam | lam_hat) = N(lam_hat, sigma^2 I)`` so the
hypernetwork only needs to be right near the current value). Every step is one update of the library's meta-trainer
(:func:`~learnopt_course.meta.trainer.fit`); the inner training of Alg. 1 runs through the unroll engine. The
thesis samples minibatches; the lesson's problems are small enough for full-batch losses.

Hyperparameters and weights are handled as flat vectors (``H`` and ``P`` entries); :func:`weights` and
:func:`hyperparameters` turn them into the problem's structures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..core import trees
from ..core.trees import Tree
from ..hpo.bilevel import Bilevel, inner_solve
from ..meta.trainer import fit


def weights(problem: Bilevel, flat_w: Tensor) -> Tree:
    """The problem's weight structure from a flat vector of its ``P`` weights."""
    return trees.split(flat_w, problem.w0)


def hyperparameters(problem: Bilevel, flat_lam: Tensor) -> Tree:
    """The problem's hyperparameter structure from a flat vector of its ``H`` hyperparameters."""
    return trees.split(flat_lam, problem.lam0)


def sizes(problem: Bilevel) -> tuple[int, int]:
    """``(H, P)``: the numbers of hyperparameters and of weights."""
    return trees.numel(problem.lam0), trees.numel(problem.w0)


def hypernet_train_loss(hypernet: nn.Module, lam_samples: Tensor, train_loss: Callable[[Tensor, Tensor], Tensor]
                        ) -> Tensor:
    """The hypernetwork's training loss, ``mean_s L_T(w_phi(lam_s), lam_s)`` over the rows of ``lam_samples [S, H]``,
    which are treated as data (detached): its gradient reaches ``phi`` only. ``train_loss(w, lam)`` takes flat
    vectors (lesson 09, exercise 9.1)."""
    if lam_samples.ndim != 2:
        raise ValueError(f"lam_samples must be [S, H]; got shape {tuple(lam_samples.shape)}")
    lam_samples = lam_samples.detach()
    return torch.stack([train_loss(hypernet(lam), lam) for lam in lam_samples]).mean()


def hypertrain_loss(problem: Bilevel, hypernet: nn.Module, lam_samples: Tensor) -> Tensor:
    """:func:`hypernet_train_loss` on a bilevel problem's training loss."""
    return hypernet_train_loss(hypernet, lam_samples, lambda w, lam: problem.train_loss(
        weights(problem, w), hyperparameters(problem, lam)))


def hyper_step(hypernet: nn.Module, lam_hat: Tensor, val_loss: Callable[[Tensor, Tensor], Tensor], lr: float
               ) -> Tensor:
    """One plain gradient step on the hyperparameters through the hypernetwork, ``lam_hat - lr grad_lam
    L_V(w_phi(lam_hat), lam_hat)`` (flat vectors), with the gradient taken with respect to ``lam_hat`` alone: the
    hypernetwork's weights neither move nor collect gradients (lesson 09, exercise 9.2; :func:`tune` takes Adam
    steps on the same objective)."""
    lam = lam_hat.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(val_loss(hypernet(lam), lam), lam)
    return (lam - lr * grad).detach()


def hyper_objective(problem: Bilevel, hypernet: nn.Module, lam_hat: Tensor) -> Tensor:
    """``L_V(w_phi(lam_hat), lam_hat)``: the validation loss at the hypernetwork's predicted best response, on the
    graph of ``lam_hat [H]`` (and of ``phi``, which the hyperparameter step must not update)."""
    return problem.val_loss(weights(problem, hypernet(lam_hat)), hyperparameters(problem, lam_hat))


def sample_local(lam_hat: Tensor, sigma: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` draws from ``p(lam | lam_hat) = N(lam_hat, sigma^2 I)`` (sec. 2.2.3; ``sigma`` a standard deviation),
    ``[n, H]``, detached from ``lam_hat``."""
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 (a standard deviation); got {sigma!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    lam = lam_hat.detach().reshape(-1)
    return lam + sigma * torch.randn((n, lam.numel()), generator=generator, dtype=lam.dtype)


class Hyperparameters(nn.Module):
    """``lam_hat`` (flat, ``[H]``) as a module, so that the meta-trainer steps it like any learned component."""

    def __init__(self, lam: Tensor) -> None:
        super().__init__()
        self.lam = nn.Parameter(lam.detach().clone().reshape(-1))


@dataclass
class HyperHistory:
    """Per hyperparameter step: ``lam_hat`` (detached copies), ``L_V(w_phi(lam_hat))`` before the step and, for
    joint training, the hypernetwork's training loss before its step."""

    lam: list[Tensor] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    train: list[float] = field(default_factory=list)


def hypertrain(problem: Bilevel, hypernet: nn.Module, sample: Callable[[torch.Generator], Tensor], steps: int, *,
               lr: float = 1e-3, generator: torch.Generator | None = None,
               optimizer: torch.optim.Optimizer | None = None) -> list[float]:
    """Alg. 2, first loop: ``steps`` Adam steps on :func:`hypertrain_loss` at ``lam_s = sample(generator)``
    (``[S, H]``), e.g. a global prior. Returns the loss before each step."""
    _positive("steps", steps)
    g = generator or torch.Generator().manual_seed(0)
    opt = optimizer or torch.optim.Adam(hypernet.parameters(), lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        lam_s = sample(g)
        losses += fit(hypernet, opt, lambda: hypertrain_loss(problem, hypernet, lam_s))
    return losses


def tune(problem: Bilevel, hypernet: nn.Module, lam0: Tensor, steps: int, *, lr: float = 0.03) -> HyperHistory:
    """Alg. 2, second loop: ``steps`` Adam steps on ``lam_hat`` along :func:`hyper_objective`, ``phi`` fixed."""
    _positive("steps", steps)
    lam = Hyperparameters(lam0)
    opt = torch.optim.Adam(lam.parameters(), lr=lr)
    history = HyperHistory()
    for _ in range(steps):
        history.lam.append(lam.lam.detach().clone())
        history.val += fit(lam, opt, lambda: hyper_objective(problem, hypernet, lam.lam))
    history.lam.append(lam.lam.detach().clone())
    return history


def joint(problem: Bilevel, hypernet: nn.Module, lam0: Tensor, sigma: float, steps: int, *, samples: int = 2,
          lr_phi: float = 1e-2, lr_lam: float = 1e-2, generator: torch.Generator | None = None,
          record_every: int = 1) -> HyperHistory:
    """Alg. 3: ``steps`` times, one hypernetwork step at ``samples`` draws from ``N(lam_hat, sigma^2 I)``, then one
    hyperparameter step with ``phi`` fixed (both Adam). With ``sigma = 0`` and a linear hypernetwork whose input
    never varies, the hypernetwork cannot learn its Jacobian: started at ``lam_hat = 0`` with ``W = 0`` nothing
    ever moves (the lesson notes' claim C2.3; shown in the lesson)."""
    _positive("steps", steps)
    g = generator or torch.Generator().manual_seed(0)
    lam = Hyperparameters(lam0)
    opt_phi = torch.optim.Adam(hypernet.parameters(), lr=lr_phi)
    opt_lam = torch.optim.Adam(lam.parameters(), lr=lr_lam)
    history = HyperHistory()
    for step in range(steps):
        lam_s = sample_local(lam.lam, sigma, samples, g)
        train = fit(hypernet, opt_phi, lambda: hypertrain_loss(problem, hypernet, lam_s))
        if step % record_every == 0:
            history.lam.append(lam.lam.detach().clone())
            history.train += train
        val = fit(lam, opt_lam, lambda: hyper_objective(problem, hypernet, lam.lam))
        if step % record_every == 0:
            history.val += val
    history.lam.append(lam.lam.detach().clone())
    return history


@dataclass
class CrossValidation:
    """Alg. 1's record: each hyperparameter value, its trained weights' validation loss, and the weights."""

    lam: list[Tensor]
    val: list[float]
    weights: list[Tree]

    @property
    def best(self) -> Tensor:
        return self.lam[min(range(len(self.val)), key=self.val.__getitem__)]


def cross_validation(problem: Bilevel, lambdas: Sequence[Tensor | float], steps: int) -> CrossValidation:
    """Alg. 1: for each value, weights trained from ``w0`` for ``steps`` full-batch gradient steps (through the
    unroll engine, :func:`~learnopt_course.hpo.bilevel.inner_solve`), scored by ``L_V``."""
    _positive("steps", steps)
    lams, vals, ws = [], [], []
    for value in lambdas:
        lam = torch.as_tensor(value, dtype=trees.leaves(problem.lam0)[0].dtype).reshape(-1)
        flat = lam if lam.numel() > 1 else lam.expand(sizes(problem)[0]).clone()  # one value for every entry
        tree = hyperparameters(problem, flat)
        w = inner_solve(problem, tree, None, steps)
        with torch.no_grad():
            vals.append(float(problem.val_loss(w, tree)))
        lams.append(lam)
        ws.append(w)
    return CrossValidation(lams, vals, ws)


def _positive(name: str, value: object) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
