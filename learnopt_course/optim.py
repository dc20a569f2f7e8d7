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

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import Tensor

Params = Union[Tensor, Mapping[str, Tensor]]
HyperValue = Union[float, Tensor, Mapping[str, Union[float, Tensor]]]
Hyper = Mapping[str, HyperValue]
State = dict[str, Any]
Rule = Callable[[Tensor, Tensor, dict[str, Tensor], dict[str, Any], int], tuple[Tensor, dict[str, Tensor]]]

_SINGLE = "__tensor__"


def _as_dict(tree: Params, argument: str) -> dict[str, Tensor]:
    if isinstance(tree, Tensor):
        return {_SINGLE: tree}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"{argument}[{key!r}] must be a torch.Tensor; got {type(value).__name__}")
        return dict(tree)
    raise TypeError(f"{argument} must be a tensor or a mapping of names to tensors; got {type(tree).__name__}")


def _like(original: Params, values: dict[str, Tensor]) -> Params:
    return values[_SINGLE] if isinstance(original, Tensor) else values


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
        """Zero state (momentum buffers, second-moment averages) for every tensor, and the step counter."""
        tensors = _as_dict(params, "params")
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
        p_dict, g_dict = _as_dict(params, "params"), _as_dict(grads, "grads")
        if p_dict.keys() != g_dict.keys():
            raise KeyError(f"grads must have the same keys as params; params {sorted(p_dict)}, grads {sorted(g_dict)}")
        if not isinstance(state, Mapping) or "t" not in state or "slots" not in state:
            raise TypeError(f"state must come from {self.name}.init(params); got {type(state).__name__}")
        merged = self.hyperparameters(hp)
        t = int(state["t"]) + 1
        new_params: dict[str, Tensor] = {}
        new_slots: dict[str, dict[str, Tensor]] = {}
        for key, p in p_dict.items():
            g = g_dict[key]
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] has shape {tuple(g.shape)} but params[{key!r}] has {tuple(p.shape)}")
            local = {name: _select(value, key, name) for name, value in merged.items()}
            new_params[key], new_slots[key] = self.rule(p, g, state["slots"][key], local, t)
        return _like(params, new_params), {"t": t, "slots": new_slots}


def _select(value: HyperValue, key: str, name: str) -> float | Tensor:
    if isinstance(value, Mapping):
        if key not in value:
            raise KeyError(f"hyperparameter {name!r} is given per tensor but has no entry for {key!r}")
        return value[key]
    return value


def _decayed(p: Tensor, g: Tensor, hp: dict[str, Any]) -> Tensor:
    wd = hp["weight_decay"]
    return g if isinstance(wd, (int, float)) and wd == 0 else g + wd * p


def _sgd(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Robbins & Monro (1951) / Crouther (2023) eq. 1.1.2: ``p - lr (g + wd p)``."""
    return p - hp["lr"] * _decayed(p, g, hp), {}


def _heavy_ball(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Polyak (1964), Crouther (2023) eq. 1.2.2 in velocity form: ``v <- mu v + g; p <- p - lr v``."""
    v = hp["momentum"] * s["v"] + _decayed(p, g, hp)
    return p - hp["lr"] * v, {"v": v}


def _nesterov(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Nesterov (1983), Crouther (2023) eq. 1.2.4 in torch's form: ``v <- mu v + g; p <- p - lr (g + mu v)``."""
    g = _decayed(p, g, hp)
    v = hp["momentum"] * s["v"] + g
    return p - hp["lr"] * (g + hp["momentum"] * v), {"v": v}


def _rmsprop(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Tieleman & Hinton (2012): ``s <- a s + (1-a) g^2; p <- p - lr g / (sqrt(s + eps_root) + eps)``."""
    g = _decayed(p, g, hp)
    sq = hp["alpha"] * s["sq"] + (1 - hp["alpha"]) * g * g
    return p - hp["lr"] * g / (torch.sqrt(sq + hp["eps_root"]) + hp["eps"]), {"sq": sq}


def _adam(p: Tensor, g: Tensor, s: dict[str, Tensor], hp: dict[str, Any], t: int) -> tuple[Tensor, dict[str, Tensor]]:
    """Kingma & Ba (2015), Algorithm 1, with an ``eps_root`` inside the square root for finite meta-gradients."""
    g = _decayed(p, g, hp)
    b1, b2 = hp["beta1"], hp["beta2"]
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return p - hp["lr"] * m_hat / (torch.sqrt(v_hat + hp["eps_root"]) + hp["eps"]), {"m": m, "v": v}


sgd = FunctionalOptimizer("sgd", {"lr": 0.01, "weight_decay": 0.0}, (), _sgd)
heavy_ball = FunctionalOptimizer("heavy_ball", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}, ("v",), _heavy_ball)
nesterov = FunctionalOptimizer("nesterov", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}, ("v",), _nesterov)
rmsprop = FunctionalOptimizer(
    "rmsprop", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "eps_root": 1e-16, "weight_decay": 0.0}, ("sq",), _rmsprop
)
adam = FunctionalOptimizer(
    "adam",
    {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "eps_root": 1e-16, "weight_decay": 0.0},
    ("m", "v"),
    _adam,
)

OPTIMIZERS: dict[str, FunctionalOptimizer] = {o.name: o for o in (sgd, heavy_ball, nesterov, rmsprop, adam)}


def get(name: str | FunctionalOptimizer) -> FunctionalOptimizer:
    """Look an optimizer up by name (``sgd``, ``heavy_ball``, ``nesterov``, ``rmsprop``, ``adam``)."""
    if isinstance(name, FunctionalOptimizer):
        return name
    if name not in OPTIMIZERS:
        raise KeyError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}")
    return OPTIMIZERS[name]


@dataclass
class Trajectory:
    """Parameters at steps 0..T (``params[t]``) and the loss at each of them (``losses[t]``)."""

    params: list[Params]
    losses: Tensor

    @property
    def final(self) -> Params:
        return self.params[-1]


def minimize(
    loss_fn: Callable[[Params], Tensor],
    params: Params,
    optimizer: str | FunctionalOptimizer,
    hp: Hyper | None = None,
    steps: int = 100,
    *,
    grad_fn: Callable[[Params, int], Params] | None = None,
    differentiable: bool = False,
) -> Trajectory:
    """Run ``steps`` optimizer steps on ``loss_fn`` from ``params``; record every iterate and loss.

    ``grad_fn(params, t)`` replaces autograd's gradient (noisy or analytic gradients). With ``differentiable=True``
    the whole run stays on the autograd graph (``create_graph``), so the final loss can be differentiated with
    respect to the initial parameters or to tensor hyperparameters.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
    opt = get(optimizer)
    state = opt.init(params)
    trajectory: list[Params] = []
    losses: list[Tensor] = []
    current = params
    if differentiable and grad_fn is None:
        # leaves that do not require grad (e.g. a fixed initialisation) become differentiable starting points
        current = _like(params, {k: v if v.requires_grad else v.detach().requires_grad_(True)
                                 for k, v in _as_dict(params, "params").items()})
    for t in range(steps + 1):
        if not differentiable:
            # without the graph, neither the parameters nor the optimizer's slots may carry one forward (a weight
            # decay makes the slots depend on the previous leaf: O(T P) memory in a loop meant to be graph-free)
            current, state = _detached(current), detach_state(state)
        needs_grad = grad_fn is None
        if needs_grad and not differentiable:
            current = _with_grad(current)
        loss = loss_fn(current)
        trajectory.append(current if differentiable else _detached(current))
        losses.append(loss if differentiable else loss.detach())
        if t == steps:
            break
        if grad_fn is not None:
            grads = grad_fn(current, t)
        else:
            tensors = _as_dict(current, "params")
            flat = torch.autograd.grad(loss, list(tensors.values()), create_graph=differentiable)
            grads = _like(current, dict(zip(tensors, flat)))
        current, state = opt.step(current, grads, state, hp)
    return Trajectory(trajectory, torch.stack(losses))


def _detached(tree: Params) -> Params:
    return _like(tree, {k: v.detach() for k, v in _as_dict(tree, "params").items()})


def detach_state(state: State) -> State:
    """A copy of an optimizer state with every slot detached from the autograd graph (same values)."""
    return {"t": state["t"], "slots": {k: {s: v.detach() for s, v in slots.items()} for k, slots in state["slots"].items()}}


def _with_grad(tree: Params) -> Params:
    return _like(tree, {k: v.detach().requires_grad_(True) for k, v in _as_dict(tree, "params").items()})


class PerTensorOptimizer(torch.optim.Optimizer, ABC):
    """The one ``torch.optim`` adapter: ``step`` calls :meth:`update` for every parameter that has a gradient, with
    that parameter's state dict and its group; subclasses say how a tensor is updated (in place, under no_grad)."""

    @abstractmethod
    def update(self, p: Tensor, state: dict, group: dict) -> None:
        """Update ``p`` in place from ``p.grad``, keeping what it needs in ``state``."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, self.state[p], group)
        return loss


class TorchOptimizer(PerTensorOptimizer):
    """Run a :class:`FunctionalOptimizer` inside an ordinary ``loss.backward(); opt.step()`` PyTorch loop."""

    def __init__(self, params: Any, optimizer: str | FunctionalOptimizer, **hp: float) -> None:
        self.functional = get(optimizer)
        super().__init__(params, self.functional.hyperparameters(hp))

    def update(self, p: Tensor, state: dict, group: dict) -> None:
        if not state:
            state.update(self.functional.init(p.detach()))
        hp = {k: group[k] for k in self.functional.defaults}
        new_p, new_state = self.functional.step(p.detach(), p.grad, state, hp)
        p.copy_(new_p)
        state.update(new_state)


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
