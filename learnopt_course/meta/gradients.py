"""Meta-gradient estimators: interchangeable ways to estimate d(meta-loss)/d(meta-parameters) over one truncation.

A *meta-objective* (:class:`MetaObjective`) says what is being trained: its meta-parameters ``phi`` (a learned
optimizer's weights, or hyperparameters), how a fresh inner problem starts (a *worker*: task, parameters, optimizer
state, step) and how a worker runs ``length`` steps under given ``phi`` (always through the unroll engine). An
estimator turns that into a gradient estimate for one truncation window:

* :class:`TruncatedBackprop`: reverse mode through the window (Werbos 1990; Shaban et al. 2019): biased by the
  truncation, low variance;
* :class:`FullUnroll`: the same through the whole inner run (one window, unbiased, memory O(T));
* :class:`AntitheticES`: antithetic evolution strategies on the window (Salimans et al. 2017; Metz et al. 2021):
  no backward pass, smooths chaotic meta-losses, biased by the truncation;
* :class:`PES`: persistent evolution strategies (Vicol, Metz & Sohl-Dickstein 2021, Alg. 1): every particle keeps
  its own inner state and accumulates its perturbations, which removes the truncation bias;
* :class:`Implicit`: the implicit function theorem at the end of the window (Lorraine et al. 2020), for
  meta-parameters that move the inner optimum (hyperparameters of the training loss).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

Phi = Mapping[str, Tensor]


class MetaObjective(Protocol):
    """What the meta-trainer trains (see the module docstring)."""

    def parameters(self) -> dict[str, Tensor]:
        """The meta-parameters, as leaves that require grad (trained in place by the meta-optimizer)."""

    def start(self, generator: torch.Generator) -> Any:
        """A worker at step 0 of a fresh inner problem drawn with ``generator``."""

    def unroll(self, phi: Phi, worker: Any, length: int, graph: bool) -> tuple[Tensor, Any]:
        """Run ``worker`` for ``length`` steps under ``phi``: the window's meta-loss (on the graph with ``graph``)
        and the worker after it (detached)."""




class Estimator(ABC):
    """An estimator keeps per-run workers: ``init`` them for a fresh inner problem, then ``estimate`` window by
    window. ``full`` asks the trainer for one window over the whole inner run."""

    full: bool = False

    def init(self, objective: MetaObjective, generator: torch.Generator) -> list[Any]:
        return [objective.start(generator)]

    @abstractmethod
    def estimate(self, objective: MetaObjective, phi: Phi, workers: list[Any], length: int,
                 generator: torch.Generator) -> tuple[Tensor, dict[str, Tensor], list[Any]]:
        """``(meta-loss, gradient estimate keyed like phi, workers after the window)``; a meta-parameter the
        meta-loss does not depend on may have ``None`` (the meta-optimizer then leaves it alone)."""


@dataclass
class TruncatedBackprop(Estimator):
    """Backpropagation through the window's steps (truncated BPTT)."""

    def estimate(self, objective, phi, workers, length, generator):
        meta_loss, worker = objective.unroll(phi, workers[0], length, graph=True)
        value = meta_loss.mean()
        if not torch.isfinite(value):
            return value.detach(), {k: torch.full_like(p, float("nan")) for k, p in phi.items()}, [worker]
        grads = torch.autograd.grad(value, list(phi.values()), allow_unused=True)
        return value.detach(), dict(zip(phi, grads)), [worker]


@dataclass
class FullUnroll(TruncatedBackprop):
    """Backpropagation through the whole inner run (the trainer makes it one window)."""

    full: bool = True


def antithetic_estimate(directions: Tensor, plus: Tensor, minus: Tensor, sigma: float) -> Tensor:
    """``mean_i d_i (plus_i - minus_i) / (2 sigma)`` for directions ``d`` ``[pairs, ...]`` and the losses ``[pairs]``
    at ``theta +- sigma eps_i``: the antithetic ES estimate (Salimans et al. 2017) with ``d = eps``, PES's with ``d`` the
    accumulated perturbations (Vicol et al. 2021). The one formula both use, and lesson 02's toy ES."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma!r}")
    shape = (plus.shape[0],) + (1,) * (directions.dim() - 1)
    return (directions * ((plus - minus) / (2 * sigma)).reshape(shape).to(directions.dtype)).mean(0)


def _combine(directions: list[dict[str, Tensor]], plus: list[Tensor], minus: list[Tensor], sigma: float,
             phi: Phi) -> dict[str, Tensor]:
    p, m = torch.stack([x.mean().detach() for x in plus]), torch.stack([x.mean().detach() for x in minus])
    return {k: antithetic_estimate(torch.stack([d[k] for d in directions]), p, m, sigma) for k in phi}


def _perturb(phi: Phi, eps: dict[str, Tensor], scale: float) -> dict[str, Tensor]:
    return {k: (p.detach() + scale * eps[k]) for k, p in phi.items()}


def _noise(phi: Phi, generator: torch.Generator) -> dict[str, Tensor]:
    return {k: torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for k, p in phi.items()}


@dataclass
class AntitheticES(Estimator):
    """``mean_i eps_i (L(phi + sigma eps_i) - L(phi - sigma eps_i)) / (2 sigma)`` over ``pairs`` antithetic pairs,
    every pair from the same worker state; the worker then advances under the unperturbed ``phi``."""

    sigma: float = 0.01
    pairs: int = 8

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0; got {self.sigma!r}")
        if not isinstance(self.pairs, int) or self.pairs < 1:
            raise ValueError(f"pairs must be a positive integer; got {self.pairs!r}")

    def estimate(self, objective, phi, workers, length, generator):
        noise, plus, minus = [], [], []
        for _ in range(self.pairs):
            eps = _noise(phi, generator)
            noise.append(eps)
            plus.append(objective.unroll(_perturb(phi, eps, self.sigma), copy.deepcopy(workers[0]), length, False)[0])
            minus.append(objective.unroll(_perturb(phi, eps, -self.sigma), copy.deepcopy(workers[0]), length, False)[0])
        grads = _combine(noise, plus, minus, self.sigma, phi)
        with torch.no_grad():
            value, worker = objective.unroll({k: p.detach() for k, p in phi.items()}, workers[0], length, False)
        return value.mean().detach(), grads, [worker]


@dataclass
class PES(Estimator):
    """Persistent evolution strategies: ``pairs`` antithetic particle pairs, each particle with its own inner state;
    the estimate weights each pair's difference by the *sum of all its perturbations so far* in this run
    (Vicol et al. 2021, Alg. 1), so over a whole run it is unbiased for the smoothed full-unroll meta-loss."""

    sigma: float = 0.01
    pairs: int = 8

    def __post_init__(self) -> None:
        AntitheticES.__post_init__(self)  # type: ignore[arg-type]

    def init(self, objective, generator):
        worker = objective.start(generator)
        return [{"plus": copy.deepcopy(worker), "minus": copy.deepcopy(worker), "xi": None}
                for _ in range(self.pairs)]

    def estimate(self, objective, phi, workers, length, generator):
        accumulated, pluses, minuses, new_workers = [], [], [], []
        for particle in workers:
            eps = _noise(phi, generator)
            xi = eps if particle["xi"] is None else {k: particle["xi"][k] + eps[k] for k in eps}
            plus, w_plus = objective.unroll(_perturb(phi, eps, self.sigma), particle["plus"], length, False)
            minus, w_minus = objective.unroll(_perturb(phi, eps, -self.sigma), particle["minus"], length, False)
            accumulated.append(xi), pluses.append(plus), minuses.append(minus)
            new_workers.append({"plus": w_plus, "minus": w_minus, "xi": xi})
        value = torch.stack([0.5 * (p.mean() + m.mean()).detach() for p, m in zip(pluses, minuses)]).mean()
        return value, _combine(accumulated, pluses, minuses, self.sigma, phi), new_workers


@dataclass
class Implicit(Estimator):
    """The implicit-function-theorem hypergradient at the window's end (Lorraine 2023, eq. 3.3), with the
    inverse-Hessian-vector product by ``method`` (``exact``, ``cg`` or ``neumann``) in ``iterations`` steps. Needs an
    objective with ``implicit(phi, worker, length, method, iterations)``: meta-parameters of the training loss."""

    method: str = "cg"
    iterations: int = 10
    alpha: float | None = None

    def estimate(self, objective, phi, workers, length, generator):
        implicit = getattr(objective, "implicit", None)
        if implicit is None:
            raise ValueError(f"{type(objective).__name__} has no implicit hypergradient: the implicit function theorem "
                             "needs meta-parameters that move the optimum of the training loss (hyperparameters), "
                             "not, e.g., a learned optimizer's weights (its fixed point does not depend on them)")
        value, grads, worker = implicit(phi, workers[0], length, self.method, self.iterations, self.alpha)
        return value, grads, [worker]


ESTIMATORS = {"truncated": TruncatedBackprop, "full": FullUnroll, "es": AntitheticES, "pes": PES,
              "implicit": Implicit}
