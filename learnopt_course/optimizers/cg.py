"""Nonlinear conjugate gradient (Fletcher & Reeves 1964; Polak & Ribiere 1969) as a functional optimizer with a fixed
step, a baseline of Li & Malik (2017, sec. 4). Classic CG takes a line search along each direction; on a stream of
minibatches an exact line search would fit the minibatch, so the step size ``lr`` is a hyperparameter tuned like every
other baseline's (stated wherever it is compared). Every tensor of the tree is one flat vector: the conjugacy
couples all of them.

    beta_t = ||g_t||^2 / ||g_{t-1}||^2 ("fr", Fletcher-Reeves, the default)
             or g_t^T (g_t - g_{t-1}) / ||g_{t-1}||^2 clipped at 0 ("pr+", Polak-Ribiere with restarts)
    d_t = -g_t + beta_t d_{t-1};   x_{t+1} = x_t + lr d_t

Without a line search the two differ sharply: on a quadratic, a small fixed step gives g_t = (I - lr H) g_{t-1}, so
g_t^T (g_t - g_{t-1}) = -lr g_t^T H g_{t-1} < 0 and Polak-Ribiere+ restarts at every step, i.e. it *is* gradient
descent (tested); Fletcher-Reeves keeps a momentum-like memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import trees
from .base import Params

VARIANTS = ("fr", "pr+")


class ConjugateGradient:
    """``init(params)``, ``step(params, grads, state, hp)`` with hyperparameters ``lr`` (default 0.1) and ``variant``
    (``"fr"``, default, or ``"pr+"``); ``restart`` (default 0: never) resets the direction to ``-g`` every
    ``restart`` steps."""

    name = "cg"
    defaults: Mapping[str, Any] = {"lr": 0.1, "variant": "fr", "restart": 0}

    def init(self, params: Params) -> dict[str, Any]:
        return {"t": 0, "d": None, "prev_grad": None}

    def step(self, params: Params, grads: Params, state: dict[str, Any],
             hp: Mapping[str, Any] | None = None) -> tuple[Params, dict[str, Any]]:
        unknown = set(hp or {}) - set(self.defaults)
        if unknown:
            raise KeyError(f"cg has no hyperparameter {sorted(unknown)[0]!r}; expected some of {sorted(self.defaults)}")
        h = {**self.defaults, **(hp or {})}
        if h["variant"] not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {h['variant']!r}")
        x, g = trees.flat(params), trees.flat(grads)
        t = state["t"] + 1
        if state["d"] is None or (h["restart"] and (t - 1) % int(h["restart"]) == 0):
            d = -g
        else:
            prev = state["prev_grad"]
            denom = (prev @ prev).clamp_min(1e-300)
            beta = (g @ (g - prev)).clamp_min(0.0) / denom if h["variant"] == "pr+" else (g @ g) / denom
            d = -g + beta * state["d"]
        # copies: a torch.optim adapter may reuse the gradient's storage
        new_state = {"t": t, "d": d.detach().clone(), "prev_grad": g.detach().clone()}
        return trees.split(x + h["lr"] * d, params), new_state


cg = ConjugateGradient()
