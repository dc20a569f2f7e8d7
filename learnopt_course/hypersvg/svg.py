"""Stochastic value gradients through the synthetic optimizer (Crouther 2023, Alg. 5-6, sec. 3.3-3.4; Heess et al.
2015), and the smoothing measurement the thesis asserts but never runs.

**Teacher-forced, as Alg. 5 prints it** (``mode="teacher"``): every step starts from the *logged* state ``s_t``, one
action ``a`` (a log learning rate) is applied throughout, and only the last task loss ``v_T = l(s'_hat_{T-1})`` is
returned; the gradient reaches ``a`` through the model's last step only. **Chained, SVG(infinity) proper**
(``mode="chained"``): ``s_hat_{t+1} = mu(s_hat_t, a) + sigma xi_t`` with the noise ``xi_t`` inferred on the logged
transition, so the forward pass reproduces the logged trajectory in value while the gradient flows through every
model step, ``d s_hat_{t+1} / d a = mu_s d s_hat_t / d a + mu_a``. With a perfect model (the true SGD map) the chained
gradient *is* the unrolled hypergradient of lesson 02 (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..meta.trainer import fit
from .data import Transitions
from .model import imitation_loss, infer_noise, infer_noise_printed, reparam_next

MODES = ("teacher", "chained")


def svg_inf_loss(model, log_lr: Tensor, states: Tensor, task_loss: Callable[[Tensor], Tensor],  # noqa: ANN001
                 mode: str = "chained", noise: str = "correct", offsets: Tensor | None = None) -> Tensor:
    """``v_T`` for logged trajectories ``states [..., T+1, d]`` (one run or a batch) under the action ``log_lr``
    (on the graph of the policy), through ``model`` (a callable ``(s, log lr) -> mu`` with a ``sigma``). ``noise``:
    ``"correct"`` infers ``(s' - mu) / sigma``, ``"printed"`` Alg. 5's ``(mu - s') / sigma``. Returns the mean of
    ``task_loss`` (``[..., d] -> [...]``) over the batch.

    ``offsets [T]``: the exploration noise of a stochastic policy, ``a_t = log_lr + offsets[t]`` — the action
    executed at step ``t`` in value, reparameterised so its derivative is the policy's (Heess et al. 2015, sec. 4:
    the policy's noise, like the dynamics' noise, is inferred from what was executed and held fixed)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if noise not in ("correct", "printed"):
        raise ValueError(f"noise must be 'correct' or 'printed'; got {noise!r}")
    infer = infer_noise if noise == "correct" else infer_noise_printed
    T = states.shape[-2] - 1
    if T < 1:
        raise ValueError(f"states must hold at least two steps along dim -2; got {tuple(states.shape)}")
    if offsets is not None and tuple(offsets.shape) != (T,):
        raise ValueError(f"offsets must have one entry per step, shape ({T},); got {tuple(offsets.shape)}")
    s_hat = states[..., 0, :]
    for t in range(T):
        a = log_lr if offsets is None else log_lr + offsets[t]
        s_t, s_next = states[..., t, :], states[..., t + 1, :]
        xi = infer(model, s_t, a, s_next)
        start = s_hat if mode == "chained" else s_t
        s_hat = reparam_next(model, start, a, xi)
    return task_loss(s_hat).mean()


class TrueSGD:
    """The true SGD map as a (perfect, differentiable) model: ``mu(s, log lr) = s - exp(log lr) grad f(s)`` with
    ``grad_fn`` the task's gradient (``sigma`` only scales the inferred noise, which is zero on SGD's own data)."""

    def __init__(self, grad_fn: Callable[[Tensor], Tensor], sigma: float = 0.1) -> None:
        self.grad_fn, self.sigma = grad_fn, sigma

    def __call__(self, s: Tensor, log_lr: Tensor) -> Tensor:
        return s - torch.exp(torch.as_tensor(log_lr, dtype=s.dtype)).unsqueeze(-1) * self.grad_fn(s)


def surrogate_outer(model, s0: Tensor, log_lrs: Tensor, steps: int,  # noqa: ANN001
                    task_loss: Callable[[Tensor], Tensor]) -> Tensor:
    """The surrogate's outer loss as a function of the learning rate: the model's mean chained ``steps`` times from
    ``s0 [d]`` at every log learning rate of ``log_lrs [L]`` (no noise), scored by ``task_loss``: ``[L]``."""
    s = s0.expand(log_lrs.shape[0], s0.shape[-1])
    with torch.no_grad():
        for _ in range(steps):
            s = model(s, log_lrs)
        return task_loss(s)


@dataclass
class Smoothness:
    """Sign changes of the finite-difference slope of an outer loss over a log learning-rate grid, for the true
    unrolled loss and the surrogate's, and the distance of their minimisers in decades."""

    sign_changes_true: int
    sign_changes_surrogate: int
    argmin_true: float  # learning rates
    argmin_surrogate: float
    distance_decades: float

    @property
    def smoother(self) -> bool:
        """The thesis's claim as the lesson notes state it (claim 14): at least 10x fewer sign changes and a
        minimiser within 0.3 decades."""
        return self.sign_changes_surrogate * 10 <= self.sign_changes_true and self.distance_decades <= 0.3


def sign_changes(values: Tensor) -> int:
    """How often the slope of ``values`` (on an ordered grid) changes sign, flat steps ignored."""
    slope = torch.sign(values[1:] - values[:-1])
    slope = slope[slope != 0]
    return int((slope[1:] != slope[:-1]).sum())


def smoothness(log_lrs: Tensor, true_values: Tensor, surrogate_values: Tensor) -> Smoothness:
    """Compare two outer losses on the same ordered grid of natural-log learning rates."""
    if not (log_lrs.shape == true_values.shape == surrogate_values.shape) or log_lrs.ndim != 1:
        raise ValueError(f"log_lrs, true_values and surrogate_values must be 1-d of one length; got "
                         f"{tuple(log_lrs.shape)}, {tuple(true_values.shape)}, {tuple(surrogate_values.shape)}")
    a, b = log_lrs[true_values.argmin()], log_lrs[surrogate_values.argmin()]
    return Smoothness(sign_changes(true_values), sign_changes(surrogate_values), float(a.exp()), float(b.exp()),
                      float((a - b).abs() / torch.log(torch.tensor(10.0, dtype=a.dtype))))


@dataclass
class DynaHistory:
    """Per iteration: the policy's learning rate (a list for a vector of constant policies), the SVG loss ``v_T``
    (summed over such policies) and the model's imitation loss."""

    lr: list = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    model_loss: list[float] = field(default_factory=list)


def offline_dyna(data: Transitions, model, policy, task_loss: Callable[[Tensor], Tensor], iterations: int, *,  # noqa: ANN001
                 horizon: int, batch: int = 8, lr_policy: float = 0.05, lr_model: float = 1e-3,
                 mode: str = "chained", generator: torch.Generator | None = None,
                 train_model: bool = True) -> DynaHistory:
    """Alg. 6 (Dyna-style): every iteration, on a batch of logged runs and a window of ``horizon`` steps from a random
    start, one policy step on ``v_T`` through the model (:func:`svg_inf_loss`) and one model step on the imitation
    loss of the batch's transitions (SysID; skipped with ``train_model=False``). Both steps are Adam, each one update
    of the library's meta-trainer.

    The SysID step never depends on the policy, so a vector of ``k`` constant policies (``LRPolicy(init_lr=[...])``)
    trains ``k`` independent offline runs that share one model, exactly as ``k`` separate calls with the same
    ``generator`` would (the policies' losses are summed, and Adam's update is per coordinate); ``task_loss`` then
    sees states ``[k, batch, d]``."""
    g = generator or torch.Generator().manual_seed(0)
    if not 1 <= horizon <= data.steps:
        raise ValueError(f"horizon must be from 1 to the data's {data.steps} steps; got {horizon!r}")
    k = getattr(policy, "size", None)
    opt_policy = torch.optim.Adam(policy.parameters(), lr=lr_policy)
    weights = list(model.parameters()) if train_model and hasattr(model, "parameters") else []
    opt_model = torch.optim.Adam(weights, lr=lr_model) if weights else None
    history = DynaHistory()
    for _ in range(iterations):
        runs = torch.randint(0, data.runs, (batch,), generator=g)
        t0 = int(torch.randint(0, data.steps - horizon + 1, (), generator=g))
        window = data.states[runs, t0 : t0 + horizon + 1]
        first = window[:, 0]

        def value() -> Tensor:
            if getattr(policy, "state_dim", None) is not None:
                return svg_inf_loss(model, policy(first), window, task_loss, mode)
            if k is None:
                return svg_inf_loss(model, policy(), window, task_loss, mode)
            # k policies: states [k, batch, T+1, d], actions [k, 1]; the sum of the k mean losses
            return k * svg_inf_loss(model, policy()[:, None], window.expand(k, *window.shape), task_loss, mode)

        history.value.append(fit(policy, opt_policy, value)[0])
        if opt_model is not None:
            s, lr, s_next = data.states[runs, :-1].reshape(-1, data.states.shape[-1]), \
                data.log_lr[runs].repeat_interleave(data.steps), data.states[runs, 1:].reshape(-1, data.states.shape[-1])
            history.model_loss.append(fit(model, opt_model, lambda: imitation_loss(model, s, lr, s_next))[0])
        if getattr(policy, "state_dim", None) is not None:
            history.lr.append(policy.lr(first))
        else:
            history.lr.append(policy.rates() if k is not None else policy.lr())
    return history
