"""The experiments of lesson 09 as functions (Lorraine 2023, sec. 2.4.1-2.4.5, at CPU scale, and the STN follow-up).
The thesis reports figures only; each function returns the numbers the lesson prints."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core import trees
from ..hpo import bilevel
from . import models, problems
from . import train as T

D = torch.float64
LAM_GRID = tuple(float(x) for x in torch.arange(-6.0, 3.01, 0.75))  # Alg. 1's grid of log weight decays


# --- Ridge regression: the best response in closed form ----------------------------------------------------------


def ridge_optimum(problem: bilevel.Bilevel, low: float = -6.0, high: float = 3.0, points: int = 2001) -> float:
    """``argmin_lam L_V(w*(lam))`` on a fine grid, with the closed-form best response."""
    grid = torch.linspace(low, high, points, dtype=D)
    values = torch.stack([problem.val_loss(problems.ridge_best_response(problem, lam)[0], None) for lam in grid])
    return float(grid[int(values.argmin())])


@dataclass
class RidgeRun:
    """Alg. 3 with a linear hypernetwork on :func:`~.problems.ridge`: the final ``lam_hat``, the cosine of the
    learned ``dw/dlam`` with the exact best-response Jacobian, the relative weight error there, and the history."""

    lam: float
    cosine: float
    weight_error: float
    history: T.HyperHistory
    hypernet: models.LinearHypernet


def ridge_run(problem: bilevel.Bilevel, sigma: float, steps: int, seed: int = 0, *, lam0: float = 0.0,
              zero_init: bool = False, lr: float = 1e-2, record_every: int = 10) -> RidgeRun:
    """Alg. 3 on ridge regression: Adam 1e-2 for both steps and 2 samples per step (the lesson notes' claim C2.2)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.LinearHypernet(1, trees.numel(problem.w0), dtype=D, zero_init=zero_init)
    history = T.joint(problem, net, torch.tensor([lam0], dtype=D), sigma, steps, lr_phi=lr, lr_lam=lr,
                      generator=torch.Generator().manual_seed(seed), record_every=record_every)
    lam = history.lam[-1]
    w, J = problems.ridge_best_response(problem, lam)
    with torch.no_grad():
        cosine = float(F.cosine_similarity(net.jacobian[:, 0], J, dim=0)) if net.jacobian.abs().sum() > 0 else 0.0
        error = float((net(lam) - w).norm() / w.norm())
    return RidgeRun(float(lam), cosine, error, history, net)


# --- Sec. 2.4.1-2.4.2: one weight decay on the MNIST linear model -------------------------------------------------


@dataclass
class GlobalRun:
    """Sec. 2.4.1 on one data seed: Alg. 1's validation losses on :data:`LAM_GRID`, the hypernetwork's predicted
    ones ``L_V(w_phi(lam))`` on the same grid, and the decays each picks; ``cv`` keeps Alg. 1's trained weights."""

    cv: T.CrossValidation
    predicted: list[float]
    tuned: float
    seconds_cv: float
    seconds_hyper: float
    hypernet: models.GlobalHypernet


def global_run(seed: int, *, n_train: int = 10, n_val: int = 1000, inner_steps: int = 1000, hyper_steps: int = 600,
               tune_steps: int = 300, prior_std: float = 1.5) -> GlobalRun:
    """Alg. 1 against Alg. 2 with a 1 -> 50 -> 7,850 hypernetwork hyper-trained on ``lam ~ N(0, prior_std^2)``
    (the thesis's N(0, 1.5), 1.5 read as the standard deviation), 2 samples per step, Adam 1e-3 (the thesis: 1e-4
    for longer), then ``tune_steps`` Adam steps on ``lam_hat`` from 0."""
    problem = problems.mnist_linear(n_train, n_val, seed=seed)
    start = time.perf_counter()
    cv = T.cross_validation(problem, LAM_GRID, inner_steps)
    seconds_cv = time.perf_counter() - start
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.GlobalHypernet(1, trees.numel(problem.w0), 50)
    start = time.perf_counter()
    T.hypertrain(problem, net, lambda g: prior_std * torch.randn(2, 1, generator=g), hyper_steps, lr=1e-3,
                 generator=torch.Generator().manual_seed(seed))
    tuned = T.tune(problem, net, torch.zeros(1), tune_steps, lr=0.03)
    seconds_hyper = time.perf_counter() - start
    with torch.no_grad():
        predicted = [float(T.hyper_objective(problem, net, torch.tensor([lam]))) for lam in LAM_GRID]
    return GlobalRun(cv, predicted, float(tuned.lam[-1]), seconds_cv, seconds_hyper, net)


@dataclass
class LocalRun:
    """Sec. 2.4.2 on one data seed: Alg. 3's ``lam_hat`` per step, and the relative error of ``w_phi(lam)`` against
    Alg. 1's trained weights at every grid value."""

    lam: list[float]
    weight_error: list[float]
    seconds: float


def local_run(seed: int, cv: T.CrossValidation, *, n_train: int = 10, n_val: int = 1000, steps: int = 600,
              sigma: float = 0.5, lam0: float = -3.5) -> LocalRun:
    """Alg. 3 with a linear hypernetwork (15,700 parameters) from ``lam0`` (the thesis's code starts at -3.5),
    ``N(lam_hat, sigma^2)`` (the thesis: variance 1e-5; see the lesson), Adam 1e-3 on phi and 0.1 on lam."""
    problem = problems.mnist_linear(n_train, n_val, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.LinearHypernet(1, trees.numel(problem.w0))
    start = time.perf_counter()
    history = T.joint(problem, net, torch.tensor([lam0]), sigma, steps, lr_phi=1e-3, lr_lam=0.1,
                      generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    errors = []
    with torch.no_grad():
        for lam, w in zip(cv.lam, cv.weights):
            truth = trees.flat(w)
            errors.append(float((net(lam.reshape(1)) - truth).norm() / truth.norm()))
    return LocalRun([float(x) for x in history.lam], errors, seconds)


# --- Sec. 2.4.3: 7,850 weight decays, against unrolling and the IFT -------------------------------------------------


@dataclass
class PerWeightRun:
    """Sec. 2.4.3 on one data seed, per method: the validation loss of the method's own weights over wall-clock
    seconds, and the metrics of weights retrained from scratch at its final hyperparameters (the honest number)."""

    curves: dict[str, tuple[list[float], list[float]]]
    retrained: dict[str, dict[str, float]]


def per_weight_run(seed: int, *, n_train: int = 200, n_val: int = 500, hyper_steps: int = 300, outer_steps: int = 30,
                   inner_steps: int = 10, retrain_steps: int = 300, sigma: float = 0.1) -> PerWeightRun:
    """Alg. 3 with a rank-10 factorised hypernetwork (164,860 parameters; Adam 1e-3 on phi, 1e-2 on lam, 2 samples)
    against lesson 10's warm-started hyperparameter optimisation (Lorraine Alg. 4) with unrolled reverse mode and
    with the IFT (Neumann, K = 10), ``outer_steps x inner_steps`` each, on the same problem; the starting decays
    retrained are reported as ``"no tuning"``."""
    problem = problems.mnist_linear(n_train, n_val, per_weight=True, seed=seed)
    H, P = T.sizes(problem)
    curves, retrained = {}, {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.FactorizedHypernet(H, P, 10)
    start = time.perf_counter()
    history = T.joint(problem, net, trees.flat(problem.lam0), sigma, hyper_steps, lr_phi=1e-3, lr_lam=1e-2,
                      generator=torch.Generator().manual_seed(seed), record_every=10)
    seconds = time.perf_counter() - start
    times = [seconds * (i * 10 + 1) / hyper_steps for i in range(len(history.val))]
    curves["hypernetwork (Alg. 3)"] = (times, history.val)
    retrained["hypernetwork (Alg. 3)"] = bilevel.retrain(problem, T.hyperparameters(problem, history.lam[-1]),
                                                         retrain_steps)
    for label, method in (("unrolled (reverse mode)", "unroll"), ("IFT (Neumann, K = 10)", "neumann")):
        start = time.perf_counter()
        lam, _, hist = bilevel.optimize(problem, outer_steps=outer_steps, inner_steps=inner_steps, method=method,
                                        hyper_lr=0.03)
        seconds = time.perf_counter() - start
        curves[label] = ([seconds * (i + 1) / outer_steps for i in range(outer_steps)], hist.val_loss)
        retrained[label] = bilevel.retrain(problem, lam, retrain_steps)
    retrained["no tuning"] = bilevel.retrain(problem, problem.lam0, retrain_steps)
    return PerWeightRun(curves, retrained)


def step_costs(seed: int = 0, *, n_train: int = 200, n_val: int = 500, inner_steps: int = 10) -> dict[str, dict]:
    """Seconds per hypergradient and the memory each needs beyond the model, on sec. 2.4.3's problem: the
    hypernetwork's parameters (4 bytes each) for Alg. 3, the autograd graph's bytes for unrolling and the IFT
    (:func:`~learnopt_course.hpo.bilevel.cost`)."""
    problem = problems.mnist_linear(n_train, n_val, per_weight=True, seed=seed)
    H, P = T.sizes(problem)
    net = models.FactorizedHypernet(H, P, 10)
    lam = trees.flat(problem.lam0)
    opt_phi = torch.optim.Adam(net.parameters(), lr=1e-3)
    holder = T.Hyperparameters(lam)
    opt_lam = torch.optim.Adam(holder.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    best = math.inf
    for _ in range(5):
        begin = time.perf_counter()
        samples = T.sample_local(holder.lam, 0.1, 2, g)
        T.fit(net, opt_phi, lambda: T.hypertrain_loss(problem, net, samples))
        T.fit(holder, opt_lam, lambda: T.hyper_objective(problem, net, holder.lam))
        best = min(best, time.perf_counter() - begin)
    out = {"hypernetwork (Alg. 3)": {"seconds": best, "bytes": 4.0 * models.parameter_count(net)}}
    w = bilevel.inner_solve(problem, problem.lam0, None, inner_steps)
    for label, method in (("unrolled (reverse mode)", "unroll"), ("IFT (Neumann, K = 10)", "neumann")):
        cost = bilevel.cost(problem, problem.lam0, w, method, steps=inner_steps)
        out[label] = {"seconds": cost["seconds"], "bytes": cost["graph_bytes"]}
    return out


# --- Sec. 2.4.5: predicting the validation loss ----------------------------------------------------------------------


@dataclass
class Prediction:
    """Errors (predicted minus true validation loss) at the test values, per predictor."""

    test_lam: list[float]
    errors: dict[str, list[float]]


def gp_vs_hypernet(seed: int = 0, *, fit_points: int = 10, test_points: int = 20, inner_steps: int = 300, hidden: int = 10,
                   low: float = -3.0, high: float = 3.0) -> Prediction:
    """Sec. 2.4.5 at CPU scale: ``fit_points`` decays trained to completion give ``(lam, L_V)`` pairs for a GP
    (:class:`~learnopt_course.hpo.search.GaussianProcess`) and ``(lam, w*)`` pairs for a hypernetwork fitted by
    regression; a third hypernetwork is hyper-trained (Alg. 2) on ``lam ~ U(low, high)`` for as many gradient
    evaluations as the training runs used; all predict ``L_V`` at ``test_points`` other trained decays."""
    from ..hpo.search import GaussianProcess

    problem = problems.mnist_linear(10, 1000, seed=seed)
    g = torch.Generator().manual_seed(seed)
    fit_lam = torch.linspace(low, high, fit_points).tolist()
    test_lam = (low + (high - low) * torch.rand(test_points, generator=g)).tolist()
    fitted = T.cross_validation(problem, fit_lam, inner_steps)
    truth = T.cross_validation(problem, test_lam, inner_steps)
    unit = lambda xs: ((torch.tensor(xs, dtype=D) - low) / (high - low)).reshape(-1, 1)  # noqa: E731
    gp = GaussianProcess(unit(fit_lam), torch.tensor(fitted.val, dtype=D))
    gp_mean, _ = gp.predict(unit(test_lam))
    P = trees.numel(problem.w0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        regression, stochastic = models.GlobalHypernet(1, P, hidden), models.GlobalHypernet(1, P, hidden)
    targets = torch.stack([trees.flat(w) for w in fitted.weights])
    inputs = torch.tensor(fit_lam).reshape(-1, 1)
    opt = torch.optim.Adam(regression.parameters(), lr=1e-3)
    T.fit(regression, opt, lambda: ((regression(inputs) - targets) ** 2).sum(-1).mean(), inner_steps)
    budget = fit_points * inner_steps // 2  # 2 samples per hyper-training step
    T.hypertrain(problem, stochastic, lambda gen: low + (high - low) * torch.rand(2, 1, generator=gen), budget, lr=1e-3,
                 generator=torch.Generator().manual_seed(seed))
    errors = {"GP on the losses": (gp_mean - torch.tensor(truth.val, dtype=D)).tolist()}
    with torch.no_grad():
        for label, net in (("hypernetwork fitted to the weights", regression),
                           ("hypernetwork hyper-trained (Alg. 2)", stochastic)):
            predicted = [float(T.hyper_objective(problem, net, torch.tensor([lam]))) for lam in test_lam]
            errors[label] = [p - t for p, t in zip(predicted, truth.val)]
    return Prediction(test_lam, errors)


# --- What a hypernetwork cannot tune ---------------------------------------------------------------------------------


def learning_rate_response(problem: bilevel.Bilevel, lrs: Sequence[float], steps: int = 2000) -> list[float]:
    """The best response does not depend on an optimizer hyperparameter: weights trained to convergence at each
    learning rate in ``lrs`` (at the problem's starting hyperparameters), as distances from the first one's."""
    ws = [trees.flat(bilevel.inner_solve(problem, problem.lam0, None, steps, lr=lr)) for lr in lrs]
    return [float((w - ws[0]).norm() / ws[0].norm()) for w in ws]


# --- Self-tuning networks: a dropout rate ---------------------------------------------------------------------------


@dataclass
class DropoutRun:
    """The STN's dropout rates per hyperparameter step and its (val, test) metrics; each fixed-rate baseline's."""

    rates: list[list[float]]
    stn: dict[str, float]
    fixed: dict[tuple[float, float], dict[str, float]]


def stn_vs_fixed(seed: int = 0, *, n_train: int = 1000, n_val: int = 1000, n_test: int = 2000, hidden: int = 50,
                 steps: int = 1500, grid: Sequence[tuple[float, float]] = ((0.0, 0.0), (0.5, 0.5))
                 ) -> DropoutRun:
    """A self-tuning MLP ``784 -> hidden -> 10`` tuning its input and hidden dropout rates against the same MLP
    trained at each fixed pair of rates in ``grid``, ``steps`` training steps each (so the grid spends
    ``len(grid)`` times the STN's training budget), on ``n_train`` MNIST images (validation ``n_val``, test the first
    ``n_test`` official test images)."""
    from . import stn

    data = bilevel._mnist_split(n_train, n_val, seed, None)
    data = {k: (v.float() if v.is_floating_point() else v) for k, v in data.items()}
    data["x_test"], data["y_test"] = data["x_test"][:n_test], data["y_test"][:n_test]

    def scores(net: stn.STNMLP, lam: Tensor) -> dict[str, float]:
        out = {}
        for split in ("val", "test"):
            loss, acc = stn.evaluate(net, lam, data[f"x_{split}"], data[f"y_{split}"])
            out[f"{split}_loss"], out[f"{split}_acc"] = loss, acc
        return out

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = stn.STNMLP(hidden=hidden)
    hyper, history = stn.train_stn(net, data, stn.STNConfig(steps=steps), torch.Generator().manual_seed(seed))
    result = DropoutRun(history.rates, scores(net, hyper.lam.detach()), {})
    for rates in grid:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            plain = stn.STNMLP(hidden=hidden, structured=False)
        stn.train_fixed(plain, data, rates, steps, torch.Generator().manual_seed(seed))
        result.fixed[tuple(rates)] = scores(plain, torch.logit(torch.tensor(rates).clamp(1e-6, 1 - 1e-6)))
    return result


def ift_jacobian(problem: bilevel.Bilevel, lam: Tensor, w: Tensor) -> Tensor:
    """``dw*/dlam = -H^-1 d(grad_w L_T)/dlam`` at ``w`` by lesson 10's exact inverse-Hessian-vector product
    (:func:`~learnopt_course.meta.ift.inverse_hvp`), for one hyperparameter (``lam`` of shape ``[1]``)."""
    from ..meta import ift

    lam = lam.detach().clone().requires_grad_(True)
    w_leaf = w.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(problem.train_loss(w_leaf, lam), w_leaf, create_graph=True)
    mixed = torch.stack([torch.autograd.grad(g, lam, retain_graph=True)[0][0] for g in grad])
    return -ift.inverse_hvp(lambda ww: problem.train_loss(ww, lam.detach()), w.detach(), mixed, method="exact")


# --- Sec. 2.4.4: deeper networks ------------------------------------------------------------------------------------


def deeper_run(hidden: tuple[int, ...], seed: int = 0, *, n_train: int = 200, n_val: int = 500, hyper_steps: int = 300,
               retrain_steps: int = 300, decays: Sequence[float] = (-6.0, -4.0, -2.0, 0.0), sigma: float = 0.1
               ) -> dict[str, dict[str, float]]:
    """Sec. 2.4.4 on one depth: the "hand-tuned" baseline (one decay for every weight, the best of ``decays`` on
    validation after ``retrain_steps`` steps; Alg. 1) against Alg. 3 with a rank-10 factorised hypernetwork over one
    decay per weight (``hyper_steps`` steps), whose decays are then retrained from scratch. Returns the metrics of
    both (train, validation and test losses and accuracies)."""
    problem = problems.mnist_mlp(hidden, n_train, n_val, seed=seed)
    best = None
    for decay in decays:
        lam = trees.tree_map(lambda t: torch.full_like(t, decay), problem.lam0)
        scores = bilevel.retrain(problem, lam, retrain_steps)
        if best is None or scores["val_loss"] < best[1]["val_loss"]:
            best = (decay, scores)
    H, P = T.sizes(problem)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = models.FactorizedHypernet(H, P, 10, w0=trees.flat(problem.w0))
    history = T.joint(problem, net, trees.flat(problem.lam0), sigma, hyper_steps, lr_phi=1e-3, lr_lam=1e-2,
                      generator=torch.Generator().manual_seed(seed), record_every=50)
    tuned = bilevel.retrain(problem, T.hyperparameters(problem, history.lam[-1]), retrain_steps)
    return {f"hand-tuned (one decay, {best[0]:g})": best[1], "hypernetwork (Alg. 3, per weight)": tuned}
