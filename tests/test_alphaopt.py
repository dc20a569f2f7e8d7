"""Lesson 11 (AlphaOpt) library: the per-coordinate update, the telescoping return, the summed log-probability,
features, the coordinatewise actor-critic under PPO, the environment on the engine, and AlphaOpt as a drop-in
torch.optim.Optimizer."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from learnopt_course.alphaopt import features, policy, rules
from learnopt_course.alphaopt.env import CoordinateLREnv
from learnopt_course.alphaopt.optimizer import AlphaOpt, AgentRule, CoordinateSGD
from learnopt_course.tasks.landscapes import Quadratic

D = torch.float64


def _quadratic_sampler(g: torch.Generator):
    task = Quadratic(kappa=10.0, L=10.0, angle=0.0)
    return task, 2.0 * torch.randn(2, generator=g, dtype=D)


def test_per_coordinate_update_and_the_telescoping_return():
    theta, grad = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 0.5, -1.0])
    log_lr = torch.log(torch.tensor([0.1, 1.0, 0.01]))
    assert torch.allclose(rules.per_coordinate_update(theta, grad, log_lr), torch.tensor([0.95, -2.5, 3.01]), atol=1e-7)
    losses = torch.tensor([5.0, 3.0, 4.0, 1.5, 0.25], dtype=D)
    assert float(rules.episode_return(losses, "delta")) == pytest.approx(5.0 - 0.25, abs=1e-12)
    assert float(rules.episode_return(losses, "auc")) == pytest.approx(-(3.0 + 4.0 + 1.5 + 0.25))
    # two runs with the same start and end have the same delta-return whatever the path; the AUC tells them apart
    fast, slow = torch.tensor([4.0, 1.0, 1.0, 1.0]), torch.tensor([4.0, 4.0, 4.0, 1.0])
    assert rules.episode_return(fast, "delta") == rules.episode_return(slow, "delta")
    assert rules.episode_return(fast, "auc") > rules.episode_return(slow, "auc")
    with pytest.raises(ValueError, match="kind must be one of"):
        rules.episode_return(losses, "sparse")


def test_the_coordinate_log_probability_is_the_sum_of_independent_normals():
    mu, u = torch.randn(4, 7, dtype=D), torch.randn(4, 7, dtype=D)
    log_std = torch.tensor(-0.3, dtype=D)
    want = torch.distributions.Independent(torch.distributions.Normal(mu, log_std.exp()), 1).log_prob(u)
    assert torch.allclose(rules.coordinate_log_prob(mu, log_std, u), want, atol=1e-12)
    dist = policy.CoordinateNormal(mu, log_std)
    assert torch.allclose(dist.log_prob(u), want) and dist.entropy().shape == (4,)
    assert torch.allclose(dist.entropy(), torch.distributions.Normal(mu, log_std.exp()).entropy().sum(-1))


def test_features_see_sign_flips_and_the_secant_curvature_without_the_parameter():
    g0, g1 = torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.5])
    step = torch.tensor([-0.2, -0.05])
    f = features.coordinate_features(g1, g0, step, torch.tensor([0.1, -0.3]))
    assert f.shape == (2, features.FEATURES)
    assert f[0, 0] == pytest.approx(-0.5) and f[1, 0] == pytest.approx(0.5 / 1.5)
    assert f[0, 1] == pytest.approx(math.log10(2.0 / 0.2) / 4) and f[1, 1] == pytest.approx(math.log10(0.5 / 0.05) / 4)
    assert f[1, 3] == pytest.approx(math.log10(0.5) / 4) and torch.equal(f[:, 2], torch.tensor([0.1, -0.3]))
    first = features.coordinate_features(g1, None, None, None)
    assert torch.equal(first[:, 1], torch.zeros(2)) and torch.equal(first[:, 0], torch.tensor([-1.0, 1.0]))


def test_the_environment_steps_through_the_engine_with_per_coordinate_rates_and_telescopes():
    env = CoordinateLREnv(_quadratic_sampler, horizon=5, lr_range=(1e-3, 1.0), reward="delta")
    obs, info = env.reset(seed=3)
    assert obs.shape == (2 * features.FEATURES,) and env.action_space.shape == (2,)
    total, start = 0.0, info["loss"]
    theta = env.params.clone()
    for _ in range(5):
        action = np.array([1.0 / 3.0, -1.0])  # lr 0.1 on the first (stiff) coordinate, 1e-3 on the second
        grad = env.task.grad(theta)
        obs, r, terminated, truncated, info = env.step(action)
        expected = theta - torch.tensor([0.1, 1e-3], dtype=D) * grad
        assert torch.allclose(env.params, expected, atol=1e-10)
        theta = expected
        total += r
    assert truncated and not terminated
    assert total == pytest.approx((start - info["loss"]) / start, rel=1e-9)
    with pytest.raises(ValueError, match="one entry per parameter"):
        env.step(np.zeros(3))
    blow_up = CoordinateLREnv(_quadratic_sampler, horizon=50, lr_range=(1e-3, 1e6), diverge=1e3)
    blow_up.reset(seed=0)
    done = False
    for _ in range(50):
        _, r, done, _, info = blow_up.step(np.ones(2))
        if done:
            break
    assert done and info["diverged"] and r == pytest.approx((blow_up.loss - 1e3 * blow_up.loss0) / blow_up.loss0)
    for reward in ("delta", "auc", "log_delta"):  # diverging never pays better than any run staying below the cap
        for penalty in ("threshold", "fixed"):
            env = CoordinateLREnv(_quadratic_sampler, horizon=20, lr_range=(1e-3, 1e6), diverge=10.0, reward=reward,
                                  penalty=penalty)
            env.reset(seed=1)
            total, done, steps = 0.0, False, 0
            while not done:
                _, r, done, truncated, info = env.step(np.ones(2))
                total, steps = total + r, steps + 1
                done = done or truncated
            worst = {"delta": 1 - 10.0, "auc": -10.0 * 20, "log_delta": -math.log(10.0)}[reward]  # at the cap throughout
            if penalty == "threshold":
                assert info["diverged"] and total == pytest.approx(worst, rel=1e-9) or total >= worst
            else:
                assert total == pytest.approx(-1.0)  # one step, -1: better than staying near the cap
    with pytest.raises(ValueError, match="penalty must be one of"):
        CoordinateLREnv(_quadratic_sampler, penalty="none")


def test_coordinate_sgd_and_the_agent_rule_run_as_torch_optimizers_in_an_unchanged_loop():
    torch.manual_seed(0)
    agent = policy.CoordinateActorCritic()
    model = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in agent.parameters()]
    opt = AlphaOpt(model.parameters(), agent)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, agent.parameters()))  # the caller's agent is untouched
    state = opt.state[model.weight]["functional"]
    assert state["prev_grad"].shape == model.weight.shape and state["action"].abs().max() <= 1.0
    # the rule is exactly per-coordinate SGD at the rates the agent's mean action selects
    rule = AgentRule(agent)
    theta, grad = torch.randn(5, dtype=D), torch.randn(5, dtype=D)
    new, st = rule.step(theta, grad, rule.init(theta))
    log_lr = math.log(10) * (-3 + (st["action"] + 1) / 2 * 3)
    assert torch.allclose(new, theta - torch.exp(log_lr) * grad)
    with pytest.raises(ValueError, match="needs hp="):
        CoordinateSGD().step(theta, grad, {})


def test_ppo_trains_the_coordinatewise_agent_to_raise_the_return_on_2d_quadratics():
    from learnopt_course.rl import PPO, PPOConfig

    make = lambda: CoordinateLREnv(_quadratic_sampler, horizon=20, reward="delta")  # noqa: E731
    agent = policy.CoordinateActorCritic()
    ppo = PPO(make, PPOConfig(n_steps=200, batch_size=50, epochs=5, lr=3e-3, normalize_obs=False, seed=0), net=agent)
    ppo.learn(3000)
    returns = [h["return"] for h in ppo.history]
    assert len(returns) >= 100
    assert np.mean(returns[-20:]) > np.mean(returns[:20]) + 0.05


def test_the_log_delta_reward_telescopes_to_the_log_of_the_loss_ratio():
    env = CoordinateLREnv(_quadratic_sampler, horizon=6, reward="log_delta")
    _, info = env.reset(seed=1)
    total, start = 0.0, info["loss"]
    for _ in range(6):
        _, r, _, truncated, info = env.step(np.array([1.0 / 3.0, 0.5]))
        total += r
    assert truncated and total == pytest.approx(math.log(start / info["loss"]), rel=1e-9)
    with pytest.raises(ValueError, match="reward must be one of"):
        CoordinateLREnv(_quadratic_sampler, reward="sparse")


def test_the_shipped_agent_reproduces_its_recorded_held_out_score_and_its_recipe_runs():
    from learnopt_course.alphaopt import experiments as A
    from learnopt_course.core.checkpoints import load_checkpoint, shipped
    from learnopt_course.reproduce import reproduce

    from learnopt_course.reproduce import RECIPES

    quadratic = [name for name, r in RECIPES.items() if name.startswith("alphaopt-") and r.task == "quadratic2d"]
    assert len(quadratic) == 12  # three rewards, three seeds; the area reward also with the fixed penalty
    for name in quadratic:
        agent, info = shipped(name)
        result = A.agent_score(agent)
        assert result.success == info["held_out_success"], name
        assert result.auc == pytest.approx(info["held_out_auc"], abs=1e-3) or math.isinf(result.auc), name
        if info["reward"] == "log_delta":  # E11.1's inferred bar: 90 % of the held-out starts reach f - f* < 1e-3
            assert result.success >= 0.9, name
    agent, info = shipped("alphaopt-quadratic2d")
    report = reproduce("alphaopt-quadratic2d", quick=True)
    quick, quick_info = load_checkpoint(report["path"], report["sha256"])
    assert quick_info["runs"] == 1000 and isinstance(quick, policy.CoordinateActorCritic)


def test_landscape_success_counts_runs_that_end_at_a_known_minimizer():
    from learnopt_course.alphaopt import experiments as A
    from learnopt_course.tasks.landscapes import Quadratic as Q

    bowl = Q()
    starts = A.landscape_starts(bowl, 5, 0)
    (x0, x1), (y0, y1) = bowl.bounds
    assert starts.shape == (5, 2) and bool(((starts[:, 0] >= x0) & (starts[:, 0] <= x1)).all())
    assert A.landscape_success("sgd", bowl, starts, steps=400, hp={"lr": 0.5}) == 1.0
    assert A.landscape_success("sgd", bowl, starts, steps=2, hp={"lr": 1e-3}) == 0.0
    assert A.landscape_success("sgd", bowl, starts, steps=50, hp={"lr": 100.0}) == 0.0  # diverged runs miss


def test_batched_trajectories_equal_one_run_per_start_for_every_coordinatewise_optimizer():
    from learnopt_course import l2l
    from learnopt_course.alphaopt import experiments as A
    from learnopt_course.meta.engine import unroll

    starts = A.held_out_starts(4, seed=5)
    lstm = l2l.CoordinateLSTM(l2l.LSTMConfig(preprocessing="log_sign", output_scale=0.1, head="sum"))
    for optimizer, hp in (("sgd", {"lr": 0.1}), ("adam", {"lr": 0.05}), (AgentRule(policy.CoordinateActorCritic()), None),
                          (lstm.optimizer(), None)):
        batched = A.trajectories(optimizer, starts, 7, hp)
        assert batched.shape == (8, 4, 2)
        for i, s in enumerate(starts):
            alone = unroll(A.QUADRATIC, optimizer, s.clone(), 7, hp=hp, record=True).trajectory
            assert torch.allclose(torch.stack(alone), batched[:, i], rtol=1e-5, atol=1e-10)


def test_the_agent_rule_on_a_tree_of_tensors_is_the_rule_on_the_flat_vector():
    agent = policy.CoordinateActorCritic()
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.normal_(0.0, 0.5)
    g = torch.Generator().manual_seed(0)
    tree = {"a": torch.randn(2, 3, generator=g, dtype=D), "b": torch.randn(4, generator=g, dtype=D)}
    grads = {"a": torch.randn(2, 3, generator=g, dtype=D), "b": torch.randn(4, generator=g, dtype=D)}
    rule = AgentRule(agent)
    new_tree, _ = rule.step(tree, grads, rule.init(tree))
    flat = torch.cat([tree["a"].reshape(-1), tree["b"]])
    new_flat, _ = rule.step(flat, torch.cat([grads["a"].reshape(-1), grads["b"]]), rule.init(flat))
    assert torch.equal(torch.cat([new_tree["a"].reshape(-1), new_tree["b"]]), new_flat)
    assert new_tree["a"].shape == (2, 3)


def test_the_agent_keeps_its_learning_rate_range_and_rejects_an_unknown_ratio():
    agent = policy.CoordinateActorCritic(lr_range=(1e-4, 100.0), ratio="coordinate")
    rule = AgentRule(agent)
    assert (rule.log_lo, rule.log_hi) == pytest.approx((-4.0, 2.0))
    assert AgentRule(policy.CoordinateActorCritic()).log_hi == pytest.approx(0.0)
    with pytest.raises(ValueError, match="ratio must be one of"):
        policy.CoordinateActorCritic(ratio="mean")


def test_per_coordinate_ratios_give_ppo_the_joint_policy_gradient_up_to_one_over_n():
    """At the current policy (ratio 1), the clipped surrogate's gradient with one ratio per coordinate is the joint
    one divided by the number of coordinates."""
    from learnopt_course.rl.ppo import clipped_surrogate

    torch.manual_seed(0)
    obs, actions = torch.randn(6, 5 * features.FEATURES), torch.randn(6, 5)
    adv = torch.randn(6)
    grads = {}
    for ratio in ("joint", "coordinate"):
        torch.manual_seed(1)
        net = policy.CoordinateActorCritic(ratio=ratio)
        dist = net.distribution(obs)
        logp = dist.log_prob(actions)
        a = adv if logp.ndim == 1 else adv[:, None]
        clipped_surrogate(logp - logp.detach(), a, 0.2).backward()
        grads[ratio] = net.actor[0].weight.grad.clone()
    assert torch.allclose(grads["coordinate"] * 5, grads["joint"], atol=1e-6)


def test_few_shot_evaluation_scores_query_accuracy_and_refuses_an_optimizer_that_learns():
    from learnopt_course.alphaopt import experiments as A

    family = A.omniglot_family("evaluation", seed=1, channels=(4, 4))
    rule_agent = policy.CoordinateActorCritic(lr_range=(1e-4, 100.0))
    result = A.few_shot_eval(AgentRule(rule_agent), family, 3, steps=2, frozen=rule_agent)
    assert len(result.accuracies) == 3 and all(0.0 <= a <= 1.0 for a in result.accuracies)
    assert result.ci95 == pytest.approx(1.96 * np.std(result.accuracies, ddof=1) / math.sqrt(3))
    again = A.few_shot_eval(AgentRule(rule_agent), A.omniglot_family("evaluation", seed=1, channels=(4, 4)), 3, steps=2)
    assert again.accuracies == result.accuracies  # same episodes and initialisations when the family is rebuilt

    class Learning(AgentRule):
        def step(self, params, grads, state, hp=None):
            with torch.no_grad():
                self.agent.log_std.add_(0.1)
            return super().step(params, grads, state, hp)

    with pytest.raises(RuntimeError, match="must stay frozen"):
        A.few_shot_eval(Learning(rule_agent), family, 2, steps=1, frozen=rule_agent)
    with pytest.raises(ValueError, match="n_tasks must be"):
        A.few_shot_eval("sgd", family, 1, hp={"lr": 0.1})


def test_the_lstm_problems_sum_over_starts_and_landscape_tasks_measure_the_gap():
    from learnopt_course.alphaopt import experiments as A

    problem = A.quadratic_problem(torch.Generator().manual_seed(0), batch=3)
    theta = problem.theta0
    assert theta.shape == (6,)
    assert float(problem.loss(theta, 0)) == pytest.approx(float(A.QUADRATIC.loss(theta.view(3, 2)).sum()))
    task, start = A.landscape_sampler("saddle")(torch.Generator().manual_seed(0))
    assert float(task.step_loss(torch.tensor([0.0, 1.0], dtype=D), 0)) == pytest.approx(0.0, abs=1e-12)  # gap 0
    assert float(task.step_loss(start, 0)) >= 0.0
    family = A.omniglot_family("background", seed=0, channels=(4, 4))
    p = A.episode_problem(family)(torch.Generator().manual_seed(0))
    assert p.theta0.ndim == 1 and torch.isfinite(p.loss(p.theta0, 0))


def test_alphaopt_drops_into_an_unchanged_mnist_loop():
    from learnopt_course.alphaopt import experiments as A

    task = A.mnist_cnn(n_test=500, channels=(4,), n_train=2000, n_val=500)
    agent = policy.CoordinateActorCritic()
    before = A.train_with(lambda p: torch.optim.Adam(p, lr=1e-3), task, 0, 0)
    after = A.train_with(lambda p: AlphaOpt(p, agent), task, 30, 0)
    assert set(after) == {"val", "test"} and after["val"] > before["val"] + 0.1  # 30 steps learn something


def test_recipes_reject_an_unknown_task():
    from learnopt_course.alphaopt.recipe import AlphaOptRecipe

    with pytest.raises(ValueError, match="task must be one of"):
        AlphaOptRecipe("x", task="cifar")


def test_the_median_final_gap_is_small_for_a_converged_run_and_infinite_for_diverged_ones():
    from learnopt_course.alphaopt import experiments as A
    from learnopt_course.tasks.landscapes import make_landscape

    saddle = make_landscape("saddle")
    starts = A.landscape_starts(saddle, 5, 0)
    assert A.landscape_gap("sgd", saddle, starts, 300, {"lr": 0.3}) < 1e-8
    assert A.landscape_gap("sgd", saddle, starts, 50, {"lr": 50.0}) == float("inf")


@pytest.mark.skipif(not os.environ.get("LEARNOPT_DATA"), reason="needs LEARNOPT_DATA (CI sets it)")
def test_the_shipped_omniglot_agent_lowers_the_support_loss_of_background_episodes_it_never_saw():
    from learnopt_course.alphaopt import experiments as A
    from learnopt_course.core.checkpoints import shipped
    from learnopt_course.meta.engine import unroll

    agent, info = shipped("alphaopt-omniglot")
    assert agent.config.ratio == "coordinate" and info["task"] == "omniglot"
    family = A.omniglot_family("background", seed=11)  # a stream neither training nor selection used
    for k in range(3):
        task = family.sample(torch.Generator().manual_seed(k))
        losses = unroll(task, AgentRule(agent), task.init_params(), A.FEW_SHOT_STEPS).losses
        assert float(losses[-1]) < 0.9 * float(losses[0])


@pytest.mark.skipif(not os.environ.get("LEARNOPT_DATA"), reason="needs LEARNOPT_DATA (CI sets it)")
def test_quick_reproductions_of_the_omniglot_and_landscape_recipes_run():
    from learnopt_course.core.checkpoints import load_checkpoint
    from learnopt_course.reproduce import reproduce

    for name in ("alphaopt-omniglot", "alphaopt-saddle-s0"):
        report = reproduce(name, quick=True)
        agent, info = load_checkpoint(report["path"], report["sha256"])
        assert info["task"] == name.split("-")[1] and isinstance(agent, policy.CoordinateActorCritic)
    assert agent.config.ratio == "joint"
