"""A first end-to-end guided-policy-search loop for one coordinate group (Li & Malik 2017, sec. 3.4-3.5), on the
low-dimensional logistic-regression warm-up of Li & Malik (2016).

**Deviation, stated:** the teacher's per-coordinate state here is ``s_j = [x_j, g_j, dx_j]`` (the iterate, the
current minibatch gradient and the last step), not the 77 features of Phi: with it momentum SGD is exactly linear
(``a = -lr g + momentum dx``), which is how the teacher is initialised (external practice, note A.6/A.12), and the
LQG stays 3 + 1 dimensional. The student sees only the observation features Psi, through an LSTM.

Measured (3 seeds; 20 training and 20 held-out problems each, T = 30, 8 iterations with nu = 0.01, about 10 s
each): the student fits the teacher's mean actions with R^2 0.97-0.98; run as an optimizer on the held-out problems
its area under the loss curve is 1-5 % below the initial momentum teacher's (0.193 vs 0.196, 0.202 vs 0.212, 0.277
vs 0.278) and its final loss within 3 % of it either way: within noise, not yet a win. The teacher itself barely
moves on these pooled problems (0.160 -> 0.163, 0.266 -> 0.262, 0.230 -> 0.226 at T); started badly tuned on a
single problem it improves by 6-23 % (tests/test_gps.py). Without the step adjustment below, trust-region steps on
separable problems (whose loss keeps falling with growing weights, beyond any local quadratic) made the teacher
diverge; with nu = 0 the student has no Mahalanobis anchor and does not fit (R^2 < 0).

One iteration: roll the teacher out on sampled problems (if its true objective got worse than the previous
teacher's, return to that one and halve the trust region, else widen it by 1.5: Levine & Abbeel 2014's step
adjustment, clipped to [0.01, 10]); fit the group's dynamics (pooled over rollouts and
coordinates) and a quadratic per-coordinate cost of the true objective; take the trust-region trajectory step
(:func:`~.lqg.trajectory_step`, with the dual variable and the KL to the linearised student when a student exists);
fit the student to the teacher (:func:`~.badmm.policy_fit_loss`, backpropagation through time); update the duals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F_
from torch import Tensor

from . import badmm, fit, lqg
from .features import observation_features

D = torch.float64


@dataclass
class LogisticProblem:
    """A 2-class logistic regression on Gaussian data in ``dim`` dimensions (no bias): ``f(x) = BCE(X x, y)``."""

    X: Tensor
    y: Tensor

    @classmethod
    def sample(cls, generator: torch.Generator, dim: int = 3, n: int = 100) -> LogisticProblem:
        centre = torch.randn(dim, generator=generator, dtype=D)
        labels = (torch.rand(n, generator=generator) < 0.5).to(D)
        X = torch.randn(n, dim, generator=generator, dtype=D) + (2 * labels[:, None] - 1) * centre
        return cls(X, labels)

    def loss(self, x: Tensor) -> Tensor:
        return F_.binary_cross_entropy_with_logits(self.X @ x, self.y)

    def grad(self, x: Tensor) -> Tensor:
        return self.X.T @ (torch.sigmoid(self.X @ x) - self.y) / self.y.shape[0]


@dataclass
class Rollouts:
    """``S [R, T+1, n]`` per-coordinate states (R = rollouts x coordinates), ``A [R, T, 1]`` actions, ``O [R, T, 3]``
    observation features, ``f [N, T+1]`` the true objective of each of the N rollouts."""

    S: Tensor
    A: Tensor
    O: Tensor
    f: Tensor


class LinearGaussianTeacher:
    """A linear-Gaussian controller on ``s = [x, g, dx]`` as an optimizer of the engine's interface: each step
    samples ``a ~ N(K_t s + k_t, G_t)`` for every coordinate (the mean with ``noise=False``) and moves to ``x + a``."""

    name = "linear_gaussian_teacher"
    defaults: dict = {}

    def __init__(self, controller: lqg.Controller, generator: torch.Generator, noise: bool = True) -> None:
        self.controller, self.generator, self.noise = controller, generator, noise

    def init(self, params: Tensor) -> dict:
        return {"t": 0, "previous": params.detach().clone()}

    def step(self, params: Tensor, grads: Tensor, state: dict, hp=None) -> tuple[Tensor, dict]:  # noqa: ANN001
        t = state["t"]
        s = torch.stack([params, grads, params - state["previous"]], -1)
        a = self.controller.sample(s, t, self.generator) if self.noise else self.controller.mean(s, t)
        return params + a[:, 0], {"t": t + 1, "previous": params.detach().clone()}


def rollout(problems: list[LogisticProblem], make_optimizer, T: int, x0: Tensor) -> Rollouts:
    """Run the optimizer ``make_optimizer()`` for ``T`` steps on every problem from ``x0`` through the unroll engine,
    and read off the per-coordinate states ``[x, g, dx]``, actions and observation features Psi."""
    from ..meta.engine import unroll

    S, A, O, fs = [], [], [], []
    for prob in problems:
        grads: list[Tensor] = []
        run = unroll(lambda x, t, p=prob: p.loss(x), make_optimizer(), x0.clone(), T, record=True,
                     callback=lambda t, w, g, loss: grads.append(g if g is not None else prob.grad(w.detach())))
        xs, gs, f = torch.stack(run.trajectory), torch.stack(grads).detach(), run.losses
        dx = torch.cat([torch.zeros_like(xs[:1]), xs[1:] - xs[:-1]])
        S.append(torch.stack([xs, gs, dx], -1).transpose(0, 1))  # [coords, T+1, 3]
        A.append(dx[1:].T.unsqueeze(-1))  # [coords, T, 1]
        O.append(torch.stack([observation_features(xs[: t + 1], gs[: t + 1], f[: t + 1]) for t in range(T)], 1))
        fs.append(f)
    return Rollouts(torch.cat(S), torch.cat(A), torch.cat(O), torch.stack(fs))


def fit_cost(S: Tensor, f: Tensor, coords: int, ridge: float = 1e-6) -> tuple[Tensor, Tensor]:
    """A per-coordinate quadratic model ``sum_j 1/2 s_j^T C_t s_j + c_t^T s_j`` (+ const) of the true objective
    ``f(x_{t+1})`` in the states ``s_{t+1}``, by regression pooled over the rollouts: the coordinate group's shared
    blocks (sec. 3.5). Returns ``C [T, n, n]`` (symmetric, possibly indefinite: the trust region keeps the step's
    problem convex) and ``c [T, n]``.
    ``S [N*coords, T+1, n]``, ``f [N, T+1]``."""
    R, T1, n = S.shape
    N = R // coords
    iu = torch.triu_indices(n, n)
    Cs, cs = [], []
    for t in range(T1 - 1):
        s = S[:, t + 1].reshape(N, coords, n)
        quad = (s[:, :, iu[0]] * s[:, :, iu[1]]).sum(1)  # [N, n(n+1)/2]
        feats = torch.cat([0.5 * quad, s.sum(1), torch.ones(N, 1, dtype=S.dtype)], 1)
        w = torch.linalg.solve(feats.T @ feats + ridge * torch.eye(feats.shape[1], dtype=S.dtype),
                               feats.T @ f[:, t + 1])
        upper = torch.zeros(n, n, dtype=S.dtype)
        upper[iu[0], iu[1]] = w[: iu.shape[1]]
        C = 0.5 * (upper + upper.T)  # 1/2 s^T C s = sum_{i<=j} w_ij s_i s_j / 2 needs C_ii = w_ii, C_ij = w_ij / 2
        Cs.append(C), cs.append(w[iu.shape[1] : iu.shape[1] + n])
    return torch.stack(Cs), torch.stack(cs)


def cost_of_actions(C_next: Tensor, c_next: Tensor, dyn: lqg.Dynamics, action_penalty: float = 1e-4) -> lqg.Cost:
    """The cost of ``z_t = [s_t; a_t]`` that the model predicts: the next state's quadratic cost through the fitted
    dynamics, ``1/2 (F z + f)^T C (F z + f) + c^T (F z + f)``, plus a small action penalty (ours, so that a
    minimum exists even where the fit is flat)."""
    F, f = dyn.F, dyn.f
    Ft = F.transpose(1, 2)
    C = Ft @ C_next @ F
    c = torch.einsum("tij,tj->ti", Ft, torch.einsum("tij,tj->ti", C_next, f) + c_next)
    m = dyn.action_dim
    C[:, -m:, -m:] += action_penalty * torch.eye(m, dtype=C.dtype)
    return lqg.Cost(0.5 * (C + C.transpose(1, 2)), c)


@dataclass
class History:
    teacher_loss: list[float] = field(default_factory=list)  # mean true objective at T of the accepted teacher
    kl: list[float] = field(default_factory=list)
    epsilon: list[float] = field(default_factory=list)
    fit_r2: list[float] = field(default_factory=list)
    dual_gap: list[float] = field(default_factory=list)


class ObservationLSTM(torch.nn.Module):
    """The student ``mu_omega(o_t)``: one LSTM layer over each coordinate's observation features Psi (shared by the
    coordinates of the group, each with its own state) and a linear read-out of the step (sec. 3.5, A.5; ``hidden``
    128 in the paper, smaller here for the CPU)."""

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


class _PolicyFit:
    """The theta-step as an objective of the meta-trainer: one window = one full-batch evaluation of the
    policy-fit loss over the rollouts' observation sequences (backpropagation through time)."""

    def __init__(self, student: ObservationLSTM, O: Tensor, target: Tensor, G_inv: Tensor, lam: Tensor,
                 nu: Tensor) -> None:
        self.student, self.args = student, (O, target, G_inv, lam, nu)

    def parameters(self) -> dict[str, Tensor]:
        return dict(self.student.named_parameters())

    def start(self, generator: torch.Generator) -> None:
        return None

    def unroll(self, phi, worker, length: int, graph: bool) -> tuple[Tensor, None]:  # noqa: ANN001
        O, target, G_inv, lam, nu = self.args
        return badmm.policy_fit_loss(self.student(O), target, G_inv, lam, nu), None


def fit_student(student: ObservationLSTM, opt: torch.optim.Optimizer, O: Tensor, target: Tensor, G_inv: Tensor,
                lam: Tensor, nu: Tensor, steps: int) -> list[float]:
    """``steps`` full-batch steps of ``opt`` (kept across GPS iterations) on the policy-fit loss, through the one
    meta-trainer of the library."""
    from ..meta.trainer import TrainConfig, train as train_meta

    return train_meta(_PolicyFit(student, O, target, G_inv, lam, nu), TrainConfig(runs=steps, steps=1, unroll=1),
                      torch.Generator(), meta_optimizer=lambda params: opt, progress_desc=None)


def momentum_teacher(T: int, lr: float, momentum: float, variance: float) -> lqg.Controller:
    """Momentum SGD as a linear-Gaussian controller on ``s = [x, g, dx]``: ``a = -lr g + momentum dx`` plus
    exploration noise (Li & Malik's initialisation, note A.6; external practice)."""
    K = torch.tensor([[0.0, -lr, momentum]], dtype=D).expand(T, 1, 3).clone()
    return lqg.Controller(K, torch.zeros(T, 1, dtype=D), variance * torch.ones(T, 1, 1, dtype=D))


def train(problems: list[LogisticProblem], *, T: int = 30, iterations: int = 8, lr: float = 0.5,
          momentum: float = 0.5, variance: float = 1e-3, kl_step: float = 0.2, nu: float = 0.1,
          alpha: float = 0.5, fit_steps: int = 150, hidden: int = 16,
          generator: torch.Generator | None = None) -> tuple[lqg.Controller, ObservationLSTM, History]:
    """BADMM guided policy search on one coordinate group (all coordinates of the logistic regressions): returns the
    last teacher, the student and the history (teacher's true objective at T, KL against its bound, the student's
    R^2 on the teacher's mean actions, the dual gap)."""
    g = generator or torch.Generator().manual_seed(0)
    torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=g)))  # the student's initialisation
    coords = problems[0].X.shape[1]
    teacher = momentum_teacher(T, lr, momentum, variance)
    student = ObservationLSTM(hidden)
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    lam, nus = torch.zeros(T, 1, dtype=D), torch.full((T,), nu, dtype=D)
    history = History()
    x0 = torch.zeros(coords, dtype=D)
    multiplier, previous = 1.0, None
    for _ in range(iterations):
        data = rollout(problems, lambda: LinearGaussianTeacher(teacher, g), T, x0)
        area = float(data.f[:, 1:].sum(1).mean())
        if previous is not None and area > previous[0]:
            # the step made the true objective worse: the local model was trusted too far. Return to the previous
            # teacher and halve the trust region (Levine & Abbeel 2014's step adjustment; clipped to [0.01, 10])
            teacher, data, area = previous[1], previous[2], previous[0]
            multiplier = max(0.01, 0.5 * multiplier)
        elif previous is not None:
            multiplier = min(10.0, 1.5 * multiplier)
        previous = (area, teacher, data)
        history.teacher_loss.append(float(data.f[:, -1].mean()))
        dyn = fit.fit_dynamics(data.S, data.A)
        cost = cost_of_actions(*fit_cost(data.S, data.f, coords), dyn)
        mu0, sigma0 = data.S[:, 0].mean(0), torch.cov(data.S[:, 0].T) + 1e-6 * torch.eye(3, dtype=D)
        with torch.no_grad():
            linear_student = fit.fit_policy(data.S, student(data.O), variance=variance)
        step = lqg.trajectory_step(dyn, cost, teacher, mu0, sigma0, multiplier * kl_step * T, lam=lam, nu=nu,
                                   policy=linear_student)
        teacher = step.controller
        history.kl.append(step.kl), history.epsilon.append(step.epsilon)
        target = torch.einsum("tmn,rtn->rtm", teacher.K, data.S[:, :-1]) + teacher.k
        G_inv = torch.linalg.inv(teacher.G)
        fit_student(student, opt, data.O, target, G_inv, lam, nus, fit_steps)
        with torch.no_grad():
            mu_pi = student(data.O)
        residual = ((mu_pi - target) ** 2).sum()
        history.fit_r2.append(float(1 - residual / ((target - target.mean()) ** 2).sum()))
        lam = badmm.dual_step(lam, nus, mu_pi, target, alpha)
        history.dual_gap.append(float((mu_pi.mean(0) - target.mean(0)).abs().mean()))
    return teacher, student, history


def run_student(student: ObservationLSTM, problems: list[LogisticProblem], T: int) -> Tensor:
    """The student as an optimizer (its mean step, no noise) on ``problems``: the true objective ``[N, T+1]``."""
    x0 = torch.zeros(problems[0].X.shape[1], dtype=D)
    return rollout(problems, lambda: PredictedStepDescent(student), T, x0).f


class PredictedStepDescent:
    """The trained student as an optimizer ("predicted step descent", Li & Malik 2017, sec. 4) behind the engine's
    optimizer interface: every tensor is a coordinate group, each coordinate keeps its LSTM state and the last three
    iterates, two gradients and two objective values that Psi needs; the step is the LSTM's mean action. Use it with
    :func:`learnopt_course.meta.engine.unroll` or :class:`learnopt_course.optimizers.TorchOptimizer` (with a closure:
    the rule observes the objective's value)."""

    name = "predicted_step_descent"
    uses_loss = True
    defaults: dict = {}

    def __init__(self, student: ObservationLSTM) -> None:
        self.student = student

    def init(self, params) -> dict:  # noqa: ANN001
        from ..core import trees

        return {"t": 0, "groups": {k: None for k in trees.as_dict(params)}}

    def step(self, params, grads, state, hp=None, *, loss: Tensor):  # noqa: ANN001
        from ..core import trees

        new_params, groups = {}, {}
        f = loss.detach().to(D).reshape(1)
        grad_dict = trees.as_dict(grads)
        for key, p in trees.as_dict(params).items():
            # copies: a torch.optim adapter updates the parameter (and may reuse its gradient) in place
            x = p.detach().reshape(-1).to(D).clone()
            gr = grad_dict[key].detach().reshape(-1).to(D).clone()
            previous = state["groups"][key]
            if previous is None:
                hx, hg, hf, lstm = x[None], gr[None], f, self.student.init_state(x.numel())
            else:  # Psi looks back at most two steps: the last three entries give the same features
                hx = torch.cat([previous["x"], x[None]])[-3:]
                hg = torch.cat([previous["g"], gr[None]])[-3:]
                hf = torch.cat([previous["f"], f])[-3:]
                lstm = previous["lstm"]
            o = observation_features(hx, hg, hf)
            with torch.no_grad():
                a, lstm = self.student.step(o, lstm)
            new_params[key] = (x + a[:, 0]).to(p.dtype).view_as(p)
            groups[key] = {"x": hx, "g": hg, "f": hf, "lstm": lstm}
        return trees.like(params, new_params), {"t": state["t"] + 1, "groups": groups}
