"""L-BFGS (Liu & Nocedal 1989) as a functional optimizer with a fixed step: one direction per step from the last
``history`` curvature pairs by the two-loop recursion, as ``torch.optim.LBFGS(max_iter=1, line_search_fn=None)``
does (tested equal), so it runs in the unroll engine and in the environment like any other optimizer. A baseline of
Li & Malik (2017, sec. 4). Every tensor of the tree is one flat vector: the curvature pairs couple all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import trees
from .base import Params


class LBFGS:
    """``init(params)``, ``step(params, grads, state, hp)`` with hyperparameters ``lr`` (default 1), ``history``
    (default 100), ``tolerance_grad`` (1e-7) and ``tolerance_change`` (1e-9), all as in ``torch.optim.LBFGS``."""

    name = "lbfgs"
    defaults: Mapping[str, float] = {"lr": 1.0, "history": 100, "tolerance_grad": 1e-7, "tolerance_change": 1e-9}

    def init(self, params: Params) -> dict[str, Any]:
        return {"t": 0, "d": None, "step": None, "dirs": [], "steps": [], "ro": [], "H_diag": 1.0,
                "prev_grad": None}

    def step(self, params: Params, grads: Params, state: dict[str, Any],
             hp: Mapping[str, Any] | None = None) -> tuple[Params, dict[str, Any]]:
        unknown = set(hp or {}) - set(self.defaults)
        if unknown:
            raise KeyError(f"lbfgs has no hyperparameter {sorted(unknown)[0]!r}; expected some of {sorted(self.defaults)}")
        h = {**self.defaults, **(hp or {})}
        x, g = trees.flat(params), trees.flat(grads)
        if float(g.abs().max()) <= h["tolerance_grad"]:
            return params, state
        n = state["t"] + 1
        dirs, steps, ro, H_diag = list(state["dirs"]), list(state["steps"]), list(state["ro"]), state["H_diag"]
        if n == 1:
            d = -g
            dirs, steps, ro, H_diag = [], [], [], 1.0
        else:
            y = g - state["prev_grad"]
            s = state["d"] * state["step"]
            ys = y @ s
            if ys > 1e-10:
                if len(dirs) == int(h["history"]):
                    dirs.pop(0), steps.pop(0), ro.pop(0)
                dirs.append(y), steps.append(s), ro.append(1.0 / ys)
                H_diag = ys / (y @ y)
            q = -g
            alphas = [None] * len(dirs)
            for i in range(len(dirs) - 1, -1, -1):
                alphas[i] = (steps[i] @ q) * ro[i]
                q = q - alphas[i] * dirs[i]
            d = q * H_diag
            for i in range(len(dirs)):
                beta = (dirs[i] @ d) * ro[i]
                d = d + (alphas[i] - beta) * steps[i]
        step = min(1.0, 1.0 / float(g.abs().sum())) * h["lr"] if n == 1 else h["lr"]
        new_state = {"t": n, "d": d, "step": step, "dirs": dirs, "steps": steps, "ro": ro, "H_diag": H_diag,
                     "prev_grad": g.clone()}  # g may be a view of a gradient the torch.optim adapter reuses
        if g @ d > -h["tolerance_change"]:  # no descent along d: torch.optim.LBFGS stops without moving
            return params, new_state
        return trees.split(x + step * d, params), new_state


lbfgs = LBFGS()
