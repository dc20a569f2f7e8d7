"""Benchmark: our PPO on CartPole-v1 (run on demand, not in the tests).

    python bench/ppo_cartpole.py [--steps 100000] [--seeds 0 1 2]

Issue target: a mean return of at least 475 over 10 evaluation episodes within 100k environment steps on one CPU
thread, and at least 0.7x the steps per second of Stable-Baselines3's PPO on the same budget (printed when
``stable-baselines3`` is installed). Both use the RL-zoo CartPole settings: 8 environments x 32 steps, minibatch 256,
20 epochs, gamma 0.98, GAE lambda 0.8, learning rate 1e-3 and clip 0.2 annealed linearly to 0, no entropy bonus.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from learnopt_course.rl import PPO, PPOConfig, evaluate

ZOO = dict(n_envs=8, n_steps=32, batch_size=256, epochs=20, gamma=0.98, gae_lambda=0.8, lr=1e-3, anneal=True,
           ent_coef=0.0, normalize_obs=False)


def ours(steps: int, seed: int) -> tuple[float, float]:
    agent = PPO("CartPole-v1", PPOConfig(seed=seed, **ZOO))
    start = time.perf_counter()
    agent.learn(steps)
    sps = agent.steps / (time.perf_counter() - start)
    return statistics.mean(evaluate(agent, "CartPole-v1", episodes=10)), sps


def stable_baselines(steps: int, seed: int) -> tuple[float, float] | None:
    try:
        from stable_baselines3 import PPO as SB3PPO
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.evaluation import evaluate_policy
    except ImportError:
        return None
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    lin = lambda v: (lambda progress: progress * v)  # noqa: E731
    model = SB3PPO("MlpPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
                   learning_rate=lin(1e-3), clip_range=lin(0.2), ent_coef=0.0, seed=seed, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    sps = steps / (time.perf_counter() - start)
    mean, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=10_000 + seed), n_eval_episodes=10)
    return float(mean), sps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CartPole-v1, {args.steps} environment steps, one thread")
    for seed in args.seeds:
        ret, sps = ours(args.steps, seed)
        line = f"seed {seed}: ours mean return {ret:6.1f} (target >= 475: {'met' if ret >= 475 else 'NOT met'}), {sps:6.0f} steps/s"
        sb3 = stable_baselines(args.steps, seed)
        if sb3 is not None:
            line += f" | SB3 {sb3[0]:6.1f}, {sb3[1]:6.0f} steps/s | speed ratio ours/SB3 {sps / sb3[1]:.2f} (target >= 0.7)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
