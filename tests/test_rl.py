"""The learning-rate-control environment (Gymnasium API, seeding, errors, divergence) and PPO's pieces."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from learnopt_course import rl
from learnopt_course.rl import LRControlEnv, PPO, PPOConfig, RunningMeanStd, clipped_surrogate, gae


def quadratic_env(**kw):
    return LRControlEnv("quadratic", **{"episode_length": 5, "inner_steps": 3, **kw})


@pytest.mark.parametrize("kw", [{}, {"reward": "sparse"}, {"observation": "params"}, {"groups": "per_tensor"},
                                {"optimizer": "adam"}])
def test_passes_gymnasiums_env_checker(kw):
    check_env(quadratic_env(**kw), skip_render_check=True)


def test_registered_under_an_id():
    env = gym.make(rl.ENV_ID, task="quadratic", episode_length=3)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_tasks_other_than_supervised_training_are_refused():
    with pytest.raises(KeyError, match="task family must be one of"):
        LRControlEnv("imagenet")
    with pytest.raises(ValueError, match="is not one"):
        LRControlEnv("quadratic-10d")


def test_learning_rates_span_the_range_log_uniformly():
    env = quadratic_env()
    assert env.learning_rates(np.array([-1.0, 0.0, 1.0])) == pytest.approx([1e-5, 1e-3, 1e-1])
    assert env.learning_rates(env.action_for(3e-3)) == pytest.approx([3e-3])
    with pytest.raises(ValueError, match="lr must lie in lr_range"):
        env.action_for(1.0)


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, r, *_ = env.step(np.array([a], dtype=np.float32))
        out.append(obs)
        out.append(np.array([r]))
    return np.concatenate(out)


def test_reset_seed_fixes_initialisation_and_data_order():
    env = quadratic_env()
    actions = [0.5, 0.2, -0.3]
    a, b, c = _rollout(env, 3, actions), _rollout(env, 3, actions), _rollout(env, 4, actions)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_dense_rewards_sum_to_the_loss_decrease_and_sparse_pays_at_the_end():
    env = quadratic_env()
    _, info = env.reset(seed=1)
    start, total, done = info["val_loss"], 0.0, False
    while not done:
        _, r, done, _, info = env.step(env.action_for(0.01))
        total += r
    assert total == pytest.approx(start - info["val_loss"], rel=1e-6)
    assert info["val_loss"] < start  # a moderate rate trains
    sparse = quadratic_env(reward="sparse")
    sparse.reset(seed=1)
    rewards = [sparse.step(sparse.action_for(0.01))[1] for _ in range(5)]
    assert rewards[:4] == [0.0] * 4 and rewards[4] == pytest.approx(-info["val_loss"], rel=1e-6)


def test_divergence_ends_the_episode_with_the_penalty():
    env = quadratic_env(lr_range=(1e-3, 100.0), divergence_penalty=-5.0, episode_length=50, optimizer="sgd")
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        obs, r, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))
        if info["diverged"]:
            break
    assert info["diverged"] and terminated and r == -5.0
    assert np.all(np.isfinite(obs))


def test_per_tensor_groups_give_one_rate_per_parameter_tensor():
    env = LRControlEnv("quadratic", groups="per_tensor", task_kwargs={"dim": 4})
    assert env.action_space.shape == (1,)  # the quadratic has one tensor
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape


def test_bad_actions_and_configurations_are_named():
    env = quadratic_env()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(1))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must have shape \(1,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="action must be finite"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match=r"action must lie in \[-1, 1\]"):
        env.step(np.array([1.5]))
    for kw, match in (({"reward": "shaped"}, "reward must be one of"), ({"observation": "pixels"}, "observation must"),
                      ({"lr_range": (0.1, 0.01)}, "lr_range must be"), ({"episode_length": 0}, "episode_length must"),
                      ({"groups": "per_layer"}, "groups must be one of"), ({"optimizer": "newton"}, "newton")):
        with pytest.raises((ValueError, KeyError), match=match):
            quadratic_env(**kw)


def test_gae_matches_discounted_sums_of_td_errors():
    g, lam = 0.9, 0.8
    r = torch.tensor([[1.0], [0.5], [2.0], [-1.0]])
    v = torch.tensor([[0.3], [0.2], [0.4], [0.1]])
    d = torch.tensor([[0.0], [1.0], [0.0], [0.0]])  # the first episode ends at step 1
    last = torch.tensor([0.7])
    adv, ret = gae(r, v, d, last, g, lam)
    delta = [1.0 + g * 0.2 - 0.3, 0.5 - 0.2, 2.0 + g * 0.1 - 0.4, -1.0 + g * 0.7 - 0.1]
    expected = [delta[0] + g * lam * delta[1], delta[1], delta[2] + g * lam * delta[3], delta[3]]
    assert adv[:, 0].tolist() == pytest.approx(expected)
    assert torch.allclose(ret, adv + v)
    ones, _ = gae(r, v, d, last, 1.0, 1.0)  # lambda = gamma = 1: Monte-Carlo return minus value
    assert float(ones[3, 0]) == pytest.approx(-1.0 + 0.7 - 0.1)
    with pytest.raises(ValueError, match="share a shape"):
        gae(r, v[:3], d, last, g, lam)


def test_clipped_surrogate_stops_the_gradient_outside_the_trust_region():
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    log_ratio = torch.log(torch.tensor([1.1, 1.5, 0.9, 0.5])).requires_grad_(True)
    loss = clipped_surrogate(log_ratio, adv, 0.2)
    assert float(loss) == pytest.approx(-(1.1 + 1.2 - 0.9 - 0.8) / 4)
    (grad,) = torch.autograd.grad(loss, log_ratio)
    assert grad[1] == 0 and grad[3] == 0  # clipped where moving further would help the objective
    assert grad[0] != 0 and grad[2] != 0


def test_running_mean_std_matches_the_batch_statistics():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 2))
    rms = RunningMeanStd((2,))
    for chunk in np.split(data, 10):
        rms.update(chunk)
    assert rms.mean == pytest.approx(data.mean(0), abs=1e-3)
    assert rms.var == pytest.approx(data.var(0), rel=1e-3)


class Target(gym.Env):
    """One-step continuous bandit: reward -(a - 0.5)^2. PPO must move its mean action to 0.5."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -float((action[0] - 0.5) ** 2), True, False, {}


def test_test_split_is_read_only_on_request():
    env = LRControlEnv(n_eval=100, n_test=200, episode_length=2, inner_steps=2)
    with pytest.raises(RuntimeError, match="call reset"):
        env.test_metrics()
    env.reset(seed=0)
    env.step(env.action_for(1e-3))
    loss, acc = env.test_metrics()
    assert math.isfinite(loss) and 0 <= acc <= 1
    task = env.family
    assert loss == pytest.approx(task.test_metrics(env.params)[0]) and task.test_x.shape[0] == 200
    with pytest.raises(ValueError, match="no test split; build it with n_test"):
        _reset(LRControlEnv(n_eval=100)).test_metrics()
    with pytest.raises(ValueError, match="n_test needs a classification task"):
        quadratic_env(n_test=10)


def _reset(env):
    env.reset(seed=0)
    return env


def test_history_records_the_last_info_of_each_episode():
    agent = PPO(lambda: quadratic_env(), PPOConfig(n_steps=10, batch_size=5, epochs=1, seed=0))
    agent.learn(10)
    assert len(agent.history) == 2
    assert all(math.isfinite(h["val_loss"]) and "return" in h and "step" in h for h in agent.history)


def test_ppo_learns_a_one_step_continuous_bandit():
    agent = PPO(Target, PPOConfig(n_steps=64, batch_size=32, epochs=5, lr=3e-3, normalize_obs=False, seed=0))
    before = float(agent.predict(np.zeros(1, np.float32))[0])
    agent.learn(64 * 30)
    after = float(agent.predict(np.zeros(1, np.float32))[0])
    assert abs(before) < 0.05 and abs(after - 0.5) < 0.1
    assert len(agent.history) == agent.steps


def test_ppo_improves_on_cartpole_quickly():
    config = PPOConfig(n_envs=4, n_steps=64, batch_size=128, epochs=10, gamma=0.98, gae_lambda=0.8, lr=1e-3,
                       normalize_obs=False, seed=0)
    agent = PPO("CartPole-v1", config)
    agent.learn(4 * 64 * 25)
    returns = [h["return"] for h in agent.history]
    assert np.mean(returns[-10:]) > 2 * np.mean(returns[:10])
    assert math.isfinite(agent.update(agent.collect())["value_loss"])


def test_ppo_rejects_bad_configuration():
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        PPOConfig(n_steps=0)
    with pytest.raises(ValueError, match="gamma must lie in"):
        PPOConfig(gamma=1.5)
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        PPO(Target, PPOConfig(n_steps=4)).learn(0)
