"""Guided policy search building blocks (Li & Malik 2017): LQG, trust-region trajectory step, fits, BADMM, features."""

from __future__ import annotations

import math
import os

import pytest
import torch

from learnopt_course.gps import badmm, features, fit, lqg

D = torch.float64


def _system(seed=0, n=5, m=1, T=20, noise=0.0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=D)  # noqa: E731
    F = torch.cat([torch.eye(n, dtype=D) + 0.1 * r(n, n), 0.5 * r(n, m)], 1).expand(T, n, n + m).clone()
    dyn = lqg.Dynamics(F, 0.1 * r(T, n), noise * torch.eye(n, dtype=D).expand(T, n, n).clone() + 1e-12 * torch.eye(n))
    M = r(n + m, n + m)
    C = (M @ M.T / (n + m) + 0.5 * torch.eye(n + m, dtype=D)).expand(T, n + m, n + m).clone()
    cost = lqg.Cost(C, r(T, n + m))
    return dyn, cost, r(n)


def test_lqg_equals_a_brute_force_stacked_qp():
    dyn, cost, s0 = _system()
    ctrl = lqg.lqg_backward(dyn, cost)
    T, m = ctrl.k.shape

    def total(u):
        s, J = s0, 0.0
        for t in range(T):
            z = torch.cat([s, u[t]])
            J = J + 0.5 * z @ cost.C[t] @ z + cost.c[t] @ z
            s = dyn.F[t] @ z + dyn.f[t]
        return J

    u0 = torch.zeros(T, m, dtype=D)
    H = torch.autograd.functional.hessian(total, u0).reshape(T * m, T * m)
    grad = torch.autograd.functional.jacobian(total, u0).reshape(-1)
    u_star = -torch.linalg.solve(H, grad).reshape(T, m)
    s, ours = s0, []
    for t in range(T):
        a = ctrl.mean(s[None], t)[0]
        ours.append(a)
        s = dyn.F[t] @ torch.cat([s, a]) + dyn.f[t]
    assert torch.allclose(torch.stack(ours), u_star, atol=1e-9)
    assert total(torch.stack(ours)) <= total(u_star) + 1e-9


def test_expected_cost_and_kl_match_monte_carlo():
    dyn, cost, s0 = _system(1, noise=0.05)
    ctrl = lqg.lqg_backward(dyn, cost)
    sigma0 = 0.1 * torch.eye(5, dtype=D)
    means, covs = lqg.forward(dyn, ctrl, s0, sigma0)
    exact = lqg.expected_cost(cost, means, covs)
    g = torch.Generator().manual_seed(0)
    N = 10_000
    s = s0 + torch.randn(N, 5, generator=g, dtype=D) @ torch.linalg.cholesky(sigma0).T
    total = torch.zeros(N, dtype=D)
    for t in range(ctrl.horizon):
        a = ctrl.sample(s, t, g)
        z = torch.cat([s, a], 1)
        total += 0.5 * torch.einsum("ni,ij,nj->n", z, cost.C[t], z) + z @ cost.c[t]
        s = z @ dyn.F[t].T + dyn.f[t] + torch.randn(N, 5, generator=g, dtype=D) @ torch.linalg.cholesky(dyn.W[t]).T
    assert abs(float(total.mean() / exact) - 1) < 0.02
    other = lqg.Controller(ctrl.K + 0.1, ctrl.k - 0.2, 2 * ctrl.G)
    per_step = lqg.kl(ctrl, other, means[:, :5], covs[:, :5, :5])
    assert torch.allclose(lqg.kl(ctrl, ctrl, means[:, :5], covs[:, :5, :5]), torch.zeros(ctrl.horizon, dtype=D),
                          atol=1e-10)
    # Monte Carlo KL at step 3: E_s E_{a~ctrl}[log ctrl - log other]
    t = 3
    s = means[t, :5] + torch.randn(N, 5, generator=g, dtype=D) @ torch.linalg.cholesky(covs[t, :5, :5]).T
    a = ctrl.sample(s, t, g)
    logp = torch.distributions.Normal(ctrl.mean(s, t)[:, 0], ctrl.G[t, 0, 0].sqrt()).log_prob(a[:, 0])
    logq = torch.distributions.Normal(other.mean(s, t)[:, 0], other.G[t, 0, 0].sqrt()).log_prob(a[:, 0])
    assert abs(float((logp - logq).mean() / per_step[t]) - 1) < 0.05


def test_an_active_trust_region_lands_within_ten_percent_of_its_bound():
    dyn, cost, s0 = _system(2, noise=0.01)
    sigma0 = 0.01 * torch.eye(5, dtype=D)
    T = dyn.F.shape[0]
    old = lqg.Controller(torch.zeros(T, 1, 5, dtype=D), torch.zeros(T, 1, dtype=D), torch.ones(T, 1, 1, dtype=D))
    unconstrained = lqg.trajectory_step(dyn, cost, old, s0, sigma0, epsilon=1e9)
    assert unconstrained.iterations == 1  # the bound is inactive: the cost-optimal controller
    for epsilon in (0.5, 2.0, 10.0):
        step = lqg.trajectory_step(dyn, cost, old, s0, sigma0, epsilon=epsilon)
        assert 0.9 * epsilon <= step.kl <= 1.1 * epsilon, (epsilon, step)
    # a tighter trust region costs more (the new controller stays nearer the old one)
    costs = []
    for epsilon in (0.5, 10.0):
        ctrl = lqg.trajectory_step(dyn, cost, old, s0, sigma0, epsilon=epsilon).controller
        costs.append(float(lqg.expected_cost(cost, *lqg.forward(dyn, ctrl, s0, sigma0))))
    assert costs[0] > costs[1]


def test_the_dynamics_fit_recovers_a_known_system():
    dyn, _, s0 = _system(3, noise=1e-4, T=4)
    g = torch.Generator().manual_seed(1)
    N = 400
    S, A = [s0 + torch.randn(N, 5, generator=g, dtype=D)], []
    for t in range(4):
        a = torch.randn(N, 1, generator=g, dtype=D)
        z = torch.cat([S[-1], a], 1)
        noise = torch.randn(N, 5, generator=g, dtype=D) @ torch.linalg.cholesky(dyn.W[t]).T
        S.append(z @ dyn.F[t].T + dyn.f[t] + noise)
        A.append(a)
    fitted = fit.fit_dynamics(torch.stack(S, 1), torch.stack(A, 1))
    error = torch.linalg.matrix_norm(fitted.F - dyn.F) / torch.linalg.matrix_norm(dyn.F)
    assert float(error.max()) < 0.05
    with pytest.raises(ValueError, match="S must be"):
        fit.fit_dynamics(torch.stack(S, 1)[:, :3], torch.stack(A, 1))


def test_the_policy_step_loss_is_minimised_by_the_shifted_teacher_mean_and_the_dual_step_moves_lambda():
    g = torch.Generator().manual_seed(0)
    N, T, m = 6, 4, 2
    mu_psi = torch.randn(N, T, m, generator=g, dtype=D)
    M = torch.randn(T, m, m, generator=g, dtype=D)
    G = M @ M.transpose(1, 2) + torch.eye(m, dtype=D)
    lam, nu = torch.randn(T, m, generator=g, dtype=D), torch.rand(T, generator=g, dtype=D) + 0.5
    best = mu_psi - (G @ lam.unsqueeze(-1)).squeeze(-1) / nu[:, None]  # argmin: mu_psi - G lam / nu
    x = best.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(badmm.policy_fit_loss(x, mu_psi, torch.linalg.inv(G), lam, nu), x)
    assert grad.abs().max() < 1e-10
    new = badmm.dual_step(lam, nu, mu_psi + 1.0, mu_psi, alpha=0.5)
    assert torch.allclose(new, lam + 0.5 * nu[:, None])


def test_observation_features_on_a_hand_built_trajectory_and_permutation_equivariance():
    t, n = 6, 4
    x = torch.arange(t + 1, dtype=D)[:, None] * torch.ones(n, dtype=D)   # x(t) = t
    gr = 2 * torch.ones(t + 1, n, dtype=D)
    f = 10 - torch.arange(t + 1, dtype=D)
    psi = features.observation_features(x, gr, f)
    assert psi.shape == (n, 3)
    assert torch.allclose(psi[:, 0], torch.full((n,), (4.0 - 5.0) / 5.0, dtype=D))
    assert torch.allclose(psi[:, 1], torch.full((n,), 2.0 / 3.0, dtype=D))
    assert torch.allclose(psi[:, 2], torch.full((n,), 1.0 / 1.1, dtype=D))
    start = features.observation_features(x[:1], gr[:1], f[:1])
    assert torch.equal(start[:, 0], torch.zeros(n, dtype=D)) and torch.equal(start[:, 2], torch.zeros(n, dtype=D))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    xs, gs = torch.randn(t + 1, n, generator=g, dtype=D), torch.randn(t + 1, n, generator=g, dtype=D)
    assert torch.allclose(features.observation_features(xs[:, perm], gs[:, perm], f),
                          features.observation_features(xs, gs, f)[perm])
    groups = features.coordinate_groups({"0.weight": torch.zeros(48, 48), "0.bias": torch.zeros(48),
                                         "2.weight": torch.zeros(10, 48), "2.bias": torch.zeros(10)})
    assert len(groups) == 4 and sum(groups.values()) == 48 * 48 + 48 + 10 * 48 + 10


def _phi_loop(x, g, f, t, j):
    """Li & Malik's Phi for coordinate j written out term by term (the test's own, independent transcription)."""
    def bar(h, i):
        lo = max(i - 2, 0)
        return sum(h[k] for k in range(lo, i + 1)) / (i - lo + 1)

    out = [x[t][j]]
    for i in range(25):
        a, b = t - 5 * i, t - 5 * (i + 1)
        out.append((bar(f, a) - bar(f, b)) / bar(f, b) if b >= 0 else 0.0)
    for i in range(26):
        a = t - 5 * i
        out.append(bar([r[j] for r in g], a) / (abs(bar([r[j] for r in g], max(t - 5 * (i + 1), t % 5))) + 1)
                   if a >= 0 else 0.0)
    xj = [r[j] for r in x]
    for i in range(25):
        a, b = t - 5 * i, t - 5 * (i + 1)
        out.append(abs(bar(xj, max(b, t % 5 + 5)) - bar(xj, max(t - 5 * (i + 2), t % 5)))
                   / (abs(bar(xj, a) - bar(xj, b)) + 0.1) if b >= 0 else 0.0)
    return out


def test_state_features_count_77_match_a_term_by_term_transcription_and_are_equivariant():
    T, n = 150, 3
    steps = torch.arange(T + 1, dtype=D)
    x = steps[:, None] * torch.ones(n, dtype=D)            # x(t) = t
    gr = 2 * torch.ones(T + 1, n, dtype=D)                 # g = 2
    f = 200 - steps                                        # f = 200 - t, positive throughout
    for t in (0, 3, 7, 60, 131, 150):
        phi = features.state_features(x[: t + 1], gr[: t + 1], f[: t + 1])
        assert phi.shape == (n, 77)
        expected = torch.tensor(_phi_loop(x.tolist(), gr.tolist(), f.tolist(), t, 1), dtype=D)
        assert torch.allclose(phi[1], expected, atol=1e-12), t
    early = features.state_features(x[:4], gr[:4], f[:4])
    assert torch.equal(early[:, 1:26], torch.zeros(n, 25, dtype=D))  # every objective change needs step t-5
    g = torch.Generator().manual_seed(0)
    xs, gs = torch.randn(40, 5, generator=g, dtype=D), torch.randn(40, 5, generator=g, dtype=D)
    fs = 3 + torch.rand(40, generator=g, dtype=D)
    perm = torch.randperm(5, generator=g)
    assert torch.allclose(features.state_features(xs[:, perm], gs[:, perm], fs),
                          features.state_features(xs, gs, fs)[perm], atol=1e-6)


def test_the_warm_up_loop_improves_the_teacher_and_the_student_imitates_it_on_held_out_rollouts():
    from learnopt_course.gps import driver

    ratios, r2s = [], []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        problem = driver.LogisticProblem.sample(g)
        # from a poorly tuned momentum teacher, the trust-region steps (with the step adjustment) improve the true
        # objective and never end worse than they started
        _, _, alone = driver.train([problem] * 12, T=20, iterations=5, kl_step=0.05, nu=0.0, fit_steps=1, lr=0.05,
                                   generator=torch.Generator().manual_seed(seed))
        ratios.append(alone.teacher_area[-1] / alone.teacher_area[0])
        problems = [driver.LogisticProblem.sample(g) for _ in range(12)]
        teacher, student, history = driver.train(problems, T=20, iterations=4, nu=0.01, fit_steps=150,
                                                 generator=torch.Generator().manual_seed(seed))
        held_out = driver.rollout([driver.LogisticProblem.sample(g) for _ in range(6)],
                                  lambda: driver.LinearGaussianTeacher(teacher, g), 20)
        with torch.no_grad():
            mu_pi = student.net("w")(held_out.O["w"])
        target = torch.einsum("tmn,rtn->rtm", teacher["w"].K, held_out.S["w"][:, :-1]) + teacher["w"].k
        r2s.append(float(1 - ((mu_pi - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()))
        assert history.dual_gap[-1] < 0.05
        assert all(kl <= 1.1 * eps for kls, eps in zip(history.kl, history.epsilon) for kl in kls.values())
    assert max(ratios) <= 1.0 and sum(ratios) / len(ratios) < 0.95, ratios
    assert min(r2s) >= 0.85 and sum(r2s) / len(r2s) >= 0.9, r2s


def test_the_student_runs_as_an_optimizer_through_the_engine_and_torch_optim_exactly_as_in_its_rollouts():
    from learnopt_course import optimizers
    from learnopt_course.gps import driver
    from learnopt_course.meta.engine import unroll

    g = torch.Generator().manual_seed(0)
    problems = [driver.LogisticProblem.sample(g) for _ in range(4)]
    torch.manual_seed(0)
    student = driver.GroupedStudent(driver.StudentConfig(["w"], hidden=8))
    expected = driver.run_student(student, problems[:1], 10)[0]
    opt = driver.PredictedStepDescent(student)
    run = unroll(problems[0], opt, problems[0].init_params(), 10)
    assert torch.allclose(run.losses, expected, atol=1e-12)
    bare = unroll(lambda x, t: problems[0].loss(x), opt, torch.zeros(3, dtype=D), 10)  # a bare tensor: one group
    assert torch.allclose(bare.losses, expected, atol=1e-12)
    x = torch.nn.Parameter(torch.zeros(3, dtype=D))
    adapter = optimizers.TorchOptimizer([x], opt)
    losses = []
    for _ in range(10):
        def closure():
            adapter.zero_grad()
            value = problems[0].loss(x)
            value.backward()
            return value
        losses.append(float(adapter.step(closure).detach()))
    assert torch.allclose(torch.tensor(losses, dtype=D), expected[:10], atol=1e-12)
    with pytest.raises(ValueError, match="observes the objective's value: call step"):
        adapter.step()
    with pytest.raises(KeyError, match=r"group must be one of the groups this policy was trained on, \['w'\]"):
        unroll(lambda p, t: p["other"].sum(), opt, {"other": torch.zeros(2, dtype=D)}, 1)


def test_lqr_backward_equals_the_stacked_least_squares_solution():
    g = torch.Generator().manual_seed(3)
    n, m, T = 3, 2, 6
    A = torch.eye(n, dtype=D) + 0.3 * torch.randn(n, n, generator=g, dtype=D)
    B = torch.randn(n, m, generator=g, dtype=D)
    L = torch.randn(n, n, generator=g, dtype=D)
    Q, R = L @ L.T + 0.1 * torch.eye(n, dtype=D), 0.5 * torch.eye(m, dtype=D)
    K = lqg.lqr_backward(A, B, Q, R, T)
    assert K.shape == (T, m, n)
    x0 = torch.randn(n, generator=g, dtype=D)
    # x_t = A^t x0 + sum_{s<t} A^{t-1-s} B u_s: the states are linear in the stacked actions, x = Phi x0 + Gam u
    Phi = torch.stack([torch.linalg.matrix_power(A, t) for t in range(T + 1)])  # [T+1, n, n]
    Gam = torch.zeros(T + 1, n, T, m, dtype=D)
    for t in range(T + 1):
        for s in range(t):
            Gam[t, :, s] = torch.linalg.matrix_power(A, t - 1 - s) @ B
    Gam = Gam.reshape((T + 1) * n, T * m)
    Qbig = torch.block_diag(*[Q] * (T + 1))
    Rbig = torch.block_diag(*[R] * T)
    u_star = -torch.linalg.solve(Gam.T @ Qbig @ Gam + Rbig, Gam.T @ Qbig @ (Phi @ x0).reshape(-1))
    x, us = x0, []
    for t in range(T):
        us.append(K[t] @ x)
        x = A @ x + B @ us[-1]
    assert torch.allclose(torch.cat(us), u_star, atol=1e-10)
    with pytest.raises(ValueError, match="A must be"):
        lqg.lqr_backward(A, B.T, Q, R, T)


def test_the_dual_gap_shrinks_over_badmm_iterations():
    from learnopt_course.gps import driver

    # with a small trust region the teachers barely move, so the gap between the student's and the teachers' mean
    # actions is what the policy and dual steps close (a large step moves the target and the gap jumps with it)
    for seed in range(2):
        g = torch.Generator().manual_seed(seed)
        problems = [driver.LogisticProblem.sample(g) for _ in range(10)]
        _, _, history = driver.train(problems, T=15, iterations=6, nu=0.01, fit_steps=30, kl_step=1e-3,
                                     generator=torch.Generator().manual_seed(seed))
        gaps = history.dual_gap
        rises = sum(b > a for a, b in zip(gaps, gaps[1:]))
        assert rises <= 1 and gaps[-1] < 0.25 * gaps[0], gaps
        assert history.lam[-1] > 0  # the dual variable moved


def test_conjugate_gradient_directions_and_its_fixed_step_runs():
    from learnopt_course import optimizers
    from learnopt_course.meta.engine import unroll

    cg = optimizers.cg
    x = {"a": torch.tensor([1.0, 2.0], dtype=D), "b": torch.tensor([3.0], dtype=D)}
    g1 = {"a": torch.tensor([1.0, 0.0], dtype=D), "b": torch.tensor([1.0], dtype=D)}
    g2 = {"a": torch.tensor([0.0, 1.0], dtype=D), "b": torch.tensor([2.0], dtype=D)}
    state = cg.init(x)
    x1, state = cg.step(x, g1, state, {"lr": 0.5})
    assert torch.allclose(x1["a"], torch.tensor([0.5, 2.0], dtype=D))
    for variant, beta in (("pr+", (0 * -1 + 1 * 1 + 2 * 1) / 2), ("fr", 5 / 2)):  # g2 . (g2 - g1) / |g1|^2
        _, s2 = cg.step(x1, g2, state, {"lr": 0.5, "variant": variant})
        assert torch.allclose(s2["d"], -torch.tensor([0.0, 1.0, 2.0], dtype=D) + beta * -torch.tensor([1.0, 0, 1], dtype=D))
    with pytest.raises(KeyError, match="cg has no hyperparameter 'momentum'"):
        cg.step(x, g1, state, {"momentum": 0.9})
    with pytest.raises(ValueError, match="variant must be one of"):
        cg.step(x, g1, state, {"variant": "hs"})
    # on an ill-conditioned quadratic with the same fixed step, Fletcher-Reeves directions beat steepest descent,
    # and Polak-Ribiere+ restarts at every step: it is steepest descent
    H = torch.diag(torch.tensor([1.0, 10.0, 100.0], dtype=D))
    f = lambda w, t: 0.5 * w @ H @ w  # noqa: E731
    w0 = torch.ones(3, dtype=D)
    cg_run = unroll(f, cg, w0, 40, hp={"lr": 0.009})
    sgd_run = unroll(f, "sgd", w0, 40, hp={"lr": 0.009})
    assert cg_run.losses[-1] < 0.1 * sgd_run.losses[-1]
    assert torch.allclose(unroll(f, cg, w0, 40, hp={"lr": 0.009, "variant": "pr+"}).losses, sgd_run.losses)
    p = torch.nn.Parameter(w0.clone())
    adapter = optimizers.TorchOptimizer([p], cg, lr=0.009)
    for _ in range(40):
        adapter.zero_grad()
        f(p, 0).backward()
        adapter.step()
    assert torch.allclose(p.detach(), cg_run.params, atol=1e-12)


def test_the_paper_s_nets_have_2842_and_22210_parameters_and_omniglot_problems_are_well_formed():
    from learnopt_course.tasks import models, omniglot_classification

    small = models.mlp([48, 48, 10], "relu").init(torch.Generator().manual_seed(0), D, "cpu")
    large = models.mlp([100, 200, 10], "relu").init(torch.Generator().manual_seed(0), D, "cpu")
    counts = [sum(v.numel() for v in p.values()) for p in (small, large)]
    assert counts == [2842, 22210] and round(counts[1] / counts[0], 2) == 7.81  # L271 "roughly a factor of 8"
    if not os.environ.get("LEARNOPT_DATA"):
        pytest.skip("needs LEARNOPT_DATA (CI sets it)")
    task = omniglot_classification(7, seed=3)
    assert task.train_x.shape == (7 * 15, 48) and task.val_x.shape == (7 * 5, 48)
    assert torch.equal(torch.bincount(task.train_y), torch.full((7,), 15))
    assert torch.allclose(task.train_x.mean(0), torch.zeros(48), atol=1e-5)
    assert torch.allclose(task.train_x.std(0), torch.ones(48), atol=1e-4)
    assert not torch.equal(task.train_x, omniglot_classification(7, seed=4).train_x)
    with pytest.raises(ValueError, match="n_classes must be an integer from 2 to 964; got 1"):
        omniglot_classification(1)


def test_evaluate_scores_areas_counts_divergence_and_tunes_on_its_own_tasks():
    from learnopt_course.gps import driver, evaluate

    g = torch.Generator().manual_seed(0)
    tasks = [driver.LogisticProblem.sample(g) for _ in range(3)]
    objective = driver.task_objective
    curves = evaluate.curves(tasks, "sgd", 5, objective, {"lr": 0.5})
    assert curves.shape == (3, 6) and torch.allclose(curves[:, 0], torch.tensor(math.log(2), dtype=D))
    assert torch.allclose(evaluate.auc(curves), curves[:, 1:].sum(1))
    from learnopt_course.tasks.base import FunctionTask

    bowl = [FunctionTask(lambda p, t: 0.5 * (p["w"] ** 2).sum(), {"w": torch.ones(2, dtype=D)})]
    height = lambda task, p: 0.5 * (p["w"] ** 2).sum()  # noqa: E731
    blown = evaluate.curves(bowl, "sgd", 5, height, {"lr": 1e200})
    assert blown[0, 0] == 1.0 and not torch.isfinite(blown[0, 2:]).any() and evaluate.auc(blown)[0] == math.inf
    lr, scores = evaluate.tune(bowl, "sgd", 5, height, grid=(0.01, 1.0, 1e200))
    assert lr == min(scores, key=scores.get) == 1.0 and scores[1e200] == math.inf
    assert evaluate.Result(lr, blown).diverged == 1
    rows = evaluate.compare(tasks, 5, objective, learned={}, tuned={"SGD": 1.0}, baselines={"SGD": ("sgd", {})})
    assert "SGD" in evaluate.table(rows) and rows["SGD"].diverged == 0
    with pytest.raises(KeyError, match="missing \\['Adam'\\]"):
        evaluate.compare(tasks, 5, objective, learned={}, tuned={}, baselines={"Adam": ("adam", {})})
