"""Two-dimensional test landscapes with analytic gradients, and a noisy-gradient wrapper.

Each landscape maps points ``xy`` of shape ``[..., 2]`` to losses of shape ``[...]``; ``grad`` is the analytic
gradient (the tests compare it with autograd). ``bounds`` is a sensible plotting window and ``minima`` the known
minimizers, so lessons can measure distance to the optimum.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .base import Task


def _check_points(xy: Tensor) -> Tensor:
    if not isinstance(xy, Tensor):
        raise TypeError(f"xy must be a torch.Tensor of shape [..., 2]; got {type(xy).__name__}")
    if xy.shape[-1:] != (2,):
        raise ValueError(f"xy must have a last dimension of size 2; got shape {tuple(xy.shape)}")
    return xy


class Landscape(Task):
    """Base class: ``loss(xy)``, ``grad(xy)``, ``bounds`` ((xmin, xmax), (ymin, ymax)), ``minima`` [k, 2].

    As a :class:`~learnopt_course.tasks.base.Task` its parameters are points ``[..., 2]`` (several at once are
    independent runs) starting at ``start`` (float64), with no data."""

    name: str = "landscape"
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-2.0, 2.0))
    start: tuple[float, float] = (-1.5, 1.5)

    @abstractmethod
    def loss(self, xy: Tensor, batch: object = None) -> Tensor:
        """The loss at points ``[..., 2]``."""

    def init_params(self, generator: torch.Generator | None = None) -> Tensor:
        return torch.tensor(self.start, dtype=torch.float64)

    def step_loss(self, params: Tensor, t: int) -> Tensor:
        return self.loss(_check_points(params))

    @abstractmethod
    def grad(self, xy: Tensor) -> Tensor:
        """The analytic gradient at points ``[..., 2]``."""

    @property
    @abstractmethod
    def minima(self) -> Tensor:
        """The known minimizers ``[k, 2]`` (float64)."""

    @property
    def min_value(self) -> float:
        return float(self.loss(self.minima.to(torch.float64)).min())

    def __call__(self, xy: Tensor) -> Tensor:
        return self.loss(_check_points(xy))

    def gradient(self, xy: Tensor, t: int | None = None) -> Tensor:
        """The (exact) gradient; ``t`` is accepted so a landscape can serve as ``grad_fn`` in ``optim.minimize``."""
        return self.grad(_check_points(xy))

    def grid(self, n: int = 120) -> tuple[Tensor, Tensor, Tensor]:
        """``X, Y, Z`` on an ``n x n`` grid over ``bounds`` (float64), ready for ``contour``."""
        (x0, x1), (y0, y1) = self.bounds
        xs = torch.linspace(x0, x1, n, dtype=torch.float64)
        ys = torch.linspace(y0, y1, n, dtype=torch.float64)
        X, Y = torch.meshgrid(xs, ys, indexing="xy")
        return X, Y, self.loss(torch.stack([X, Y], dim=-1))


@dataclass
class Quadratic(Landscape):
    """``f(x) = 1/2 (x - c)^T A (x - c)`` with eigenvalues ``mu = L / kappa`` and ``L``, axes rotated by ``angle``.

    The condition number ``kappa = L / mu`` (Crouther 2023, eq. 1.2.3) sets how hard gradient descent finds it.
    """

    kappa: float = 10.0
    L: float = 1.0
    angle: float = math.pi / 6
    center: tuple[float, float] = (0.0, 0.0)
    name: str = "quadratic"
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-2.0, 2.0))
    start: tuple[float, float] = (-1.6, 1.2)

    def __post_init__(self) -> None:
        if not (self.kappa >= 1):
            raise ValueError(f"kappa must be >= 1; got {self.kappa!r}")
        if not (self.L > 0):
            raise ValueError(f"L must be > 0; got {self.L!r}")
        c, s = math.cos(self.angle), math.sin(self.angle)
        rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        self.A = rotation @ torch.diag(torch.tensor([self.L, self.mu], dtype=torch.float64)) @ rotation.T

    @property
    def mu(self) -> float:
        return self.L / self.kappa

    def _shift(self, xy: Tensor) -> Tensor:
        return xy - torch.tensor(self.center, dtype=xy.dtype, device=xy.device)

    def loss(self, xy: Tensor) -> Tensor:
        d = self._shift(xy)
        return 0.5 * torch.einsum("...i,ij,...j->...", d, self.A.to(xy), d)

    def grad(self, xy: Tensor) -> Tensor:
        return self._shift(xy) @ self.A.to(xy).T

    @property
    def minima(self) -> Tensor:
        return torch.tensor([self.center], dtype=torch.float64)


@dataclass
class Rosenbrock(Landscape):
    """Rosenbrock (1960): ``(a - x)^2 + b (y - x^2)^2``, a curved, narrow valley with its minimum at ``(a, a^2)``."""

    a: float = 1.0
    b: float = 100.0
    name: str = "rosenbrock"
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-1.0, 3.0))
    start: tuple[float, float] = (-1.5, 2.0)

    def loss(self, xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def grad(self, xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        dx = -2 * (self.a - x) - 4 * self.b * x * (y - x**2)
        dy = 2 * self.b * (y - x**2)
        return torch.stack([dx, dy], dim=-1)

    @property
    def minima(self) -> Tensor:
        return torch.tensor([[self.a, self.a**2]], dtype=torch.float64)


@dataclass
class Saddle(Landscape):
    """``x^2 + y^4/4 - y^2/2``: a saddle point at the origin between two minima at ``(0, +-1)``.

    Started exactly on the ``y = 0`` ridge, gradient descent converges to the saddle; noise or a tiny offset lets it
    escape, and the escape speed grows like ``(1 + lr)^t`` along the negative-curvature direction.
    """

    name: str = "saddle"
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-1.5, 1.5), (-1.6, 1.6))
    start: tuple[float, float] = (-1.4, 0.01)

    def loss(self, xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return x**2 + y**4 / 4 - y**2 / 2

    def grad(self, xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        return torch.stack([2 * x, y**3 - y], dim=-1)

    @property
    def minima(self) -> Tensor:
        return torch.tensor([[0.0, -1.0], [0.0, 1.0]], dtype=torch.float64)


@dataclass
class Rastrigin(Landscape):
    """Rastrigin-style bumpy bowl: ``x^2 + y^2 + A (2 - cos 2 pi x - cos 2 pi y)``; global minimum at the origin.

    Many local minima sit near the integer lattice when ``A`` is large; momentum can roll through shallow ones.
    """

    A: float = 1.0
    name: str = "rastrigin"
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-2.5, 2.5), (-2.5, 2.5))
    start: tuple[float, float] = (-2.2, 2.1)

    def loss(self, xy: Tensor) -> Tensor:
        x, y = xy[..., 0], xy[..., 1]
        two_pi = 2 * math.pi
        return x**2 + y**2 + self.A * (2 - torch.cos(two_pi * x) - torch.cos(two_pi * y))

    def grad(self, xy: Tensor) -> Tensor:
        two_pi = 2 * math.pi
        return 2 * xy + self.A * two_pi * torch.sin(two_pi * xy)

    @property
    def minima(self) -> Tensor:
        return torch.zeros(1, 2, dtype=torch.float64)


@dataclass
class NoisyGradient(Landscape):
    """Wrap a landscape so that ``gradient`` returns ``grad + sigma * N(0, I)``: a model of minibatch noise.

    The loss is the exact one; only the gradient an optimizer sees is noisy and unbiased (Crouther 2023,
    eq. 1.1.1: ``E[g(x, xi)] = grad f(x)``). Noise is drawn from ``generator`` so runs are reproducible.
    """

    base: Landscape = field(default_factory=Quadratic)
    sigma: float = 0.1
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.base, Landscape):
            raise TypeError(f"base must be a Landscape; got {type(self.base).__name__}")
        if not (self.sigma >= 0):
            raise ValueError(f"sigma must be >= 0; got {self.sigma!r}")
        self.name = f"noisy {self.base.name}"
        self.bounds = self.base.bounds
        self.start = self.base.start

    def loss(self, xy: Tensor) -> Tensor:
        return self.base.loss(xy)

    def grad(self, xy: Tensor) -> Tensor:
        noise = torch.randn(xy.shape, generator=self.generator, dtype=xy.dtype).to(xy.device)
        return self.base.grad(xy) + self.sigma * noise

    @property
    def minima(self) -> Tensor:
        return self.base.minima


LANDSCAPES: dict[str, type[Landscape]] = {
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "saddle": Saddle,
    "rastrigin": Rastrigin,
}


def make_landscape(name: str, **kwargs: float) -> Landscape:
    """Build a landscape by name: ``quadratic``, ``rosenbrock``, ``saddle`` or ``rastrigin``."""
    if name not in LANDSCAPES:
        raise KeyError(f"landscape must be one of {sorted(LANDSCAPES)}; got {name!r}")
    return LANDSCAPES[name](**kwargs)
