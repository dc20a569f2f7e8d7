"""The synthetic optimizer: a learned Gaussian model of the optimizer's next parameters (Crouther 2023, sec. 3.2,
eqs 3.2.1-3.2.3, and sec. 4.1), ``s_{t+1} ~ N(mu_w(s_t, log lr), sigma^2 I)`` with a fixed ``sigma`` (Alg. 5's
"dynamics std sigma = 0.1").

Noise inference (Heess et al. 2015, SVG(infinity); Alg. 4-5): the noise that makes the model reproduce an observed
transition is ``xi = (s' - mu(s, a)) / sigma``; with it held constant (stop-gradient), ``s'_hat = mu(s, a) + sigma
xi`` equals the observed ``s'`` **in value**, while its derivatives are the model's. Alg. 5 prints the opposite sign,
``(mu - s') / sigma``, which gives ``s'_hat = 2 mu - s'``: a next state that was never observed
(:func:`infer_noise_printed`, kept to show the erratum).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class ModelConfig:
    """``state_dim`` inputs plus the log learning rate; ``hidden`` layers (Table 4.3's toy model: 32, 32, ReLU);
    ``residual=True`` predicts ``s + h(s, a)`` (ours, a deviation: the thesis's model predicts ``s'`` directly);
    ``sigma``: the fixed dynamics standard deviation."""

    state_dim: int
    hidden: list[int] = field(default_factory=lambda: [32, 32])
    activation: str = "relu"
    residual: bool = False
    sigma: float = 0.1


ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}


class SyntheticOptimizer(nn.Module):
    """``mu_w(s, log lr)``: an MLP from the flattened parameters and the log learning rate to the next parameters."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {config.activation!r}")
        if not config.sigma > 0:
            raise ValueError(f"sigma must be > 0; got {config.sigma!r}")
        self.config = config
        sizes = [config.state_dim + 1, *config.hidden, config.state_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[config.activation]())
        self.net = nn.Sequential(*layers)

    @property
    def sigma(self) -> float:
        return self.config.sigma

    def forward(self, s: Tensor, log_lr: Tensor) -> Tensor:
        """The mean next state ``[..., d]`` for states ``s [..., d]`` and log learning rates ``[...]``."""
        log_lr = torch.as_tensor(log_lr, dtype=s.dtype).expand(s.shape[:-1])
        out = self.net(torch.cat([s, log_lr.unsqueeze(-1)], -1))
        return s + out if self.config.residual else out

    def sample(self, s: Tensor, log_lr: Tensor, generator: torch.Generator) -> Tensor:
        """``mu + sigma xi``, ``xi ~ N(0, I)`` (eq. 3.2.3)."""
        mu = self(s, log_lr)
        return mu + self.sigma * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)


def infer_noise(model: SyntheticOptimizer, s: Tensor, log_lr: Tensor, s_next: Tensor) -> Tensor:
    """``stopgrad((s' - mu(s, a)) / sigma)``: the noise under which the model reproduces the observed ``s'``."""
    return ((s_next - model(s, log_lr)) / model.sigma).detach()


def infer_noise_printed(model: SyntheticOptimizer, s: Tensor, log_lr: Tensor, s_next: Tensor) -> Tensor:
    """Alg. 5 as printed, ``stopgrad((mu(s, a) - s') / sigma)``: the wrong sign (gives ``s'_hat = 2 mu - s'``)."""
    return ((model(s, log_lr) - s_next) / model.sigma).detach()


def reparameterized_next(mu: Tensor, s_next: Tensor, sigma: float) -> Tensor:
    """``mu + sigma stopgrad((s' - mu) / sigma)``: the observed next state in value, the mean's in derivative (the two
    steps above in one, for a mean already computed; lesson 08, exercise 8.1)."""
    return mu + sigma * ((s_next - mu) / sigma).detach()


def reparam_next(model: SyntheticOptimizer, s: Tensor, log_lr: Tensor, xi: Tensor) -> Tensor:
    """``mu(s, a) + sigma xi`` (eq. 3.2.3): differentiable in ``s`` and ``a`` through the model."""
    return model(s, log_lr) + model.sigma * xi


def imitation_loss(model: SyntheticOptimizer, s: Tensor, log_lr: Tensor, s_next: Tensor) -> Tensor:
    """Eq. 4.1.1 with the target index corrected to ``theta_{t+1}`` of the same run: the mean over transitions of
    ``||s_{t+1} - mu(s_t, log lr)||^2`` (teacher-forced one-step regression; the maximum-likelihood loss of the
    Gaussian model up to constants)."""
    return ((s_next - model(s, log_lr)) ** 2).sum(-1).mean()


def unrolled_imitation_loss(model: SyntheticOptimizer, states: Tensor, log_lr: Tensor, unroll: int) -> Tensor:
    """Sec. 4.3.1's "imitation loss backpropagated through the unrolled synthetic optimizer": from each run's
    states at steps ``0, unroll, 2 unroll, ...`` the model's mean is chained for ``unroll`` steps and compared with
    the real states, ``mean ||s_{t+k} - mu^{(k)}(s_t)||^2`` over every predicted step. ``states [R, T+1, d]``."""
    R, T1, d = states.shape
    if not isinstance(unroll, int) or not 1 <= unroll <= T1 - 1:
        raise ValueError(f"unroll must be an integer from 1 to {T1 - 1}; got {unroll!r}")
    starts = list(range(0, T1 - unroll, unroll))
    s = states[:, starts]  # [R, S, d]
    lr = log_lr[:, None].expand(R, len(starts))
    total = 0.0
    for k in range(1, unroll + 1):
        s = model(s, lr)
        total = total + ((states[:, [t + k for t in starts]] - s) ** 2).sum(-1).mean()
    return total / unroll
