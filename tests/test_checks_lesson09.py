"""Lesson 09 checkers accept independent answers and reject known-wrong variants: gradient reaching the sampled
hyperparameters, the penalty at zero, a sum; backward() leaving gradients on phi, phi stepped, the wrong sign, the
direct term dropped; a fixed prior, sigma squared or square-rooted, samples not detached."""

import torch

from learnopt_course.checks import lesson09
from learnopt_course.checks.lesson09 import _sample_wrong, _step_backward, _step_indirect_only

from checker_harness import make_checker_tests


def _train_loss_loop(hypernet, lam_samples, train_loss):
    total = 0.0
    for row in lam_samples:
        row = row.detach()
        total = total + train_loss(hypernet(row), row)
    return total / lam_samples.shape[0]


def _hyper_step_manual(hypernet, lam_hat, val_loss, lr):
    lam = lam_hat.clone().requires_grad_(True)
    loss = val_loss(hypernet(lam), lam)
    (g,) = torch.autograd.grad(loss, [lam])
    with torch.no_grad():
        return lam - lr * g


CHECKERS = {
    "9.1": (
        lesson09.hypernet_train_loss,
        _train_loss_loop,
        {
            "lambda not detached": (lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(r), r) for r in lam_samples]).mean(), "are data"),
            "penalty at zero": (lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(r), torch.zeros_like(r)) for r in lam_samples.detach()]).mean(), "not at zero"),
            "sum": (lambda hypernet, lam_samples, train_loss: torch.stack(
                [train_loss(hypernet(r), r) for r in lam_samples.detach()]).sum(), "average"),
        },
    ),
    "9.2": (
        lesson09.hyper_step,
        _hyper_step_manual,
        {
            "backward": (lambda **c: _step_backward(**c), "backward()"),
            "phi stepped": (lambda **c: _step_backward(**c, move_phi=True), "only lambda-hat moves"),
            "uphill": (lambda hypernet, lam_hat, val_loss, lr: 2 * lam_hat - _hyper_step_manual(hypernet, lam_hat, val_loss, lr), "downhill"),
            "direct term dropped": (_step_indirect_only, "directly too"),
        },
    ),
    "9.3": (
        lesson09.sample_local,
        lambda lam_hat, sigma, n, generator: lam_hat.detach() + torch.randn(n, lam_hat.shape[0], generator=generator, dtype=lam_hat.dtype) * sigma,
        {
            "fixed prior": (lambda **c: _sample_wrong(**c, center=False), "fixed prior"),
            "variance": (lambda **c: _sample_wrong(**c, scale=lambda s: s**2), "sigma itself"),
            "square root": (lambda **c: _sample_wrong(**c, scale=lambda s: s**0.5), "square root"),
            "not detached": (lambda **c: _sample_wrong(**c, detach=False), "no gradient may reach"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
