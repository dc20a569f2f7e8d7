"""The experiments of lesson 08 as functions (Crouther 2023, sec. 4.1 and 4.3, and the tests the thesis did not run):
the toy's trajectory data, fitting the synthetic optimizer, the smoothing measurement across model capacities, and
the agreement of teacher-forced and chained SVG(infinity) gradients with the true hypergradient."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

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


def small_mnist(n_val: int = 2000, batch_size: int = 128, n_test: int = 2000):  # noqa: ANN201
    """The surrogate's task: logistic regression on MNIST randomly projected to 49 dimensions, 500 parameters (the
    thesis's 784-32-32-10 net has 26,506, and a dense surrogate of it, 26,507 -> 3072 -> 26,506, about 163 million
    weights, does not fit a laptop; 49 = 7 x 7, the size of the spec's pooled images). Float64; validation from the
    training set, test from the first ``n_test`` official test images."""
    from ..tasks import mnist_task

    return mnist_task("logreg", n_val=n_val, batch_size=batch_size, dtype=D, project=49, n_test=n_test)


def training_loss(family, n: int = 2000) -> Callable[[Tensor], Tensor]:  # noqa: ANN001
    """The policy's SVG objective on ``family``: the training loss on its first ``n`` training examples as a function
    of flattened parameters ``[..., d] -> [...]`` (vectorised over the leading dimensions with ``torch.vmap``)."""
    from ..core import trees

    template = family.sample(torch.Generator().manual_seed(0)).init_params()
    x, y = family.train_x[:n], family.train_y[:n]
    one = torch.vmap(lambda row: family.loss(trees.split(row, template), x, y))

    def loss(s: Tensor) -> Tensor:
        return one(s.reshape(-1, s.shape[-1])).reshape(s.shape[:-1])

    return loss


def offline_runs(family, data: Transitions, starts: Sequence[float], seeds: Sequence[int], *, iterations: int = 120,  # noqa: ANN001
                 horizon: int = 10, batch: int = 4, hidden: int = 256, eval_steps: int = 800,
                 eval_seed: int = 100) -> dict:
    """Offline Dyna (:func:`~.svg.offline_dyna`, Alg. 6) on logged ``data`` from every start learning rate, per seed
    (a fresh residual surrogate 500 -> ``hidden`` -> 500 and a minibatch order per seed; the starts share the seed's
    model, which the policy never influences). Each policy's final rate is then used by plain SGD for
    ``eval_steps`` steps on a held-out initialisation (``eval_seed``). Returns ``{"runs": {(start, seed): {"lr",
    "score"}}, "model_loss": {seed: (first, last)}}`` (``score`` a :class:`Score`)."""
    from .model import ModelConfig, SyntheticOptimizer
    from .policy import LRPolicy
    from .svg import offline_dyna

    loss = training_loss(family)
    runs, model_loss = {}, {}
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = SyntheticOptimizer(ModelConfig(data.states.shape[-1], [hidden], residual=True)).double()
        history = offline_dyna(data, model, LRPolicy(init_lr=list(starts)), loss, iterations, horizon=horizon,
                               batch=batch, generator=torch.Generator().manual_seed(seed))
        model_loss[seed] = (history.model_loss[0], history.model_loss[-1])
        final = history.lr[-1]
        scores = constant_runs(family, final, [eval_seed], eval_steps)
        for start, lr in zip(starts, final):
            runs[start, seed] = {"lr": lr, "score": scores[lr, eval_seed]}
    return {"runs": runs, "model_loss": model_loss}


def online_run(family, start: float, seed: int, epochs: int, *, mode: str = "adaptive", warmup: int = 10,  # noqa: ANN001
               inner_steps: int = 20, hidden: int = 256, lr_policy: float = 0.1, lr_model: float = 1e-3,
               explore: float = 0.0, model=None, policy=None):  # noqa: ANN001, ANN201
    """One online HyperSVG run (:func:`~.online.online_hypersvg`) on ``family``'s task of ``seed`` (its
    initialisation and minibatch order) from the learning rate ``start``, with a fresh residual surrogate (500 ->
    ``hidden`` -> 500, initialised from ``seed``) and a constant-rate policy unless ``model``/``policy`` are given;
    the policy's SVG loss is the training loss on the first 2,000 training examples. Returns the
    :class:`~.online.OnlineHistory` (validation accuracy per meta-epoch)."""
    from .model import ModelConfig, SyntheticOptimizer
    from .online import online_hypersvg
    from .policy import LRPolicy

    task = family.sample(torch.Generator().manual_seed(seed))
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = SyntheticOptimizer(ModelConfig(family.model.num_parameters, [hidden], residual=True)).double()
    policy = policy if policy is not None else LRPolicy(init_lr=start)
    return online_hypersvg(task, model, policy, epochs, inner_steps=inner_steps, mode=mode, warmup=warmup,
                           lr_policy=lr_policy, lr_model=lr_model, svg_loss=training_loss(family),
                           score=lambda p: family.val_metrics(p)[1], explore=explore,
                           generator=torch.Generator().manual_seed(seed))


def online_runs(family, starts: Sequence[float], seeds: Sequence[int], epochs: int, **options: object  # noqa: ANN001
                ) -> dict[tuple[float, int], dict]:
    """:func:`online_run` from every start learning rate and seed (``options`` are its keywords). Returns, per
    (start, seed), the learning rates, validation accuracies and model resolutions per meta-epoch and the final
    :class:`Score` (``"score"``)."""
    out = {}
    for seed in seeds:
        for start in starts:
            history = online_run(family, start, seed, epochs, **options)
            out[start, seed] = {"lr": history.lr, "accuracy": history.score, "resolution": history.resolution,
                                "score": final_score(family, history.params)}
    return out


class Score(NamedTuple):
    """Accuracy at the end of a run: ``val`` (what methods select on) and ``test`` (what the lesson reports after a
    selection; ``None`` for a family without a test split)."""

    val: float
    test: float | None


def final_score(family, params: dict) -> Score:  # noqa: ANN001
    """The validation and (if the family has one) test accuracy of ``params``."""
    return Score(family.val_metrics(params)[1], family.test_metrics(params)[1] if family.test_x is not None else None)


def constant_runs(family, lrs: Sequence[float], seeds: Sequence[int], steps: int) -> dict[tuple[float, int], Score]:  # noqa: ANN001
    """Plain SGD at each constant learning rate for ``steps`` steps (the same tasks as :func:`online_runs`): the
    :class:`Score` at the end, per (lr, seed)."""
    return {key: curve[steps] for key, curve in constant_curves(family, lrs, seeds, [steps]).items()}


def constant_curves(family, lrs: Sequence[float], seeds: Sequence[int], checkpoints: Sequence[int]  # noqa: ANN001
                    ) -> dict[tuple[float, int], dict[int, Score]]:
    """Plain SGD at each constant learning rate, scored after each number of steps in ``checkpoints`` (one run per
    (lr, seed), continued through the engine from one checkpoint to the next: the run to 800 steps passes through the
    run to 600)."""
    from ..meta.engine import unroll

    marks = sorted(set(checkpoints))
    if not marks or marks[0] < 1:
        raise ValueError(f"checkpoints must be positive step counts; got {list(checkpoints)!r}")
    out = {}
    for seed in seeds:
        for lr in lrs:
            task = family.sample(torch.Generator().manual_seed(seed))
            params, done, curve = task.init_params(), 0, {}
            for mark in marks:
                run = unroll(task, "sgd", params, mark - done, hp={"lr": lr}, start=done, last_loss=False)
                params, done = run.params, mark
                curve[mark] = final_score(family, params)
            out[lr, seed] = curve
    return out


def random_rates(draws: int, seed: int, low: float = 1e-5, high: float = 1e-1) -> list[float]:
    """Random search's learning rates: ``draws`` uniform on ``[low, high]`` (the thesis's six draws, all in
    [0.027, 0.098], suggest uniform rather than log-uniform), from a generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(draws, generator=g, dtype=D)).tolist()


def best_of(scores: dict, keys: Sequence) -> tuple[object, Score]:
    """The key among ``keys`` whose :class:`Score` (``scores[key]``, or ``scores[key]["score"]``) has the highest
    validation accuracy, and that score: selection on validation, reporting on test."""
    get = lambda k: scores[k] if isinstance(scores[k], Score) else scores[k]["score"]  # noqa: E731
    key = max(keys, key=lambda k: get(k).val)
    return key, get(key)


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
