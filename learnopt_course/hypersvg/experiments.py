"""The experiments of lesson 08 as functions (Crouther 2023, sec. 4.1 and 4.3, and the tests the thesis did not run):
the toy's trajectory data, fitting the synthetic optimizer, the smoothing measurement across model capacities, and
the agreement of teacher-forced and chained SVG(infinity) gradients with the true hypergradient."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..tasks.toy import ToyTask, toy_grad, toy_loss
from .data import Transitions, collect_trajectories
from .model import ModelConfig, SyntheticOptimizer, imitation_loss
from ..meta.trainer import fit
from .svg import Smoothness, TrueSGD, smoothness, surrogate_outer, svg_inf_loss

D = torch.float64
TOY_STARTS = tuple(float(x) for x in torch.linspace(-10, 10, 41))  # Table 4.3: x0 in [-10, 10]
TOY_EVAL_START = 7.0  # Table 4.3's evaluation start


def toy_trajectories(runs: int, lrs: Sequence[float], steps: int = 20, seed: int = 0) -> Transitions:
    """Plain SGD on the toy from ``runs`` starts drawn from ``TOY_STARTS`` (per seed ``seed + i``), at every
    learning rate of ``lrs``: the model-learning data of sec. 4.1."""
    def make(g: torch.Generator) -> ToyTask:
        return ToyTask(TOY_STARTS[int(torch.randint(len(TOY_STARTS), (), generator=g))])

    return collect_trajectories(make, lrs, steps, [seed + i for i in range(runs)])


def fit_model(data: Transitions, config: ModelConfig, steps: int, lr: float = 3e-3, seed: int = 0,
              validation: Transitions | None = None) -> tuple[SyntheticOptimizer, list[float], float | None]:
    """Train a synthetic optimizer by the one-step imitation loss (eq. 4.1.1 corrected), full batch, Adam through
    the library's meta-trainer; returns it, its training losses and (with ``validation``) the validation loss
    divided by the variance of the validation targets."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SyntheticOptimizer(config).double()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    s, log_lr, s_next = data.pairs()
    losses = fit(net, opt, lambda: imitation_loss(net, s, log_lr, s_next), steps)
    relative = None
    if validation is not None:
        vs, vlr, vnext = validation.pairs()
        with torch.no_grad():
            relative = float(imitation_loss(net, vs, vlr, vnext) / vnext.var(0).sum())
    return net, losses, relative


def toy_outer(log_lrs: Tensor, model=None, steps: int = 20, x0: float = TOY_EVAL_START) -> Tensor:  # noqa: ANN001
    """The toy's outer loss ``f(x_steps)`` from ``x0`` as a function of the learning rate: through true SGD
    (``model=None``) or through a synthetic optimizer's mean."""
    start = torch.tensor([x0], dtype=D)
    return surrogate_outer(model or TrueSGD(toy_grad), start, log_lrs, steps, lambda s: toy_loss(s[..., 0]))


def smoothing(model, log_lrs: Tensor, steps: int = 20) -> tuple[Smoothness, float]:  # noqa: ANN001
    """:func:`~.svg.smoothness` of the model's outer loss against the truth on ``log_lrs``, and the true outer loss
    at the surrogate's minimiser (what a learning rate chosen on the surrogate would really give)."""
    true, surrogate = toy_outer(log_lrs, None, steps), toy_outer(log_lrs, model, steps)
    return smoothness(log_lrs, true, surrogate), float(true[surrogate.argmin()])


@dataclass
class Agreement:
    """SVG gradients against the true hypergradient ``d f(x_T) / d log lr`` over a set of learning rates."""

    sign_teacher: float  # fraction of learning rates whose gradient has the true sign
    sign_chained: float
    rank_teacher: float  # Spearman rank correlation with the true gradients (chaotic gradients span decades: a
    rank_chained: float  # Pearson correlation would be one outlier's)


def gradient_agreement(model, lrs: Sequence[float], steps: int = 20, x0: float = TOY_EVAL_START) -> Agreement:  # noqa: ANN001
    """For every learning rate: the true hypergradient of the toy's ``f(x_steps)`` from ``x0`` (differentiating the
    true SGD map, lesson 02) against SVG(infinity) through ``model`` on the logged true trajectory, teacher-forced
    (Alg. 5) and chained."""
    true, teacher, chained = [], [], []
    for lr in lrs:
        run = collect_trajectories(lambda g: ToyTask(x0), [lr], steps, [0]).states[0]
        for store, m, mode in ((true, TrueSGD(toy_grad), "chained"), (teacher, model, "teacher"),
                               (chained, model, "chained")):
            a = torch.tensor(math.log(lr), dtype=D, requires_grad=True)
            (g,) = torch.autograd.grad(svg_inf_loss(m, a, run, lambda s: toy_loss(s[..., 0]), mode), a)
            store.append(float(g))
    t, te, ch = (torch.tensor(v, dtype=D) for v in (true, teacher, chained))

    def corr(a: Tensor, b: Tensor) -> float:
        ranks = lambda v: v.argsort().argsort().to(D)  # noqa: E731
        return float(torch.corrcoef(torch.stack([ranks(a), ranks(b)]))[0, 1])

    return Agreement(float((torch.sign(te) == torch.sign(t)).double().mean()),
                     float((torch.sign(ch) == torch.sign(t)).double().mean()), corr(te, t), corr(ch, t))


# --- The MNIST part (sec. 4.3): a task small enough for a dense surrogate ------------------------------------------

THESIS_GRID = tuple(float(x) for x in torch.logspace(-1, -5, 6, dtype=D))  # Table 4.4's starts, np.logspace(-1, -5, 6)


def small_mnist(n_val: int = 2000, batch_size: int = 128):  # noqa: ANN201
    """The surrogate's task: logistic regression on MNIST randomly projected to 49 dimensions, 500 parameters (the
    thesis's 784-32-32-10 net has 26,506, and a dense surrogate of it, 26,507 -> 3072 -> 26,506, about 163 million
    weights, does not fit a laptop; 49 = 7 x 7, the size of the spec's pooled images). Float64."""
    from ..tasks import mnist_task

    return mnist_task("logreg", n_val=n_val, batch_size=batch_size, dtype=D, project=49)


def online_runs(family, starts: Sequence[float], seeds: Sequence[int], epochs: int, *, mode: str = "adaptive",  # noqa: ANN001
                warmup: int = 10, inner_steps: int = 20, hidden: int = 256, lr_policy: float = 0.1,
                lr_model: float = 1e-3) -> dict[tuple[float, int], dict]:
    """Online HyperSVG (:func:`~.online.online_hypersvg`) from every start learning rate and seed on ``family``'s
    tasks (an initialisation and a minibatch order per seed), with a fresh residual surrogate (500 -> ``hidden`` ->
    500) and a constant-rate policy each time; the policy's SVG loss is the training loss on the first 2,000
    training examples. Returns, per (start, seed), the learning rates and validation accuracies per meta-epoch."""
    from ..core import trees
    from .model import ModelConfig, SyntheticOptimizer
    from .online import online_hypersvg
    from .policy import LRPolicy

    out = {}
    x, y = family.train_x[:2000], family.train_y[:2000]
    for seed in seeds:
        for start in starts:
            task = family.sample(torch.Generator().manual_seed(seed))
            template = task.init_params()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = SyntheticOptimizer(ModelConfig(family.model.num_parameters, [hidden], residual=True)).double()
            history = online_hypersvg(task, model, LRPolicy(init_lr=start), epochs, inner_steps=inner_steps,
                                      mode=mode, warmup=warmup, lr_policy=lr_policy, lr_model=lr_model,
                                      svg_loss=lambda s: family.loss(trees.split(s, template), x, y),
                                      score=lambda p: family.val_metrics(p)[1])
            out[start, seed] = {"lr": history.lr, "accuracy": history.score}
    return out


def constant_runs(family, lrs: Sequence[float], seeds: Sequence[int], steps: int) -> dict[tuple[float, int], float]:  # noqa: ANN001
    """Plain SGD at each constant learning rate for ``steps`` steps (the same tasks as :func:`online_runs`): the
    validation accuracy at the end, per (lr, seed)."""
    from ..meta.engine import unroll

    out = {}
    for seed in seeds:
        for lr in lrs:
            task = family.sample(torch.Generator().manual_seed(seed))
            run = unroll(task, "sgd", task.init_params(), steps, hp={"lr": lr}, last_loss=False)
            out[lr, seed] = family.val_metrics(run.params)[1]
    return out


def thesis_search(family, method: str, evaluations: int, seed: int = 0, steps: int = 2000):  # noqa: ANN001, ANN201
    """One of Table 4.4's baselines on ``family`` (e.g. ``make_task("mnist-mlp-32x32-elu")``): plain SGD for ``steps``
    steps (the thesis's 100 meta-epochs x 20) at learning rates chosen by ``method``: ``"grid"`` (``evaluations``
    rates log-spaced from 1e-1 to 1e-5, the thesis's ``np.logspace(-1, -5, 6)`` for 6), ``"random"`` (uniform on
    [1e-5, 1e-1], which the thesis's six draws, all in [0.027, 0.098], suggest) or ``"bo"`` (GP expected
    improvement, a third of the budget random, on a log scale). Each evaluation trains from the same initialisation
    and minibatch order (``seed``) and scores the validation accuracy; returns the :class:`~learnopt_course.hpo.search.SearchResult`
    of the negated accuracies."""
    from ..hpo import search
    from ..meta.engine import unroll

    if method not in ("grid", "random", "bo"):
        raise ValueError(f"method must be 'grid', 'random' or 'bo'; got {method!r}")

    def objective(p: dict[str, float]) -> float:
        task = family.sample(torch.Generator().manual_seed(seed))
        run = unroll(task, "sgd", task.init_params(), steps, hp={"lr": p["lr"]}, last_loss=False)
        return -family.val_metrics(run.params)[1]

    g = torch.Generator().manual_seed(seed)
    if method == "grid":
        return search.grid_search(objective, {"lr": torch.logspace(-1, -5, evaluations, dtype=D).tolist()})
    if method == "random":
        return search.random_search(objective, {"lr": (1e-5, 1e-1)}, evaluations, g)
    init = max(1, evaluations // 3)
    return search.gp_ei_search(objective, {"lr": (1e-5, 1e-1, "log")}, init, evaluations - init, g)
