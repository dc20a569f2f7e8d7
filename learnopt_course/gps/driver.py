"""Guided policy search with Bregman ADMM for learning an optimizer (Li & Malik 2017, sec. 3.4-3.5), on any task
of the unroll engine whose parameters are a dict of tensors: one coordinate group per tensor (sec. 3.5).

**Deviations, stated.**

* The teacher's per-coordinate state is ``s_j = [g_j, dx_j]`` (the current minibatch gradient and the last step),
  not the 77 features of Phi (:func:`~.features.state_features` computes those): with it momentum SGD is exactly
  linear (``a = -lr g + momentum dx``), which is how the teacher is initialised (external practice, note
  A.6/A.12), and every group's LQG stays 2 + 1 dimensional. Phi also holds the iterate ``x_j``; ours leaves it out:
  the student never observes it (sec. 3.3), and a teacher whose steps depend on it (we tried) teaches what the
  student cannot imitate (R^2 below 0 on MNIST).
* The cost. The paper's cost is the true objective ``f(x_t)``; a quadratic model of it in the per-coordinate states
  is what the LQG needs. Ours is the local model the state makes available: the objective's change over step ``t``
  is ``f(x_{t+1}) - f(x_t) ~ sum_j g_j(t+1) a_j(t) - h_t a_j(t)^2 / 2`` (exact for a quadratic with curvature
  ``h_t``; the *next* minibatch's gradient keeps it unbiased, the current one is correlated with the step the
  teacher takes from it), with ``h_t`` the fitted dynamics' coefficient of ``a_t`` in ``g_{t+1}``. The area under
  the loss curve, ``sum_{t=1..T} f(x_t)``, weights step ``t``'s change by ``T - t`` (:func:`decrease_cost`).
  An earlier version regressed the true objective on the states across rollouts (as GPS does for unknown costs):
  with a few rollouts and four groups that regression is under-determined.
* Every coordinate of a group shares the group's controller, dynamics and cost (the block-diagonal structure of
  sec. 3.5); fits are pooled over at most ``max_coords`` sampled coordinates per group and all rollouts.

One iteration (:func:`train`): roll the teacher out on the training tasks (with the same exploration noise in every
iteration, so that two teachers are compared on common random numbers; if its true objective got worse than the
previous teacher's, return to that one and halve the trust region, else widen it by 1.5: Levine & Abbeel 2014's step
adjustment, clipped to [0.01, 10]); per group, fit the dynamics, build the cost, take the trust-region trajectory step
(:func:`~.lqg.trajectory_step`, with the dual variable and the KL to the linearised student); fit the students to
the teachers (:func:`~.badmm.policy_fit_loss`, backpropagation through time, one Adam through the library's
meta-trainer); update the duals (L117).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F_
from torch import Tensor

from ..core import trees
from ..tasks.base import Task
from . import badmm, fit, lqg
from .features import observation_features

D = torch.float64
G_, DX = 0, 1  # positions of g and dx in the teacher's per-coordinate state


class LogisticProblem(Task):
    """A 2-class logistic regression on Gaussian data in ``dim`` dimensions (no bias), full batch: ``f(x) = BCE(X x,
    y)``, parameters ``{"w": x}`` from zero (Li & Malik 2016's warm-up)."""

    name = "logistic"

    def __init__(self, X: Tensor, y: Tensor) -> None:
        self.X, self.y = X, y

    @classmethod
    def sample(cls, generator: torch.Generator, dim: int = 3, n: int = 100) -> LogisticProblem:
        centre = torch.randn(dim, generator=generator, dtype=D)
        labels = (torch.rand(n, generator=generator) < 0.5).to(D)
        X = torch.randn(n, dim, generator=generator, dtype=D) + (2 * labels[:, None] - 1) * centre
        return cls(X, labels)

    def init_params(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"w": torch.zeros(self.X.shape[1], dtype=D)}

    def batch(self, t: int) -> None:
        return None

    def loss(self, params: Any, batch: Any = None) -> Tensor:
        w = params["w"] if isinstance(params, dict) else params
        return F_.binary_cross_entropy_with_logits(self.X @ w, self.y)


def task_objective(task: Task, params: dict[str, Tensor]) -> Tensor:
    """The true objective a run is scored by: the task's deterministic loss (``loss(params, None)``: the full batch
    of a logistic problem; the whole training split, or the fixed subset a :class:`SubsetObjective` names)."""
    with torch.no_grad():
        return task.loss(params, None)


class SubsetObjective:
    """The true objective of a classification task on a fixed subset of its training split (the first ``n``
    examples): Li & Malik's objective is the training loss; a 2k subset measures it at a fraction of the cost."""

    def __init__(self, family: Any, n: int = 2000) -> None:
        self.family, self.x, self.y = family, family.train_x[:n], family.train_y[:n]

    def __call__(self, task: Task, params: dict[str, Tensor]) -> Tensor:
        with torch.no_grad():
            return self.family.loss(params, self.x, self.y)


@dataclass
class Rollouts:
    """Per group ``k``: ``S[k] [R, T+1, 2]`` states of the sampled coordinates (R = rollouts x coordinates),
    ``A[k] [R, T, 1]`` actions, ``O[k] [R, T, 3]`` observation features; ``f [N, T+1]`` the true objective of each
    of the N rollouts, ``seen [N, T+1]`` the minibatch losses the optimizer saw."""

    S: dict[str, Tensor]
    A: dict[str, Tensor]
    O: dict[str, Tensor]
    f: Tensor
    seen: Tensor

    @property
    def area(self) -> Tensor:
        """Each rollout's area under the true loss curve, ``sum_{t=1..T} f(x_t)`` (the paper's objective)."""
        return auc(self.f)


class LinearGaussianTeacher:
    """One linear-Gaussian controller per coordinate group on ``s = [g, dx]`` as an optimizer of the engine's
    interface: each step samples ``a ~ N(K_t s + k_t, G_t)`` for every coordinate (the mean with ``noise=False``)."""

    name = "linear_gaussian_teacher"
    defaults: dict = {}

    def __init__(self, controllers: dict[str, lqg.Controller], generator: torch.Generator,
                 noise: bool = True) -> None:
        self.controllers, self.generator, self.noise = controllers, generator, noise

    def init(self, params: Any) -> dict:
        return {"t": 0, "previous": {k: v.detach().reshape(-1).to(D).clone() for k, v in trees.as_dict(params).items()}}

    def step(self, params: Any, grads: Any, state: dict, hp: Any = None) -> tuple[Any, dict]:
        t, out, previous = state["t"], {}, {}
        grad_dict = trees.as_dict(grads)
        for key, p in trees.as_dict(params).items():
            x = p.detach().reshape(-1).to(D)
            s = torch.stack([grad_dict[key].detach().reshape(-1).to(D), x - state["previous"][key]], -1)
            ctrl = self.controllers[key]
            a = ctrl.sample(s, t, self.generator) if self.noise else ctrl.mean(s, t)
            out[key] = (x + a[:, 0]).to(p.dtype).view_as(p)
            previous[key] = x.clone()
        return trees.like(params, out), {"t": t + 1, "previous": previous}


def _gradient(task: Task, params: dict[str, Tensor], t: int) -> dict[str, Tensor]:
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    with torch.enable_grad():
        grads = torch.autograd.grad(task.step_loss(leaves, t), list(leaves.values()))
    return dict(zip(leaves, grads))


def rollout(tasks: Sequence[Task], make_optimizer: Callable[[], Any], T: int,
            objective: Callable[[Task, dict], Tensor] = task_objective,
            keep: dict[str, Tensor] | None = None) -> Rollouts:
    """Run ``make_optimizer()`` for ``T`` steps on every task (from its initial parameters) through the unroll
    engine and read off, for the coordinates ``keep[k]`` of each group (default: all), the states ``[g, dx]``,
    actions and observation features Psi (computed from the minibatch losses the optimizer sees), and the true
    objective along every run."""
    from ..meta.engine import unroll

    S: dict[str, list] = {}
    A: dict[str, list] = {}
    O: dict[str, list] = {}
    fs, seen = [], []
    for task in tasks:
        grads: list[dict] = []
        params0 = task.init_params()
        run = unroll(task, make_optimizer(), params0, T, record=True,
                     callback=lambda t, w, g, loss: grads.append(trees.as_dict(g)) if g is not None else None)
        grads.append(_gradient(task, trees.as_dict(run.trajectory[-1]), T))
        f_seen = run.losses.detach().to(D)
        seen.append(f_seen)
        fs.append(torch.stack([objective(task, trees.as_dict(w)).to(D) for w in run.trajectory]))
        for key in trees.as_dict(params0):
            idx = keep[key] if keep is not None else slice(None)
            xs = torch.stack([trees.as_dict(w)[key].detach().reshape(-1).to(D)[idx] for w in run.trajectory])
            gs = torch.stack([g[key].detach().reshape(-1).to(D)[idx] for g in grads])
            dx = torch.cat([torch.zeros_like(xs[:1]), xs[1:] - xs[:-1]])
            S.setdefault(key, []).append(torch.stack([gs, dx], -1).transpose(0, 1))
            A.setdefault(key, []).append(dx[1:].T.unsqueeze(-1))
            O.setdefault(key, []).append(torch.stack(
                [observation_features(xs[: t + 1], gs[: t + 1], f_seen[: t + 1]) for t in range(T)], 1))
    cat = lambda d: {k: torch.cat(v) for k, v in d.items()}  # noqa: E731
    return Rollouts(cat(S), cat(A), cat(O), torch.stack(fs), torch.stack(seen))


def decrease_cost(dyn: lqg.Dynamics, scale: float = 1.0) -> lqg.Cost:
    """The LQG cost of ``z_t = [s_t; a_t]``: ``scale (T - t) (g_{t+1} a_t - h_t a_t^2 / 2)`` with ``g_{t+1}`` through
    the fitted dynamics and ``h_t`` their coefficient of ``a_t`` in ``g_{t+1}``: each coordinate's share of the
    objective's change over step ``t`` (a second-order model, exact on quadratics), weighted by how many terms of
    the area under the loss curve it enters. ``scale`` turns a coordinate's share into the objective's units (the
    number of coordinates of the whole problem)."""
    T, n = dyn.F.shape[0], dyn.state_dim
    h = dyn.F[:, G_, n]  # d g_{t+1} / d a_t
    C_next = torch.zeros(T, n, n, dtype=dyn.F.dtype)
    C_next[:, G_, DX] = C_next[:, DX, G_] = 1.0
    C_next[:, DX, DX] = -h
    weights = scale * (T - torch.arange(T, dtype=dyn.F.dtype))
    C_next = C_next * weights[:, None, None]
    return cost_of_actions(C_next, torch.zeros(T, n, dtype=dyn.F.dtype), dyn)


def cost_of_actions(C_next: Tensor, c_next: Tensor, dyn: lqg.Dynamics, action_penalty: float = 0.0) -> lqg.Cost:
    """A cost of the next state, ``1/2 s'^T C s' + c^T s'``, as a cost of ``z_t = [s_t; a_t]`` through the fitted
    dynamics ``s' = F z + f``: ``1/2 (F z + f)^T C (F z + f) + c^T (F z + f)`` (+ an optional action penalty)."""
    F, f = dyn.F, dyn.f
    Ft = F.transpose(1, 2)
    C = Ft @ C_next @ F
    c = torch.einsum("tij,tj->ti", Ft, torch.einsum("tij,tj->ti", C_next, f) + c_next)
    m = dyn.action_dim
    if action_penalty:
        C[:, -m:, -m:] += action_penalty * torch.eye(m, dtype=C.dtype)
    return lqg.Cost(0.5 * (C + C.transpose(1, 2)), c)


@dataclass
class StudentConfig:
    """One LSTM per coordinate group (``groups``: the parameter names), ``hidden`` units, ``inputs`` features."""

    groups: list[str]
    hidden: int = 16
    inputs: int = 3


class ObservationLSTM(torch.nn.Module):
    """A group's student ``mu_omega(o_t)``: one LSTM layer over each coordinate's observation features Psi (shared by
    the coordinates of the group, each with its own state) and a linear read-out of the step (sec. 3.5, A.5;
    ``hidden`` 128 in the paper, smaller here for the CPU)."""

    def __init__(self, hidden: int = 16, inputs: int = 3) -> None:
        super().__init__()
        self.cell = torch.nn.LSTMCell(inputs, hidden)
        self.head = torch.nn.Linear(hidden, 1)
        self.double()

    def init_state(self, coords: int) -> tuple[Tensor, Tensor]:
        zeros = torch.zeros(coords, self.cell.hidden_size, dtype=self.head.weight.dtype)
        return zeros, zeros.clone()

    def step(self, o: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = self.cell(o, state)
        return self.head(h), (h, c)

    def forward(self, O: Tensor) -> Tensor:
        """Mean steps ``[R, T, 1]`` for observation sequences ``O [R, T, 3]`` (backpropagation through time)."""
        state, out = self.init_state(O.shape[0]), []
        for t in range(O.shape[1]):
            a, state = self.step(O[:, t], state)
            out.append(a)
        return torch.stack(out, 1)


class GroupedStudent(torch.nn.Module):
    """The learned optimizer of sec. 3.5: one :class:`ObservationLSTM` per coordinate group (parameter tensor)."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        if not config.groups:
            raise ValueError("config.groups must name at least one parameter tensor; got an empty list")
        self.config = config
        self.nets = torch.nn.ModuleDict({self._key(g): ObservationLSTM(config.hidden, config.inputs)
                                         for g in config.groups})

    @staticmethod
    def _key(group: str) -> str:
        return "g_" + group.replace(".", "_")

    def net(self, group: str) -> ObservationLSTM:
        key = self._key(group)
        if key not in self.nets:
            raise KeyError(f"group must be one of the groups this policy was trained on, {self.config.groups}; "
                           f"got {group!r}")
        return self.nets[key]

    def forward(self, O: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: self.net(k)(o) for k, o in O.items()}


@dataclass
class GPSConfig:
    """BADMM guided policy search settings. No GPS hyperparameter is given by Li & Malik (2017): every default here
    is external (``kl_step`` 0.2 per step is Levine et al.'s practice) or ours, chosen on training tasks."""

    T: int = 30
    iterations: int = 8
    lr: float = 0.5  # the initial momentum teacher's learning rate
    momentum: float = 0.5
    variance: float = 1e-3  # exploration variance of the initial teacher (and the student's fixed covariance)
    kl_step: float = 0.2  # trust region per time step: epsilon = kl_step * T
    nu: float = 0.01  # weight of KL(teacher || linearised student) in the teacher's step (the BADMM penalty)
    alpha: float = 0.5  # dual step size
    fit_steps: int = 150  # Adam steps on the policy-fit loss per iteration
    student_lr: float = 1e-2
    hidden: int = 16
    max_coords: int = 512  # coordinates per group in the fits
    fit_coords: int = 128  # coordinates per group and rollout in the student's fit

    def __post_init__(self) -> None:
        for name in ("T", "iterations", "fit_steps", "hidden", "max_coords", "fit_coords"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("lr", "variance", "kl_step", "student_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")


@dataclass
class History:
    """Per iteration: the accepted teacher's mean true objective at T and area under its curve, the trust region's
    multiplier, per group the KL of the step against its bound, the student's R^2 on the teacher's mean actions,
    the dual gap ``mean |E[mu_pi] - E[mu_psi]|`` and ``mean |lambda|``."""

    teacher_loss: list[float] = field(default_factory=list)
    teacher_area: list[float] = field(default_factory=list)
    multiplier: list[float] = field(default_factory=list)
    kl: list[dict[str, float]] = field(default_factory=list)
    epsilon: list[float] = field(default_factory=list)
    fit_r2: list[float] = field(default_factory=list)
    dual_gap: list[float] = field(default_factory=list)
    lam: list[float] = field(default_factory=list)


def fit_student(student: GroupedStudent, opt: torch.optim.Optimizer, data: dict[str, tuple], steps: int) -> list[float]:
    """``steps`` full-batch steps of ``opt`` (kept across GPS iterations) on the summed policy-fit losses of all groups
    over the rollouts' observation sequences (backpropagation through time), through the library's meta-trainer.
    ``data[group] = (O, target, G_inv, lam, nu)``."""
    from ..meta.trainer import fit as fit_steps  # (``fit`` here is the module of local fits)

    def loss() -> Tensor:
        return sum(badmm.policy_fit_loss(student.net(k)(O), target, G_inv, lam, nu)
                   for k, (O, target, G_inv, lam, nu) in data.items())

    return fit_steps(student, opt, loss, steps)


def momentum_teacher(T: int, lr: float, momentum: float, variance: float) -> lqg.Controller:
    """Momentum SGD as a linear-Gaussian controller on ``s = [g, dx]``: ``a = -lr g + momentum dx`` plus
    exploration noise (Li & Malik's initialisation, note A.6; external practice)."""
    K = torch.tensor([[-lr, momentum]], dtype=D).expand(T, 1, 2).clone()
    return lqg.Controller(K, torch.zeros(T, 1, dtype=D), variance * torch.ones(T, 1, 1, dtype=D))


def _r2(pred: Tensor, target: Tensor) -> float:
    return float(1 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum().clamp_min(1e-300))


def train(tasks: Sequence[Task], config: GPSConfig | None = None, *,
          objective: Callable[[Task, dict], Tensor] = task_objective, generator: torch.Generator | None = None,
          callback: Callable[[int, History], None] | None = None,
          **overrides: Any) -> tuple[dict[str, lqg.Controller], GroupedStudent, History]:
    """BADMM guided policy search on ``tasks`` (their initial parameters and minibatch orders are the rollouts'
    initial conditions): returns the last accepted teachers (one per group), the student and the history.
    ``overrides`` replace fields of ``config``."""
    config = GPSConfig(**({**(config.__dict__ if config else {}), **overrides}))
    if not tasks:
        raise ValueError("tasks must hold at least one task; got an empty sequence")
    g = generator or torch.Generator().manual_seed(0)
    T = config.T
    params0 = trees.as_dict(tasks[0].init_params())
    groups = list(params0)
    scale = float(sum(v.numel() for v in params0.values()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=g)))  # the student's initialisation
        student = GroupedStudent(StudentConfig(groups, config.hidden))
    opt = torch.optim.Adam(student.parameters(), lr=config.student_lr)
    teacher = {k: momentum_teacher(T, config.lr, config.momentum, config.variance) for k in groups}
    lam = {k: torch.zeros(T, 1, dtype=D) for k in groups}
    nus = torch.full((T,), config.nu, dtype=D)
    history = History()
    multiplier, previous = 1.0, None
    noise_seed = int(torch.randint(2**31 - 1, (), generator=g))
    for iteration in range(config.iterations):
        keep = {k: torch.randperm(v.numel(), generator=g)[: config.max_coords] for k, v in params0.items()}
        noise = torch.Generator().manual_seed(noise_seed)  # common random numbers: every iteration's rollouts
        data = rollout(tasks, lambda: LinearGaussianTeacher(teacher, noise), T, objective, keep)  # see the same noise
        area = float(data.area.mean())
        if previous is not None and area > previous[0]:
            # the step made the true objective worse: the local model was trusted too far. Return to the previous
            # teachers and halve the trust region (Levine & Abbeel 2014's step adjustment; clipped to [0.01, 10])
            teacher, data, area = previous[1], previous[2], previous[0]
            multiplier = max(0.01, 0.5 * multiplier)
        elif previous is not None:
            multiplier = min(10.0, 1.5 * multiplier)
        previous = (area, teacher, data)
        history.teacher_loss.append(float(data.f[:, -1].mean()))
        history.teacher_area.append(area)
        history.multiplier.append(multiplier)
        epsilon = multiplier * config.kl_step * T
        new_teacher, kls, fits, r2_parts = {}, {}, {}, []
        for k in groups:
            S, A, O = data.S[k], data.A[k], data.O[k]
            dyn = fit.fit_dynamics(S, A)
            cost = decrease_cost(dyn, scale)
            mu0 = S[:, 0].mean(0)
            sigma0 = torch.cov(S[:, 0].T) + 1e-8 * torch.eye(S.shape[-1], dtype=D)
            with torch.no_grad():
                linear_student = fit.fit_policy(S, student.net(k)(O), variance=config.variance)
            step = lqg.trajectory_step(dyn, cost, teacher[k], mu0, sigma0, epsilon, lam=lam[k], nu=config.nu,
                                       policy=linear_student)
            new_teacher[k], kls[k] = step.controller, step.kl
            target = torch.einsum("tmn,rtn->rtm", step.controller.K, S[:, :-1]) + step.controller.k
            sub = _fit_subset(S.shape[0], len(tasks), config.fit_coords, g)
            fits[k] = (O[sub], target[sub], torch.linalg.inv(step.controller.G), lam[k], nus)
        teacher = new_teacher
        history.kl.append(kls), history.epsilon.append(epsilon)
        fit_student(student, opt, fits, config.fit_steps)
        gaps, lams, preds, targets = [], [], [], []
        for k in groups:
            S, O = data.S[k], data.O[k]
            with torch.no_grad():
                mu_pi = student.net(k)(O)
            target = torch.einsum("tmn,rtn->rtm", teacher[k].K, S[:, :-1]) + teacher[k].k
            preds.append(mu_pi.reshape(-1)), targets.append(target.reshape(-1))
            lam[k] = badmm.dual_step(lam[k], nus, mu_pi, target, config.alpha)
            gaps.append(float((mu_pi.mean(0) - target.mean(0)).abs().mean()))
            lams.append(float(lam[k].abs().mean()))
        history.fit_r2.append(_r2(torch.cat(preds), torch.cat(targets)))
        history.dual_gap.append(sum(gaps) / len(gaps))
        history.lam.append(sum(lams) / len(lams))
        if callback is not None:
            callback(iteration, history)
    return teacher, student, history


def _fit_subset(rows: int, rollouts: int, per_rollout: int, generator: torch.Generator) -> Tensor:
    """Rows of a group's ``[rollouts * coords, ...]`` arrays to fit the student on: at most ``per_rollout`` of each
    rollout's coordinates (the same ones in every rollout)."""
    coords = rows // rollouts
    chosen = torch.randperm(coords, generator=generator)[:per_rollout]
    return (torch.arange(rollouts)[:, None] * coords + chosen[None]).reshape(-1)


def run_student(student: GroupedStudent, tasks: Sequence[Task], T: int,
                objective: Callable[[Task, dict], Tensor] = task_objective) -> Tensor:
    """The student as an optimizer (its mean step, no noise) on ``tasks``: the true objective ``[N, T+1]``."""
    from ..meta.engine import unroll

    out = []
    for task in tasks:
        run = unroll(task, PredictedStepDescent(student), task.init_params(), T, record=True)
        out.append(torch.stack([objective(task, trees.as_dict(w)).to(D) for w in run.trajectory]))
    return torch.stack(out)


class PredictedStepDescent:
    """The trained student as an optimizer ("predicted step descent", Li & Malik 2017, sec. 4) behind the engine's
    optimizer interface: every tensor is a coordinate group, run by the group's LSTM (a bare tensor is the student's
    only group); each coordinate keeps its LSTM state and the last three iterates, two gradients and two objective
    values that Psi needs; the step is the LSTM's mean action, computed in the student's precision (a float32 copy,
    ``copy.deepcopy(student).float()``, runs about twice as fast). Use it with :func:`learnopt_course.meta.engine.unroll`
    or :class:`learnopt_course.optimizers.TorchOptimizer` (with a closure: the rule observes the objective's value).
    ``groups`` maps the optimized tensors' names to the student's groups (default: the same names)."""

    name = "predicted_step_descent"
    uses_loss = True
    defaults: dict = {}

    def __init__(self, student: GroupedStudent, groups: dict[str, str] | None = None) -> None:
        self.student, self.groups = student, groups or {}

    def _net(self, key: str) -> ObservationLSTM:
        if key == trees.SINGLE and len(self.student.config.groups) == 1:
            return self.student.net(self.student.config.groups[0])
        return self.student.net(self.groups.get(key, key))

    def init(self, params: Any) -> dict:
        for key in trees.as_dict(params):
            self._net(key)  # an unknown group fails here, with the names it expected
        return {"t": 0, "groups": {k: None for k in trees.as_dict(params)}}

    def step(self, params: Any, grads: Any, state: dict, hp: Any = None, *, loss: Tensor) -> tuple[Any, dict]:
        new_params, groups = {}, {}
        dt = self.student.nets[next(iter(self.student.nets))].head.weight.dtype  # the student's precision
        f = loss.detach().to(dt).reshape(1)
        grad_dict = trees.as_dict(grads)
        for key, p in trees.as_dict(params).items():
            # copies: a torch.optim adapter updates the parameter (and may reuse its gradient) in place
            x = p.detach().reshape(-1).to(dt).clone()
            gr = grad_dict[key].detach().reshape(-1).to(dt).clone()
            previous = state["groups"][key]
            net = self._net(key)
            if previous is None:
                hx, hg, hf, lstm = x[None], gr[None], f, net.init_state(x.numel())
            else:  # Psi looks back at most two steps: the last three entries give the same features
                hx = torch.cat([previous["x"], x[None]])[-3:]
                hg = torch.cat([previous["g"], gr[None]])[-3:]
                hf = torch.cat([previous["f"], f])[-3:]
                lstm = previous["lstm"]
            o = observation_features(hx, hg, hf)
            with torch.no_grad():
                a, lstm = net.step(o, lstm)
            new_params[key] = (x + a[:, 0]).to(p.dtype).view_as(p)
            groups[key] = {"x": hx, "g": hg, "f": hf, "lstm": lstm}
        return trees.like(params, new_params), {"t": state["t"] + 1, "groups": groups}


def auc(curves: Tensor) -> Tensor:
    """The paper's objective for curves ``[..., T+1]``: ``sum_{t=1..T} f(x_t)`` (``inf`` for a diverged run)."""
    return curves[..., 1:].sum(-1)


__all__ = ["LogisticProblem", "SubsetObjective", "Rollouts", "LinearGaussianTeacher", "rollout", "decrease_cost",
           "cost_of_actions", "StudentConfig", "ObservationLSTM", "GroupedStudent", "GPSConfig", "History", "train",
           "fit_student", "momentum_teacher", "run_student", "PredictedStepDescent", "auc", "task_objective"]
