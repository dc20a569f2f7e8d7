"""Complex momentum and complex Adam (Lorraine 2023, ch. 4, Algs. 8 and 12) as functional optimizers on real tensors.

Complex momentum keeps a complex buffer ``mu`` with a complex coefficient ``beta = |beta| e^{i arg beta}``,
``|beta| < 1``, and moves the real parameters by the real part: ``mu <- beta mu - g``, ``theta <- theta + lr Re(mu)``
(Alg. 7). Alg. 12 stores ``mu`` as two real buffers, ``mu = vr + i vi``:

    vr <- Re(beta) vr - Im(beta) vi - g,   vi <- Im(beta) vr + Re(beta) vi,   theta <- theta + lr vr.

Unrolled, ``Re(mu_{j+1}) = -sum_k |beta|^k cos(k arg beta) g_{j-k}``: past gradients get oscillating weights, which
damps the rotations of adversarial games. ``arg beta = 0`` is heavy ball (with ``v = -vr``), ``arg beta = pi`` is
negative momentum, and ``beta`` and its conjugate give the same iterates. Complex Adam (Alg. 8) applies the same
complex first moment with Adam's real second moment, without first-moment bias correction (``1 - beta1^t`` would be
complex).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .functional import FunctionalOptimizer


def _beta(hp: dict[str, Any], like: Tensor) -> tuple[Tensor, Tensor]:
    """``(Re beta, Im beta)`` from ``beta_abs`` and ``beta_arg`` (floats or tensors; autograd flows through both)."""
    r = torch.as_tensor(hp["beta_abs"], dtype=like.dtype, device=like.device)
    phi = torch.as_tensor(hp["beta_arg"], dtype=like.dtype, device=like.device)
    return r * torch.cos(phi), r * torch.sin(phi)


def _complex_momentum(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any],
                      t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Lorraine (2023) Alg. 12: ``vr <- Re(b) vr - Im(b) vi - g; vi <- Im(b) vr + Re(b) vi; p <- p + lr vr``."""
    br, bi = _beta(hp, p)
    vr = br * s["vr"] - bi * s["vi"] - g
    vi = bi * s["vr"] + br * s["vi"]
    return p + hp["lr"] * vr, {"vr": vr, "vi": vi}


def _complex_adam(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any],
                  t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Lorraine (2023) Alg. 8: the complex first moment of Alg. 12 (``beta_abs``, ``beta_arg``), Adam's bias-corrected
    real second moment: ``v <- b2 v + (1 - b2) g^2; p <- p + lr Re(mu) / (sqrt(v / (1 - b2^t)) + eps)``."""
    br, bi = _beta(hp, p)
    mr = br * s["mr"] - bi * s["mi"] - g
    mi = bi * s["mr"] + br * s["mi"]
    b2 = hp["beta2"]
    v = b2 * s["v"] + (1 - b2) * g * g
    denom = torch.sqrt(v / (1 - b2**t) + hp["eps_root"]) + hp["eps"]
    return p + hp["lr"] * mr / denom, {"mr": mr, "mi": mi, "v": v}


complex_momentum = FunctionalOptimizer("complex_momentum", {"lr": 0.1, "beta_abs": 0.9, "beta_arg": 0.0},
                                       ("vr", "vi"), _complex_momentum)
complex_adam = FunctionalOptimizer("complex_adam", {"lr": 1e-3, "beta_abs": 0.8, "beta_arg": 0.3927, "beta2": 0.999,
                                                    "eps": 1e-8, "eps_root": 1e-16}, ("mr", "mi", "v"), _complex_adam)
