"""Online HyperSVG (Crouther 2023, sec. 3.4.1-3.4.2 and 4.3.2): the synthetic optimizer and the learning-rate
policy learn alongside a real SGD run. Every meta-epoch the true optimizer takes ``inner_steps`` SGD steps (through
the unroll engine) at the policy's current learning rate; the model then takes a SysID step on the logged segment and
the policy an SVG(infinity) step through the model on it (:func:`~.svg.svg_inf_loss`).

* ``mode="adaptive"``: the policy steers the learning rate at every meta-epoch, for all ``epochs``;
* ``mode="bandit"``: after ``warmup`` meta-epochs the policy is frozen and its last learning rate is used for the
  remaining ``epochs`` (the thesis's Bandit-K runs ``100 + K`` meta-epochs in all). The thesis also "resets the true
  optimizer completely using the learned optimizer to initialise it" after the warm-up, which is ambiguous;
  ``reset=True`` restarts the parameters from their initial values (our reading), ``False`` continues.

**Exploration** (``explore > 0``; ours, not the thesis's): the executed log learning rate of each SGD step is the
policy's plus Gaussian noise of standard deviation ``explore``, a stochastic policy as in Heess et al. (2015), whose
noise :func:`~.svg.svg_inf_loss` reparameterises (``offsets``). Without it every logged transition of a segment has
the same rate, and how the next parameters depend on the rate — the only derivative the policy's step uses — is
never observed: the model's answer is an extrapolation, and Adam follows its sign at full speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..core import trees
from ..tasks.base import Task
from .model import imitation_loss
from ..meta.trainer import fit
from .svg import svg_inf_loss

MODES = ("adaptive", "bandit")


@dataclass
class OnlineHistory:
    """Per meta-epoch: the learning rate used and ``score(params)`` after it (e.g. validation accuracy); per learning
    meta-epoch, the model's imitation loss after its fit and ``resolution``, its error on the new segment *before* the
    fit relative to the size of the segment's steps, ``mean ||s' - mu(s, a)|| / mean ||s' - s||`` (above 1, the
    model cannot resolve how a step depends on the rate); ``params``: the final parameters."""

    lr: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    model_loss: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    params: dict | None = None


def online_hypersvg(task: Task, model, policy, epochs: int, *, inner_steps: int = 20, mode: str = "adaptive",  # noqa: ANN001
                    warmup: int = 10, reset: bool = False, lr_policy: float = 0.05, lr_model: float = 1e-3,
                    model_steps: int = 5, svg_loss: Callable[[Tensor], Tensor] | None = None,
                    score: Callable[[dict], float] | None = None, explore: float = 0.0,
                    generator: torch.Generator | None = None) -> OnlineHistory:
    """Run online HyperSVG on ``task`` (parameters flattened for the model) for ``epochs`` meta-epochs (plus
    ``warmup`` in bandit mode). ``svg_loss(s_flat)`` is the task loss the policy's SVG step differentiates (default:
    the task's deterministic loss, ``task.loss(params, None)``); ``score`` is recorded after every meta-epoch.
    ``explore``: the standard deviation of the exploration noise on the log learning rate (drawn from
    ``generator``; none once a bandit's rate is frozen)."""
    from ..meta.engine import unroll

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if not isinstance(epochs, int) or epochs < 1 or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"epochs must be >= 1 and warmup >= 0; got {epochs!r} and {warmup!r}")
    if not explore >= 0:
        raise ValueError(f"explore must be >= 0 (a standard deviation of the log learning rate); got {explore!r}")
    g = generator or torch.Generator().manual_seed(0)
    params0 = task.init_params()
    unflatten = lambda s: trees.split(s, params0)  # noqa: E731  (the task's own parameter structure)
    svg_loss = svg_loss or (lambda s: task.loss(unflatten(s), None))
    opt_policy = torch.optim.Adam(policy.parameters(), lr=lr_policy)
    weights = list(model.parameters()) if hasattr(model, "parameters") else []
    opt_model = torch.optim.Adam(weights, lr=lr_model) if weights else None  # a fixed model (e.g. TrueSGD) is not fitted
    history = OnlineHistory()
    params, step = params0, 0
    total = epochs + (warmup if mode == "bandit" else 0)
    frozen = None
    for epoch in range(total):
        if mode == "bandit" and epoch == warmup:
            frozen = policy.lr()
            if reset:
                params, step = params0, 0
        lr = frozen if frozen is not None else policy.lr()
        offsets = torch.zeros(inner_steps, dtype=torch.float64)
        if frozen is None and explore > 0:
            offsets = explore * torch.randn(inner_steps, generator=g, dtype=torch.float64)
        log_lr = float(torch.log(torch.tensor(lr, dtype=torch.float64))) + offsets
        hp = {"lr": lr} if not bool(offsets.any()) else (lambda t, _s=step: {"lr": float(log_lr[t - _s].exp())})
        run = unroll(task, "sgd", params, inner_steps, hp=hp, start=step, record=True)
        params, step = run.params, step + inner_steps
        states = torch.stack([trees.flat(w).detach().reshape(-1) for w in run.trajectory]).to(torch.float64)
        history.lr.append(lr)
        if frozen is None:
            s, s_next = states[:-1], states[1:]
            with torch.no_grad():
                error = (s_next - model(s, log_lr)).norm(dim=-1).mean()
                history.resolution.append(float(error / (s_next - s).norm(dim=-1).mean().clamp_min(1e-300)))
            if opt_model is not None:
                losses = fit(model, opt_model, lambda: imitation_loss(model, s, log_lr, s_next), model_steps)
                history.model_loss.append(losses[-1])
            fit(policy, opt_policy, lambda: svg_inf_loss(model, policy(), states, svg_loss, "chained", offsets=offsets))
        if score is not None:
            history.score.append(float(score(trees.as_dict(params))))
    history.params = trees.as_dict(params)
    return history
