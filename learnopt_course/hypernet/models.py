"""Best-response approximations ``w_phi(lam)`` (Lorraine 2023, eq. 2.3, sec. 2.2.3 and 2.4): a hypernetwork maps the
``H`` hyperparameters (a flat vector) to the ``P`` weights of the model (a flat vector; :func:`~.train.weights`
unflattens it). Parameter counts for the thesis's MNIST linear model (``P = 7,850``, checked in the tests):

* :class:`GlobalHypernet` ``1 -> 50 -> 7,850`` (ReLU, sec. 2.4.1): 400,450;
* :class:`LinearHypernet` ``1 -> 7,850`` (sec. 2.4.2): 15,700;
* :class:`FactorizedHypernet` ``7,850 -> 10 -> 7,850`` with a linear bottleneck (the thesis's "hypernetwork with 10
  hidden units", sec. 2.4.3-2.4.4): 164,860.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _check(name: str, value: object, low: int = 1) -> None:
    if not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


class GlobalHypernet(nn.Module):
    """``w = W2 relu(W1 lam + b1) + b2``: a global best-response model (Alg. 2), accurate wherever ``p(lam)`` puts
    mass if it has the capacity (its size is ``hidden x P``, sec. 2.2.2). The output layer starts scaled by
    ``init_scale`` with a zero bias (ours: the predicted weights start near zero)."""

    def __init__(self, H: int, P: int, hidden: int = 50, dtype: torch.dtype = torch.float32,
                 init_scale: float = 0.01) -> None:
        super().__init__()
        _check("H", H), _check("P", P), _check("hidden", hidden)
        self.H, self.P = H, P
        self.net = nn.Sequential(nn.Linear(H, hidden), nn.ReLU(), nn.Linear(hidden, P)).to(dtype)
        with torch.no_grad():  # start near w = 0 (a P-wide default init would predict weights of size ~1/sqrt(50))
            self.net[-1].weight.mul_(init_scale)
            self.net[-1].bias.zero_()

    def forward(self, lam: Tensor) -> Tensor:
        """``[..., H] -> [..., P]``."""
        return self.net(lam)


class LinearHypernet(nn.Module):
    """``w = W lam + b``: a tangent hyperplane to the best response (sec. 2.2.3), for local training (Alg. 3).
    ``W`` starts at ``init_scale`` times torch's default and ``b`` at ``w0`` (default 0); ``zero_init`` starts ``W``
    at zero: the setting of the sigma = 0 stall."""

    def __init__(self, H: int, P: int, dtype: torch.dtype = torch.float32, zero_init: bool = False,
                 w0: Tensor | None = None, init_scale: float = 0.01) -> None:
        super().__init__()
        _check("H", H), _check("P", P)
        self.H, self.P = H, P
        self.linear = nn.Linear(H, P).to(dtype)
        with torch.no_grad():  # torch's default for fan-in H = 1 draws weights of size 1: start near w0 (or 0) instead
            self.linear.weight.mul_(0.0 if zero_init else init_scale)
            self.linear.bias.zero_()
            if w0 is not None:
                if w0.shape != (P,):
                    raise ValueError(f"w0 must be a flat vector of the P = {P} weights; got shape {tuple(w0.shape)}")
                self.linear.bias.copy_(w0)

    def forward(self, lam: Tensor) -> Tensor:
        return self.linear(lam)

    @property
    def jacobian(self) -> Tensor:
        """``dw/dlam``, ``[P, H]``: the learned approximation of the best-response Jacobian."""
        return self.linear.weight


class FactorizedHypernet(nn.Module):
    """``w = U (V lam + c) + b`` with a ``rank``-unit linear bottleneck: a low-rank linear hypernetwork for many
    hyperparameters (7,850 per-weight decays with rank 10 is 164,860 parameters, sec. 2.4.3)."""

    def __init__(self, H: int, P: int, rank: int = 10, dtype: torch.dtype = torch.float32,
                 w0: Tensor | None = None, init_scale: float = 0.01) -> None:
        super().__init__()
        _check("H", H), _check("P", P), _check("rank", rank)
        self.H, self.P = H, P
        self.V = nn.Linear(H, rank).to(dtype)
        self.U = nn.Linear(rank, P).to(dtype)
        with torch.no_grad():  # start near w0 (or 0): U scaled by init_scale, b = w0
            self.U.weight.mul_(init_scale)
            self.U.bias.zero_()
            if w0 is not None:
                if w0.shape != (P,):
                    raise ValueError(f"w0 must be a flat vector of the P = {P} weights; got shape {tuple(w0.shape)}")
                self.U.bias.copy_(w0)

    def forward(self, lam: Tensor) -> Tensor:
        return self.U(self.V(lam))


def parameter_count(module: nn.Module) -> int:
    """The number of trainable parameters of a hypernetwork."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
