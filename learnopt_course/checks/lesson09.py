"""Checkers for lesson 09, hypernetworks (Lorraine 2023, Ch. 2).

Exercise 9.1 ``hypernet_train_loss(hypernet, lam_samples, train_loss)``: the hypernetwork's training loss at sampled
hyperparameters, which are data (sec. 2.2; Algs 2-3, the phi step).
Exercise 9.2 ``hyper_step(hypernet, lam_hat, val_loss, lr)``: one gradient step on the hyperparameters through the
hypernetwork, which stays fixed (Algs 2-3, the lambda step).
Exercise 9.3 ``sample_local(lam_hat, sigma, n, generator)``: draws from p(lam | lam_hat) = N(lam_hat, sigma^2 I)
(sec. 2.2.3, Alg. 3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..hypernet import models, train
from .core import Exercise, checker

D = torch.float64


def _hypernet(seed: int, H: int, P: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(900 + seed)
        if seed % 2:
            return models.GlobalHypernet(H, P, hidden=4, dtype=D, init_scale=1.0)
        return models.LinearHypernet(H, P, dtype=D, init_scale=1.0)


def _ridge_losses(seed: int, H: int, P: int) -> tuple[Callable, Callable]:
    g = torch.Generator().manual_seed(950 + seed)
    x, y = torch.randn(6, P, generator=g, dtype=D), torch.randn(6, generator=g, dtype=D)
    xv, yv = torch.randn(5, P, generator=g, dtype=D), torch.randn(5, generator=g, dtype=D)

    def train_loss(w: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:  # one decay per hyperparameter, cycled
        decays = lam.exp().repeat((P + H - 1) // H)[:P]
        return ((x @ w - y) ** 2).mean() + (decays * w**2).sum()

    def val_loss(w: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:  # with a direct term in lam (e.g. a prior)
        return ((xv @ w - yv) ** 2).mean() + 0.01 * (lam**2).sum()

    return train_loss, val_loss


# --- 9.1 ----------------------------------------------------------------------------------------------------------


def _train_case(seed: int, H: int | None = None, P: int | None = None, S: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        h, p, s = H or (1, 2, 1, 3)[seed % 4], P or (4, 5, 3, 6)[seed % 4], S or (2, 3, 4, 2)[seed % 4]
        g = torch.Generator().manual_seed(910 + seed)
        return {"hypernet": _hypernet(seed, h, p), "lam_samples": torch.randn(s, h, generator=g, dtype=D),
                "train_loss": _ridge_losses(seed, h, p)[0]}

    return make


def _reference_train(hypernet, lam_samples, train_loss):  # noqa: ANN001, ANN202
    lam = lam_samples.detach()
    return torch.stack([train_loss(hypernet(row), row) for row in lam]).mean()


TRAIN = Exercise(
    id="9.1",
    name="hypernet_train_loss",
    reference=train.hypernet_train_loss,
    cases=[_train_case(s) for s in range(4)],
    grad_wrt=("lam_samples",),
    requires_graph=True,
    mistakes={
        "the sampled hyperparameters are data in the hypernetwork's step: no gradient may reach them": (
            lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(row), row) for row in lam_samples]).mean()
        ),
        "the training loss is evaluated at the sampled hyperparameters (its penalty depends on them), not at zero": (
            lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(row), torch.zeros_like(row)) for row in lam_samples.detach()]).mean()
        ),
        "average the loss over the samples, as the expectation over p(lambda) in Alg. 2 asks": (
            lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(row), row) for row in lam_samples.detach()]).sum()
        ),
    },
    hint="the phi step of Algs 2-3: the training loss at the weights the hypernetwork predicts for each sampled "
         "hyperparameter value, averaged over the samples",
    hidden=lambda s: [_train_case(s + k, (2, 1, 4)[k], (3, 7, 2)[k], (1, 5, 3)[k]) for k in range(3)],
    library=(train.hypernet_train_loss, train.hypertrain_loss),
)


# --- 9.2 ----------------------------------------------------------------------------------------------------------


def _step_case(seed: int, H: int | None = None, P: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        h, p = H or (1, 2, 3, 1)[seed % 4], P or (4, 3, 5, 6)[seed % 4]
        g = torch.Generator().manual_seed(920 + seed)
        return {"hypernet": _hypernet(10 + seed, h, p), "lam_hat": torch.randn(h, generator=g, dtype=D),
                "val_loss": _ridge_losses(seed, h, p)[1], "lr": (0.1, 0.05, 0.3, 0.01)[seed % 4]}

    return make


def _observe_step(fn: Callable[..., Any], case: dict) -> tuple:
    """The new lam_hat, the hypernetwork's weights after the call, and the gradients left on them (zeros if none):
    the lambda step must leave phi and its gradients untouched."""
    net = case["hypernet"]
    new = fn(**case)
    params = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    grads = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1)
                       for p in net.parameters()])
    return torch.as_tensor(new).detach(), params, grads


def _reference_step(hypernet, lam_hat, val_loss, lr):  # noqa: ANN001, ANN202
    lam = lam_hat.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(val_loss(hypernet(lam), lam), lam)
    return (lam - lr * grad).detach()


def _step_backward(hypernet, lam_hat, val_loss, lr, *, move_phi=False):  # noqa: ANN001, ANN202
    lam = lam_hat.detach().clone().requires_grad_(True)
    val_loss(hypernet(lam), lam).backward()
    if move_phi:
        with torch.no_grad():
            for p in hypernet.parameters():
                p -= lr * p.grad
    return (lam - lr * lam.grad).detach()


def _step_indirect_only(hypernet, lam_hat, val_loss, lr):  # noqa: ANN001, ANN202
    lam = lam_hat.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(val_loss(hypernet(lam), lam.detach()), lam)
    return (lam - lr * grad).detach()


STEP = Exercise(
    id="9.2",
    name="hyper_step",
    reference=train.hyper_step,
    cases=[_step_case(s) for s in range(4)],
    observe=_observe_step,
    mistakes={
        "phi is fixed in the hyperparameter step: take the gradient with respect to lambda-hat only (backward() also "
        "leaves gradients on the hypernetwork's weights, which the next phi step would add in)": (
            lambda **case: _step_backward(**case)
        ),
        "phi is fixed in the hyperparameter step: only lambda-hat moves": (
            lambda **case: _step_backward(**case, move_phi=True)
        ),
        "a gradient step goes downhill: subtract the learning rate times the gradient": (
            lambda hypernet, lam_hat, val_loss, lr: 2 * lam_hat - _reference_step(hypernet, lam_hat, val_loss, lr)
        ),
        "the validation loss depends on lambda-hat directly too: pass it the same lambda-hat the hypernetwork sees": (
            _step_indirect_only
        ),
    },
    hint="the lambda step of Algs 2-3: the gradient of the validation loss at the predicted weights w_phi(lambda-hat), "
         "through the hypernetwork, with respect to lambda-hat alone",
    hidden=lambda s: [_step_case(s + k, (2, 1, 4)[k], (5, 2, 3)[k]) for k in range(3)],
    library=(train.hyper_step, train.hyper_objective, train.tune),
)


# --- 9.3 ----------------------------------------------------------------------------------------------------------


def _sample_case(seed: int, H: int | None = None, n: int | None = None) -> Callable[[], dict]:
    def make() -> dict:
        h, k = H or (1, 3, 2, 5)[seed % 4], n or (2, 4, 3, 1)[seed % 4]
        g = torch.Generator().manual_seed(930 + seed)
        return {"lam_hat": torch.randn(h, generator=g, dtype=D) + 2.0, "sigma": (0.5, 0.1, 2.0, 0.25)[seed % 4],
                "n": k, "generator": torch.Generator().manual_seed(940 + seed)}

    return make


def _reference_sample(lam_hat, sigma, n, generator):  # noqa: ANN001, ANN202
    eps = torch.randn((n, lam_hat.numel()), generator=generator, dtype=lam_hat.dtype)
    return lam_hat.detach() + sigma * eps


def _sample_wrong(lam_hat, sigma, n, generator, *, center=True, scale=lambda s: s, detach=True):  # noqa: ANN001, ANN202
    eps = torch.randn((n, lam_hat.numel()), generator=generator, dtype=lam_hat.dtype)
    base = (lam_hat.detach() if detach else lam_hat) if center else torch.zeros_like(lam_hat)
    return base + scale(sigma) * eps


SAMPLE = Exercise(
    id="9.3",
    name="sample_local",
    reference=train.sample_local,
    cases=[_sample_case(s) for s in range(4)],
    grad_wrt=("lam_hat",),
    mistakes={
        "Alg. 3 samples around the current value lambda-hat, p(lambda | lambda-hat), not from a fixed prior around 0": (
            lambda **case: _sample_wrong(**case, center=False)
        ),
        "sigma is a standard deviation here: scale the standard normal draws by sigma itself": (
            lambda **case: _sample_wrong(**case, scale=lambda s: s**2)
        ),
        "sigma is a standard deviation here, not a variance: scale by sigma, not by its square root": (
            lambda **case: _sample_wrong(**case, scale=lambda s: s**0.5)
        ),
        "the samples are data for the hypernetwork's step: no gradient may reach lambda-hat through them": (
            lambda **case: _sample_wrong(**case, detach=False)
        ),
    },
    hint="sec. 2.2.3's local distribution N(lambda-hat, sigma^2 I): one standard normal draw of shape [n, H] from the "
         "generator, scaled and shifted",
    hidden=lambda s: [_sample_case(s + k, (4, 1, 2)[k], (3, 6, 1)[k]) for k in range(3)],
    library=(train.sample_local,),
)


hypernet_train_loss = checker(TRAIN, "the hypernetwork's training loss and its gradients on 4 small hypernetworks.")
hyper_step = checker(STEP, "the new hyperparameters, and the hypernetwork left untouched, on 4 cases.")
sample_local = checker(SAMPLE, "samples (with the same generator) and their gradient on 4 cases.")
