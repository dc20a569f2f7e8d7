"""What the agent observes about each coordinate, from the optimizer's own history (no raw parameter value: it
would break the rule's invariance to permuting or shifting the parameters, Li & Malik 2017, L89 of the seed).

Per coordinate ``i``, after the gradient ``g_t`` at the current point:

1. ``g_t / (|g_t| + |g_{t-1}|)`` in ``(-1, 1)``: the gradient's sign, and whether it flipped (a step too large)
   or kept its size (a step too small);
2. a secant curvature ``log10(|g_t - g_{t-1}| / |theta_t - theta_{t-1}|) / 4``, clipped to ``[-2, 2]`` (0 before the
   first step): the scale a good learning rate is the inverse of;
3. the previous action ``u_{t-1}`` (the previous log learning rate, scaled to ``[-1, 1]``);
4. the gradient's magnitude ``log10(|g_t|) / 4``, clipped to ``[-3, 3]`` (Andrychowicz et al. 2016's log
   preprocessing, sec. 3.1 and appendix A): without it the agent cannot choose ``alpha_i ~ c / |g_i|``, the
   sign-like steps that Adam's first steps take and that a badly scaled network (a CNN at its initialisation)
   needs.

:data:`FEATURES` is their number.
"""

from __future__ import annotations

import torch
from torch import Tensor

FEATURES = 4


def coordinate_features(grad: Tensor, prev_grad: Tensor | None, step: Tensor | None, prev_action: Tensor | None
                        ) -> Tensor:
    """``[..., FEATURES]`` for gradients ``grad`` (any shape); ``prev_grad``, ``step`` (``theta_t - theta_{t-1}``)
    and ``prev_action`` shaped alike, or ``None`` at the first step."""
    g = grad
    zeros = torch.zeros_like(g)
    if prev_grad is None:
        ratio = torch.sign(g)
        curvature = zeros
    else:
        ratio = g / (g.abs() + prev_grad.abs() + 1e-30)
        secant = (g - prev_grad).abs() / (step.abs() + 1e-30) if step is not None else zeros
        curvature = torch.where(secant > 0, torch.log10(secant + 1e-30) / 4, zeros).clamp(-2.0, 2.0)
    action = prev_action if prev_action is not None else zeros
    magnitude = (torch.log10(g.abs() + 1e-30) / 4).clamp(-3.0, 3.0)
    return torch.stack([ratio, curvature, action, magnitude], dim=-1)
