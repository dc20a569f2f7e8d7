"""Black-box hyperparameter search: grid, random and Gaussian-process expected-improvement search (Crouther 2023,
sec. 1.5.2), the baselines that learned hyperparameter controllers are compared with (lessons 07 and 08).

Every search minimises ``objective(params) -> float`` over a box ``space`` of named dimensions, each ``(low, high)``
on a linear scale or ``(low, high, "log")`` on a log scale, and returns a :class:`SearchResult` holding every
evaluation in order, so that searches are compared at the same number of evaluations. Bayesian optimisation
(Snoek et al. 2012) models the objective with a GP (an RBF kernel on the unit cube, its length scale and noise chosen
by the marginal likelihood on a small grid) and evaluates next where the expected improvement
``a(x) = E[max(f_min - y(x), 0)]`` (minimisation) is largest among random candidates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

Space = Mapping[str, tuple]
D = torch.float64


@dataclass
class SearchResult:
    """Every evaluation of a search, in order: ``params[i]`` gave ``values[i]``."""

    params: list[dict[str, float]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def best_index(self) -> int:
        finite = [(v, i) for i, v in enumerate(self.values) if math.isfinite(v)]
        if not finite:
            raise ValueError("no evaluation returned a finite value")
        return min(finite)[1]

    @property
    def best_params(self) -> dict[str, float]:
        return self.params[self.best_index]

    @property
    def best_value(self) -> float:
        return self.values[self.best_index]

    def best_so_far(self) -> list[float]:
        """The best value after each evaluation (``inf`` until a finite one)."""
        out, best = [], math.inf
        for v in self.values:
            best = min(best, v) if math.isfinite(v) else best
            out.append(best)
        return out

    def _add(self, params: dict[str, float], value: float) -> None:
        self.params.append(params)
        self.values.append(float(value) if math.isfinite(float(value)) else math.inf)


def _check_space(space: Space) -> list[tuple[str, float, float, bool]]:
    if not space:
        raise ValueError("space must name at least one dimension; got an empty mapping")
    dims = []
    for name, spec in space.items():
        if not isinstance(spec, tuple) or len(spec) not in (2, 3) or (len(spec) == 3 and spec[2] not in ("log", "linear")):
            raise ValueError(f"space[{name!r}] must be (low, high) or (low, high, 'log'|'linear'); got {spec!r}")
        low, high, log = float(spec[0]), float(spec[1]), len(spec) == 3 and spec[2] == "log"
        if not low < high or (log and low <= 0):
            raise ValueError(f"space[{name!r}] needs low < high (and low > 0 on a log scale); got {spec!r}")
        dims.append((name, low, high, log))
    return dims


def _from_unit(u: Tensor, dims: list[tuple[str, float, float, bool]]) -> dict[str, float]:
    out = {}
    for x, (name, low, high, log) in zip(u.tolist(), dims):
        out[name] = math.exp(math.log(low) + x * (math.log(high) - math.log(low))) if log else low + x * (high - low)
    return out


def grid_search(objective: Callable[[dict[str, float]], float], grid: Mapping[str, Sequence[float]]) -> SearchResult:
    """Every combination of the values in ``grid`` (name -> values), in order."""
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid must give at least one value per name; got {dict(grid)!r}")
    result = SearchResult()
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, map(float, values)))
        result._add(params, objective(params))
    return result


def random_search(objective: Callable[[dict[str, float]], float], space: Space, n: int,
                  generator: torch.Generator) -> SearchResult:
    """``n`` points drawn uniformly in ``space`` (log-uniformly along its log dimensions)."""
    dims = _check_space(space)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    result = SearchResult()
    for _ in range(n):
        params = _from_unit(torch.rand(len(dims), generator=generator, dtype=D), dims)
        result._add(params, objective(params))
    return result


def _kernel(a: Tensor, b: Tensor, length: float) -> Tensor:
    return torch.exp(-0.5 * torch.cdist(a, b).pow(2) / length**2)


class GaussianProcess:
    """GP regression with an RBF kernel on inputs in the unit cube and standardised outputs; the length scale and
    the noise are chosen from small grids by the log marginal likelihood (Rasmussen & Williams 2006, eq. 2.30)."""

    LENGTHS = (0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    NOISES = (1e-6, 1e-4, 1e-2, 1e-1)

    def __init__(self, X: Tensor, y: Tensor) -> None:
        if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] < 1:
            raise ValueError(f"X must be [n, d] and y [n] with n >= 1; got {tuple(X.shape)} and {tuple(y.shape)}")
        self.X, self.mean = X, y.mean()
        self.scale = y.std() if y.numel() > 1 and float(y.std()) > 0 else torch.tensor(1.0, dtype=D)
        z = (y - self.mean) / self.scale
        best = None
        for length, noise in itertools.product(self.LENGTHS, self.NOISES):
            K = _kernel(X, X, length) + noise * torch.eye(X.shape[0], dtype=D)
            L = torch.linalg.cholesky(K)
            alpha = torch.cholesky_solve(z[:, None], L)[:, 0]
            evidence = float(-0.5 * z @ alpha - torch.log(torch.diagonal(L)).sum())
            if best is None or evidence > best[0]:
                best = (evidence, length, noise, L, alpha)
        _, self.length, self.noise, self.L, self.alpha = best

    def predict(self, Xs: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation at ``Xs [m, d]`` (in the objective's units)."""
        k = _kernel(Xs, self.X, self.length)
        mean = k @ self.alpha
        v = torch.cholesky_solve(k.T, self.L)
        var = (1.0 - (k * v.T).sum(1)).clamp_min(1e-12)
        return self.mean + self.scale * mean, self.scale * var.sqrt()


def expected_improvement(mean: Tensor, std: Tensor, best: float) -> Tensor:
    """``E[max(best - y, 0)]`` for ``y ~ N(mean, std^2)``: ``(best - mean) Phi(z) + std phi(z)``, ``z = (best -
    mean) / std`` (Jones et al. 1998; Crouther 2023, sec. 1.5.2, for minimisation)."""
    z = (best - mean) / std
    normal = torch.distributions.Normal(torch.zeros((), dtype=mean.dtype), torch.ones((), dtype=mean.dtype))
    return (best - mean) * normal.cdf(z) + std * normal.log_prob(z).exp()


def gp_ei_search(objective: Callable[[dict[str, float]], float], space: Space, init_points: int, n_iter: int,
                 generator: torch.Generator, candidates: int = 2000) -> SearchResult:
    """Bayesian optimisation: ``init_points`` random points, then ``n_iter`` points that each maximise the expected
    improvement of a GP fitted to all finite evaluations so far (over ``candidates`` random points of the unit cube
    plus the neighbourhood of the best point). A diverged evaluation (non-finite) is recorded as ``inf`` and left
    out of the GP."""
    dims = _check_space(space)
    if not isinstance(init_points, int) or init_points < 1 or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"init_points must be >= 1 and n_iter >= 0; got {init_points!r} and {n_iter!r}")
    result, units = SearchResult(), []
    for k in range(init_points + n_iter):
        if k < init_points or not any(math.isfinite(v) for v in result.values):
            u = torch.rand(len(dims), generator=generator, dtype=D)
        else:
            finite = [i for i, v in enumerate(result.values) if math.isfinite(v)]
            X = torch.stack([units[i] for i in finite])
            y = torch.tensor([result.values[i] for i in finite], dtype=D)
            gp = GaussianProcess(X, y)
            best = X[int(y.argmin())]
            cand = torch.cat([torch.rand(candidates, len(dims), generator=generator, dtype=D),
                              (best + 0.02 * torch.randn(candidates // 10, len(dims), generator=generator,
                                                          dtype=D)).clamp(0, 1)])
            mean, std = gp.predict(cand)
            u = cand[int(expected_improvement(mean, std, float(y.min())).argmax())]
        units.append(u)
        params = _from_unit(u, dims)
        result._add(params, objective(params))
    return result
