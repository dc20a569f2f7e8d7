"""Any functional optimizer (hand-designed or learned) as a ``torch.optim.Optimizer``.

``TorchOptimizer(model.parameters(), "adam", lr=1e-3)`` and ``LearnedOptimizer(model.parameters(), net)`` run the
same :class:`~.base.Optimizer` objects the unroll engine differentiates through, inside an ordinary
``loss.backward(); opt.step()`` loop. Each parameter tensor keeps the functional state of its own optimizer in
``self.state[p]`` (so ``state_dict``/``load_state_dict`` round-trip it), every hyperparameter, ``lr`` included, lives
in the parameter groups (so ``torch.optim.lr_scheduler`` can change it), and states follow the dtype and device of
their tensors (a learned optimizer's recurrent state keeps the network's dtype).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from .base import Optimizer, map_state
from .functional import get
from .learned import CoordinateLSTM


class TorchOptimizer(torch.optim.Optimizer):
    """Run a functional optimizer (a name such as ``"adam"``, or an optimizer object) as a ``torch.optim`` one."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], optimizer: str | Optimizer, **hp: float) -> None:
        self.functional = get(optimizer)
        defaults = dict(getattr(self.functional, "defaults", {}))
        unknown = set(hp) - set(defaults)
        if unknown:
            raise KeyError(f"{self.functional.name} has no hyperparameter {sorted(unknown)[0]!r}; expected some of "
                           f"{sorted(defaults)}")
        super().__init__(params, defaults | hp)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        extra = {}
        if getattr(self.functional, "uses_loss", False):
            if loss is None:
                raise ValueError(f"{self.functional.name} observes the objective's value: call step(closure) with a "
                                 "closure that returns the loss")
            extra = {"loss": loss.detach()}
        names = list(getattr(self.functional, "defaults", {}))
        for group in self.param_groups:
            hp = {k: group[k] for k in names}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "functional" not in state:
                    state["functional"] = self.functional.init(p.detach())
                placed = map_state(lambda t, d=p.device: t if t.device == d else t.to(d), state["functional"])
                new_p, state["functional"] = self.functional.step(p.detach(), p.grad, placed, hp, **extra)
                p.copy_(new_p)
        return loss


class LearnedOptimizer(TorchOptimizer):
    """A trained :class:`CoordinateLSTM` as a ``torch.optim.Optimizer``: ``loss.backward(); opt.step()``.

    Each parameter tensor keeps its own per-coordinate LSTM state. The optimizer runs a frozen *copy* of ``net``:
    the caller's network is left as it was (still trainable). ``lr`` (default 1) multiplies the learned update."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], net: CoordinateLSTM, lr: float = 1.0) -> None:
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        super().__init__(params, self.net.optimizer(), lr=lr)

    def state_dict(self) -> dict:
        """``torch.optim``'s state dict plus the learned rule itself (its config and weights): a saved optimizer is
        restored whole, whatever network the restoring optimizer was built with."""
        from dataclasses import asdict

        return {**super().state_dict(), "learned": {"config": asdict(self.net.config),
                                                    "weights": copy.deepcopy(self.net.state_dict())}}

    def load_state_dict(self, state_dict: dict) -> None:
        """As ``torch.optim``'s, but the learned rule is restored too and the recurrent state keeps the network's
        dtype (``torch.optim`` would cast it to each parameter's dtype)."""
        state_dict = dict(state_dict)
        learned = state_dict.pop("learned", None)
        if learned is not None:
            from .learned import LSTMConfig

            dtype = self.net.cells[0].weight_ih.dtype
            device = self.net.cells[0].weight_ih.device
            net = CoordinateLSTM(LSTMConfig(**learned["config"]))
            net.load_state_dict(learned["weights"])
            self.net = net.to(device=device, dtype=dtype).eval().requires_grad_(False)
            self.functional = self.net.optimizer()
        super().load_state_dict(state_dict)
        dtype = self.net.cells[0].weight_ih.dtype
        for state in self.state.values():
            if "functional" in state:
                lstm = state["functional"]["lstm"]
                state["functional"]["lstm"] = [(h.to(dtype), c.to(dtype)) for h, c in lstm]
