"""Differentiable functional optimizers: SGD, heavy ball, Nesterov, RMSprop and Adam as pure steps.

Every optimizer here is one :class:`FunctionalOptimizer`: a per-tensor update rule plus its state slots. A step is

    params, state = opt.step(params, grads, state, hyperparameters)

and never modifies a tensor in place, so when ``params``, ``grads`` or a hyperparameter carry autograd history the
new parameters do too. That is what lets later lessons differentiate a whole training run with respect to a
learning rate (lesson 02), or train the optimizer itself (lesson 05).

Conventions follow ``torch.optim`` (so that the two agree to rounding error, which the tests check):

* heavy ball ``v <- mu v + g, p <- p - lr v``. For a constant ``lr`` this is Polyak's (1964) form
  ``x_{t+1} = x_t - lr g_t + mu (x_t - x_{t-1})`` (Crouther 2023, eq. 1.2.2) with ``v_t = (x_{t-1} - x_t) / lr``;
* Nesterov ``v <- mu v + g, p <- p - lr (g + mu v)``, the look-ahead form of Sutskever et al. (2013) rewritten in
  the look-ahead variable (Crouther 2023, eq. 1.2.4);
* RMSprop (Tieleman & Hinton 2012) and Adam (Kingma & Ba 2015, Algorithm 1) with bias correction.

RMSprop and Adam add ``eps_root`` inside the square root (default 1e-16): the value is unchanged to rounding, but the
derivative of ``sqrt(v)`` stays finite at ``v = 0``, so meta-gradients through a zero gradient are 0, not NaN.

Hyperparameters may be Python floats, 0-d tensors (for example ``lr`` with ``requires_grad=True``), tensors shaped
like a parameter (per-coordinate values), or a mapping from parameter names to any of those (per-tensor values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import Tensor

from ..core import trees
from .base import Optimizer, Params, State

HyperValue = Union[float, Tensor, Mapping[str, Union[float, Tensor]]]
Hyper = Mapping[str, HyperValue]
Rule = Callable[[Tensor, Tensor, dict[str, Tensor], dict[str, Any], int], tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True)
class FunctionalOptimizer:
    """A pure, differentiable optimizer: ``init(params) -> state``; ``step(params, grads, state, hp) -> (params, state)``.

    ``rule(p, g, slots, hp, t)`` updates one tensor at step ``t`` (1-based) and returns the new tensor and slots.
    """

    name: str
    defaults: Mapping[str, float]
    slots: tuple[str, ...]
    rule: Rule = field(repr=False)

    def init(self, params: Params) -> State:
        """Zero state (momentum buffers, second-moment averages) for every tensor, and the step counter. Each slot
        has the dtype and device of its tensor."""
        tensors = trees.as_dict(params, "params")
        return {"t": 0, "slots": {k: {s: torch.zeros_like(p) for s in self.slots} for k, p in tensors.items()}}

    def hyperparameters(self, hp: Hyper | None = None) -> dict[str, HyperValue]:
        """The defaults overridden by ``hp``; unknown names raise ``KeyError`` naming the known ones."""
        merged: dict[str, HyperValue] = dict(self.defaults)
        for key, value in (hp or {}).items():
            if key not in self.defaults:
                raise KeyError(
                    f"{self.name} has no hyperparameter {key!r}; expected some of {sorted(self.defaults)}"
                )
            merged[key] = value
        return merged

    def step(self, params: Params, grads: Params, state: State, hp: Hyper | None = None) -> tuple[Params, State]:
        """One optimizer step on every tensor; returns new params and new state (inputs are left untouched)."""
        p_dict, g_dict = trees.as_dict(params, "params"), trees.as_dict(grads, "grads")
        if p_dict.keys() != g_dict.keys():
            raise KeyError(f"grads must have the same keys as params; params {sorted(p_dict)}, grads {sorted(g_dict)}")
        if not isinstance(state, Mapping) or "t" not in state or "slots" not in state:
            raise TypeError(f"state must come from {self.name}.init(params); got {type(state).__name__}")
        merged = self.hyperparameters(hp)
        per_tensor = [name for name, value in merged.items() if isinstance(value, Mapping)]
        t = int(state["t"]) + 1
        new_params: dict[str, Tensor] = {}
        new_slots: dict[str, dict[str, Tensor]] = {}
        for key, p in p_dict.items():
            g = g_dict[key]
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] has shape {tuple(g.shape)} but params[{key!r}] has {tuple(p.shape)}")
            local = merged if not per_tensor else {**merged, **{n: _select(merged[n], key, n) for n in per_tensor}}
            new_params[key], new_slots[key] = self.rule(p, g, state["slots"][key], local, t)
        return trees.like(params, new_params), {"t": t, "slots": new_slots}


def _select(value: HyperValue, key: str, name: str) -> float | Tensor:
    if isinstance(value, Mapping):
        if key not in value:
            raise KeyError(f"hyperparameter {name!r} is given per tensor but has no entry for {key!r}")
        return value[key]
    return value


def _number(x: Any) -> bool:
    return isinstance(x, (int, float))


def _decayed(p: Tensor, g: Tensor, hp: dict[str, Any]) -> Tensor:
    wd = hp["weight_decay"]
    if _number(wd):
        return g if wd == 0 else g.add(p, alpha=wd)
    return g + wd * p


def _axpy(p: Tensor, lr: float | Tensor, d: Tensor) -> Tensor:
    """``p - lr d`` in one kernel when ``lr`` is a number."""
    return p.sub(d, alpha=lr) if _number(lr) else p - lr * d


def _ema(old: Tensor, new: Tensor, decay: float | Tensor) -> Tensor:
    """``decay old + (1 - decay) new`` (one ``lerp`` kernel when ``decay`` is a number)."""
    return torch.lerp(old, new, 1 - decay) if _number(decay) else decay * old + (1 - decay) * new


def _ema_sq(old: Tensor, g: Tensor, decay: float | Tensor) -> Tensor:
    """``decay old + (1 - decay) g^2``."""
    return torch.addcmul(old * decay, g, g, value=1 - decay) if _number(decay) else decay * old + (1 - decay) * g * g


def _sgd(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Robbins & Monro (1951) / Crouther (2023) eq. 1.1.2: ``p - lr (g + wd p)``."""
    return _axpy(p, hp["lr"], _decayed(p, g, hp)), {}


def _heavy_ball(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Polyak (1964), Crouther (2023) eq. 1.2.2 in velocity form: ``v <- mu v + g; p <- p - lr v``."""
    mu = hp["momentum"]
    g = _decayed(p, g, hp)
    v = torch.add(g, s["v"], alpha=mu) if _number(mu) else mu * s["v"] + g
    return _axpy(p, hp["lr"], v), {"v": v}


def _nesterov(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Nesterov (1983), Crouther (2023) eq. 1.2.4 in torch's form: ``v <- mu v + g; p <- p - lr (g + mu v)``."""
    mu = hp["momentum"]
    g = _decayed(p, g, hp)
    if _number(mu):
        v = torch.add(g, s["v"], alpha=mu)
        return _axpy(p, hp["lr"], torch.add(g, v, alpha=mu)), {"v": v}
    v = mu * s["v"] + g
    return _axpy(p, hp["lr"], g + mu * v), {"v": v}


def _rmsprop(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Tieleman & Hinton (2012): ``s <- a s + (1-a) g^2; p <- p - lr g / (sqrt(s + eps_root) + eps)``."""
    g = _decayed(p, g, hp)
    sq = _ema_sq(s["sq"], g, hp["alpha"])
    denom = torch.sqrt(sq + hp["eps_root"]) + hp["eps"]
    lr = hp["lr"]
    return (torch.addcdiv(p, g, denom, value=-lr) if _number(lr) else p - lr * g / denom), {"sq": sq}


def _adagrad(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Duchi, Hazan & Singer (2011), as ``torch.optim.Adagrad``: ``s <- s + g^2; p <- p - lr g / (sqrt(s + eps_root)
    + eps)`` (a baseline of Li & Malik 2017, sec. 4)."""
    g = _decayed(p, g, hp)
    total = torch.addcmul(s["sum"], g, g)
    denom = torch.sqrt(total + hp["eps_root"]) + hp["eps"]
    lr = hp["lr"]
    return (torch.addcdiv(p, g, denom, value=-lr) if _number(lr) else p - lr * g / denom), {"sum": total}


def _adam(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Kingma & Ba (2015), Algorithm 1, with an ``eps_root`` inside the square root for finite meta-gradients:
    ``m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; p <- p - lr m_hat / (sqrt(v_hat + eps_root) + eps)``."""
    g = _decayed(p, g, hp)
    b1, b2, lr = hp["beta1"], hp["beta2"], hp["lr"]
    m = _ema(s["m"], g, b1)
    v = _ema_sq(s["v"], g, b2)
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    if _number(b2) and _number(hp["eps_root"]):
        v_hat = torch.add(v, hp["eps_root"] * bc2).div_(bc2) if hp["eps_root"] else v / bc2
    else:
        v_hat = v / bc2 + hp["eps_root"]
    denom = torch.sqrt(v_hat) + hp["eps"]
    if _number(lr) and _number(b1):
        return torch.addcdiv(p, m, denom, value=-lr / bc1), {"m": m, "v": v}
    return p - lr * (m / bc1) / denom, {"m": m, "v": v}


sgd = FunctionalOptimizer("sgd", {"lr": 0.01, "weight_decay": 0.0}, (), _sgd)
heavy_ball = FunctionalOptimizer("heavy_ball", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}, ("v",), _heavy_ball)
nesterov = FunctionalOptimizer("nesterov", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}, ("v",), _nesterov)
rmsprop = FunctionalOptimizer(
    "rmsprop", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "eps_root": 1e-16, "weight_decay": 0.0}, ("sq",), _rmsprop
)
adagrad = FunctionalOptimizer(
    "adagrad", {"lr": 0.01, "eps": 1e-10, "eps_root": 1e-16, "weight_decay": 0.0}, ("sum",), _adagrad
)
adam = FunctionalOptimizer(
    "adam",
    {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "eps_root": 1e-16, "weight_decay": 0.0},
    ("m", "v"),
    _adam,
)

OPTIMIZERS: dict[str, FunctionalOptimizer] = {o.name: o for o in (sgd, heavy_ball, nesterov, rmsprop, adagrad, adam)}


def get(name: str | Optimizer) -> Optimizer:
    """Look an optimizer up by name (``sgd``, ``heavy_ball``, ``nesterov``, ``rmsprop``, ``adagrad``, ``adam``); an optimizer
    object (hand-designed or learned, anything with ``init`` and ``step``) is returned as it is."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise KeyError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}")
    return OPTIMIZERS[name]


# --- Position (two-point) forms, as written in the papers --------------------------------------------------------
# These step one iterate given the previous one; they are what lesson 01's exercises ask students to write. For a
# constant learning rate they produce exactly the iterates of ``heavy_ball`` and ``nesterov`` above (tested).


def polyak_step(x: Tensor, x_prev: Tensor, grad: Tensor, lr: float | Tensor, momentum: float | Tensor) -> Tensor:
    """Heavy ball, Polyak (1964); Crouther (2023) eq. 1.2.2: ``x_{t+1} = x_t - lr grad f(x_t) + m (x_t - x_{t-1})``."""
    return x - lr * grad + momentum * (x - x_prev)


def nesterov_position_step(
    x: Tensor, x_prev: Tensor, grad_fn: Callable[[Tensor], Tensor], lr: float | Tensor, momentum: float | Tensor
) -> Tensor:
    """Nesterov (1983); Crouther (2023) eq. 1.2.4: look ahead to ``y = x_t + m (x_t - x_{t-1})``, then
    ``x_{t+1} = y - lr grad f(y)``."""
    y = x + momentum * (x - x_prev)
    return y - lr * grad_fn(y)
