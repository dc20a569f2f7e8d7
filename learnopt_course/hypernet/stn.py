"""Self-tuning networks (MacKay, Vicol, Lorraine, Duvenaud & Grosse 2019) — the follow-up the thesis names (sec. 2.5),
**not** part of Lorraine 2023's Ch. 2. A structured best response: every layer is

    y = W_e x + b_e + (U lam) * (W_h x) + (U_b lam) * b_h                    (MacKay et al. 2019, eq. 9)

so the weights respond to the hyperparameters through a per-unit scaling, for twice the layer's weights plus
``2 x out x H``. The lesson tunes two **dropout rates** (input and hidden, ``p = sigmoid(lam)``): the training loss
depends on a rate only through sampled masks, so ``dL_T/dlam`` does not exist and the implicit function theorem (lesson
10) has nothing to differentiate without a relaxation, while the STN learns the response from sampled rates (data).

Training alternates (their Alg. 1, the code defaults the lesson notes quote: 2 training steps per hyperparameter
step, a perturbation scale starting at 0.5 and learned with an entropy bonus of weight 1e-5, hyper lr 3e-3):

* training step: ``lam ~ N(lam_hat, sigma^2)`` (detached), dropout at ``sigmoid(lam)``, a step on the network;
* hyperparameter step: ``lam = lam_hat + sigma eps`` (reparameterised), the validation loss of the network *without*
  dropout at that ``lam``, minus ``tau`` times the perturbation's entropy, a step on ``lam_hat`` and ``log sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..meta.trainer import fit


def dropout(x: Tensor, p: Tensor, generator: torch.Generator) -> Tensor:
    """Inverted dropout at rate ``p`` (a tensor): ``x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``. The mask
    is a comparison of uniform draws with ``p``: no gradient reaches ``p`` through it (only through the rescaling)."""
    keep = (torch.rand(x.shape, generator=generator, dtype=x.dtype) >= p).to(x.dtype)
    return x * keep / (1 - p)


class STNLinear(nn.Module):
    """A linear layer whose weights respond to ``H`` hyperparameters (eq. 9 of MacKay et al. 2019)."""

    def __init__(self, d_in: int, d_out: int, H: int) -> None:
        super().__init__()
        self.elem = nn.Linear(d_in, d_out)
        self.hyper = nn.Linear(d_in, d_out)
        self.scale_w = nn.Linear(H, d_out, bias=False)
        self.scale_b = nn.Linear(H, d_out, bias=False)
        with torch.no_grad():  # start as a plain layer: the response is learned
            self.scale_w.weight.zero_()
            self.scale_b.weight.zero_()

    def forward(self, x: Tensor, lam: Tensor) -> Tensor:
        return (self.elem(x) + self.scale_w(lam) * F.linear(x, self.hyper.weight)
                + self.scale_b(lam) * self.hyper.bias)


class STNMLP(nn.Module):
    """``d_in -> hidden -> classes`` (ReLU) with dropout on the input and on the hidden units at rates
    ``sigmoid(lam)``, ``lam = [input logit, hidden logit]``. ``structured=False`` gives the same network without the
    response (a plain MLP whose dropout rates are fixed: the baseline)."""

    H = 2

    def __init__(self, d_in: int = 784, hidden: int = 100, classes: int = 10, structured: bool = True) -> None:
        super().__init__()
        self.structured = structured
        if structured:
            self.layer1, self.layer2 = STNLinear(d_in, hidden, self.H), STNLinear(hidden, classes, self.H)
        else:
            self.layer1, self.layer2 = nn.Linear(d_in, hidden), nn.Linear(hidden, classes)

    def _layer(self, layer: nn.Module, x: Tensor, lam: Tensor) -> Tensor:
        return layer(x, lam) if self.structured else layer(x)

    def forward(self, x: Tensor, lam: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Logits; with a ``generator``, dropout is applied (training), without it not (evaluation)."""
        p = torch.sigmoid(lam)
        if generator is not None:
            x = dropout(x, p[0], generator)
        h = F.relu(self._layer(self.layer1, x, lam))
        if generator is not None:
            h = dropout(h, p[1], generator)
        return self._layer(self.layer2, h, lam)


class Hyper(nn.Module):
    """The STN's hyperparameters: ``lam_hat`` (dropout logits) and ``log sigma`` (the perturbation scale)."""

    def __init__(self, lam0: Tensor, sigma0: float = 0.5) -> None:
        super().__init__()
        self.lam = nn.Parameter(lam0.detach().clone().float())
        self.log_sigma = nn.Parameter(torch.full_like(self.lam, float(torch.log(torch.tensor(sigma0)))))


@dataclass
class STNConfig:
    """MacKay et al.'s code defaults (lesson notes): 2 training steps per hyperparameter step, perturbation 0.5,
    entropy weight 1e-5, hyper lr 3e-3; ours: network lr 1e-3 (Adam), batches of 100."""

    steps: int = 2000
    train_per_hyper: int = 2
    lr: float = 1e-3
    hyper_lr: float = 3e-3
    sigma0: float = 0.5
    entropy: float = 1e-5
    batch: int = 100
    lam0: tuple[float, float] = (-2.0, -2.0)  # dropout rates 0.12 at the start


@dataclass
class STNHistory:
    rates: list[list[float]] = field(default_factory=list)  # sigmoid(lam_hat) per hyperparameter step
    val: list[float] = field(default_factory=list)


def _batch(x: Tensor, y: Tensor, size: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    idx = torch.randint(0, x.shape[0], (min(size, x.shape[0]),), generator=g)
    return x[idx], y[idx]


def train_stn(net: STNMLP, data: dict[str, Tensor], config: STNConfig, generator: torch.Generator
              ) -> tuple[Hyper, STNHistory]:
    """Train a self-tuning network on ``data`` (``x_train, y_train, x_val, y_val``): ``config.steps`` training steps,
    one hyperparameter step after every ``train_per_hyper`` (each one update of the meta-trainer)."""
    if not net.structured:
        raise ValueError("train_stn needs a structured STNMLP (structured=True); the plain MLP is trained by train_fixed")
    hyper = Hyper(torch.tensor(config.lam0), config.sigma0)
    opt_net = torch.optim.Adam(net.parameters(), lr=config.lr)
    opt_hyper = torch.optim.Adam(hyper.parameters(), lr=config.hyper_lr)
    history = STNHistory()
    g = generator
    for step in range(config.steps):
        x, y = _batch(data["x_train"], data["y_train"], config.batch, g)
        with torch.no_grad():
            lam = hyper.lam + hyper.log_sigma.exp() * torch.randn(hyper.lam.shape, generator=g)
        fit(net, opt_net, lambda: F.cross_entropy(net(x, lam, g), y))
        if (step + 1) % config.train_per_hyper == 0:
            xv, yv = _batch(data["x_val"], data["y_val"], config.batch, g)
            eps = torch.randn(hyper.lam.shape, generator=g)

            def objective() -> Tensor:
                lam = hyper.lam + hyper.log_sigma.exp() * eps
                return F.cross_entropy(net(xv, lam), yv) - config.entropy * hyper.log_sigma.sum()

            history.val += fit(hyper, opt_hyper, objective)
            history.rates.append(torch.sigmoid(hyper.lam.detach()).tolist())
    return hyper, history


def train_fixed(net: STNMLP, data: dict[str, Tensor], rates: tuple[float, float], steps: int, generator: torch.Generator,
                lr: float = 1e-3, batch: int = 100) -> STNMLP:
    """The baseline: the same network trained with fixed dropout ``rates`` (input, hidden) for ``steps`` steps."""
    if not all(0 <= r < 1 for r in rates):
        raise ValueError(f"rates must lie in [0, 1); got {rates!r}")
    lam = torch.logit(torch.tensor(rates).clamp(1e-6, 1 - 1e-6))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        x, y = _batch(data["x_train"], data["y_train"], batch, generator)
        fit(net, opt, lambda: F.cross_entropy(net(x, lam, generator), y))
    return net


def evaluate(net: STNMLP, lam: Tensor, x: Tensor, y: Tensor) -> tuple[float, float]:
    """(loss, accuracy) of the network without dropout at hyperparameters ``lam``."""
    with torch.no_grad():
        logits = net(x, lam)
        return float(F.cross_entropy(logits, y)), float((logits.argmax(-1) == y).float().mean())
