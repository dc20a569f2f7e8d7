"""Proximal policy optimisation, written for reading (Schulman et al. 2017; Crouther 2023, Alg. 2).

Each piece is a small function with its equation, tested on its own:

* :func:`gae`: generalised advantage estimation (Schulman et al. 2016, eq. 16),
  ``A_t = sum_l (gamma lam)^l delta_{t+l}``, ``delta_t = r_t + gamma V(s_{t+1}) (1 - done_t) - V(s_t)``;
* :func:`clipped_surrogate`: ``-E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]`` (PPO, eq. 7), ``r_t`` the
  probability ratio of the new and old policies;
* the value loss ``E[(V(s_t) - R_t)^2]`` and an entropy bonus (PPO, eq. 9);
* :class:`RunningMeanStd`: observation normalisation with running statistics (Chan et al.'s parallel update).

:class:`PPO` collects ``n_steps`` transitions from each of ``n_envs`` environments, then runs ``epochs`` passes of
minibatch Adam over them. Discrete action spaces get a categorical policy, boxes a Gaussian with a learned
state-independent log standard deviation (actions are clipped to the box only when sent to the environment). Time
limits (``truncated``) are bootstrapped with the value of the final observation, as in Stable-Baselines3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_values: Tensor, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """Advantages and returns ``[T, E]`` from rewards, values and done flags ``[T, E]`` and the values of the
    observations after the last step ``[E]``. ``dones[t]`` marks that the episode ended at step ``t``: nothing after
    it is bootstrapped. Returns are ``advantages + values`` (the value-function targets)."""
    if not (rewards.shape == values.shape == dones.shape) or last_values.shape != rewards.shape[1:]:
        raise ValueError(f"rewards, values and dones must share a shape [T, E] and last_values be [E]; got "
                         f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(dones.shape)}, {tuple(last_values.shape)}")
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_values)
    next_values = last_values
    for t in reversed(range(rewards.shape[0])):
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        next_values = values[t]
    return advantages, advantages + values


def clipped_surrogate(log_ratio: Tensor, advantages: Tensor, clip: float) -> Tensor:
    """The PPO policy loss ``-mean(min(r A, clip(r, 1 - clip, 1 + clip) A))`` with ``r = exp(log_ratio)``."""
    ratio = log_ratio.exp()
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


class RunningMeanStd:
    """Running mean and variance of observations; ``normalize`` maps to zero mean, unit variance, clipped to +-10."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64)
        mean, var, n = batch.mean(0), batch.var(0), batch.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -10.0, 10.0)


@dataclass
class PPOConfig:
    """PPO's knobs; the defaults are the original paper's MuJoCo settings (Schulman et al. 2017, table 3)."""

    n_envs: int = 1
    n_steps: int = 2048
    batch_size: int = 64
    epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    lr: float = 3e-4
    anneal: bool = False  # decay the learning rate and the clip range linearly to 0 over training
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    normalize_obs: bool = True
    log_std_init: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]; got {getattr(self, name)!r}")
        if not self.clip > 0 or not self.lr > 0:
            raise ValueError(f"clip and lr must be positive; got clip={self.clip!r}, lr={self.lr!r}")


def _mlp(sizes: Sequence[int], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs (tanh, orthogonal initialisation with a small policy output gain)."""

    def __init__(self, obs_dim: int, action_space: gym.Space, hidden: Sequence[int], log_std_init: float) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if not self.discrete and not isinstance(action_space, gym.spaces.Box):
            raise ValueError(f"action space must be Discrete or Box; got {action_space}")
        out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.policy = _mlp([obs_dim, *hidden, out], 0.01)
        self.value = _mlp([obs_dim, *hidden, 1], 1.0)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out,), float(log_std_init)))

    def distribution(self, obs: Tensor) -> torch.distributions.Distribution:
        if self.discrete:
            return torch.distributions.Categorical(logits=self.policy(obs))
        return torch.distributions.Independent(torch.distributions.Normal(self.policy(obs), self.log_std.exp()), 1)


class PPO:
    """PPO on ``n_envs`` copies of an environment made by ``make_env()`` (a Gymnasium id or a callable). ``net``
    replaces the default :class:`ActorCritic` (the pluggable actor-critic)."""

    def __init__(self, make_env: str | Callable[[], gym.Env], config: PPOConfig | None = None,
                 net: nn.Module | None = None) -> None:
        self.config = c = config or PPOConfig()
        factory = (lambda: gym.make(make_env)) if isinstance(make_env, str) else make_env
        self.envs = [factory() for _ in range(c.n_envs)]
        space = self.envs[0].observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"observation space must be a flat Box; got {space}")
        self.action_space = self.envs[0].action_space
        # the agent's randomness (initial weights, then its action samples) is one private stream seeded by c.seed:
        # the global generator is neither reseeded nor consumed (torch.distributions sample from the global one, so
        # sampling runs inside fork_rng with the agent's own state swapped in)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            # pluggable: any module with distribution(obs) (sample, log_prob, entropy, mean), value(obs) [..., 1]
            # and a boolean .discrete, e.g. the capstone's coordinatewise actor-critic
            self.net = net if net is not None else ActorCritic(space.shape[0], self.action_space, c.hidden,
                                                               c.log_std_init)
            self._rng_state = torch.get_rng_state()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr, eps=1e-5)
        self.obs_rms = RunningMeanStd(space.shape) if c.normalize_obs else None
        self.obs = np.stack([env.reset(seed=c.seed + i)[0] for i, env in enumerate(self.envs)])
        self.episode_returns = np.zeros(c.n_envs)
        self.steps = 0
        # one entry per finished episode: step, return, and the numbers of the environment's last info (e.g. val_loss)
        self.history: list[dict[str, float]] = []

    def _sample(self, dist: torch.distributions.Distribution) -> Tensor:
        """A sample of ``dist`` drawn from the agent's own random stream."""
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)
            action = dist.sample()
            self._rng_state = torch.get_rng_state()
        return action

    def _norm(self, obs: np.ndarray) -> Tensor:
        x = self.obs_rms.normalize(obs) if self.obs_rms is not None else obs
        return torch.as_tensor(x, dtype=torch.float32)

    def _env_action(self, action: np.ndarray):
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(action)
        return np.clip(action, self.action_space.low, self.action_space.high)

    def predict(self, obs: np.ndarray, deterministic: bool = True):
        """The action for one observation: the mode (deterministic) or a sample of the policy."""
        with torch.no_grad():
            dist = self.net.distribution(self._norm(np.asarray(obs)[None]))
            if deterministic:
                action = dist.probs.argmax(-1) if self.net.discrete else dist.mean
            else:
                action = self._sample(dist)
        return self._env_action(action[0].numpy())

    def collect(self) -> dict[str, Tensor]:
        """Run the current policy for ``n_steps`` in every environment; return the rollout with advantages."""
        c, E = self.config, self.config.n_envs
        buf = {k: [] for k in ("obs", "actions", "log_probs", "values", "rewards", "dones")}
        for _ in range(c.n_steps):
            if self.obs_rms is not None:
                self.obs_rms.update(self.obs)
            x = self._norm(self.obs)
            with torch.no_grad():
                dist = self.net.distribution(x)
                action = self._sample(dist)
                log_prob, value = dist.log_prob(action), self.net.value(x).squeeze(-1)
            rewards, dones, next_obs = np.zeros(E), np.zeros(E), []
            for i, env in enumerate(self.envs):
                o, r, terminated, truncated, info = env.step(self._env_action(action[i].numpy()))
                self.episode_returns[i] += r
                if truncated and not terminated:  # a time limit, not a terminal state: bootstrap its value
                    with torch.no_grad():
                        r += c.gamma * float(self.net.value(self._norm(o[None]))[0, 0])
                if terminated or truncated:
                    numbers = {k: float(v) for k, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                    self.history.append({**numbers, "step": self.steps + i + 1, "return": float(self.episode_returns[i])})
                    self.episode_returns[i] = 0.0
                    o, _ = env.reset()
                rewards[i], dones[i] = r, float(terminated or truncated)
                next_obs.append(o)
            for key, value_ in (("obs", x), ("actions", action), ("log_probs", log_prob), ("values", value),
                                ("rewards", torch.as_tensor(rewards, dtype=torch.float32)),
                                ("dones", torch.as_tensor(dones, dtype=torch.float32))):
                buf[key].append(value_)
            self.obs = np.stack(next_obs)
            self.steps += E
        with torch.no_grad():
            last = self.net.value(self._norm(self.obs)).squeeze(-1)
        rollout = {k: torch.stack(v) for k, v in buf.items()}
        rollout["advantages"], rollout["returns"] = gae(rollout["rewards"], rollout["values"], rollout["dones"], last,
                                                        c.gamma, c.gae_lambda)
        return rollout

    def update(self, rollout: dict[str, Tensor], progress: float = 0.0) -> dict[str, float]:
        """``epochs`` passes of minibatch Adam on the clipped surrogate, the value loss and the entropy bonus: one
        call of the meta-trainer (:func:`learnopt_course.meta.trainer.train`), an epoch per run and a minibatch per
        window, with the agent's own Adam and the global gradient norm clipped to ``max_grad_norm``."""
        from ..meta.trainer import TrainConfig, train

        c = self.config
        scale = 1.0 - progress if c.anneal else 1.0
        for group in self.opt.param_groups:
            group["lr"] = c.lr * scale
        objective = _SurrogateObjective(self, rollout, c.clip * scale if c.anneal else c.clip)
        config = TrainConfig(runs=c.epochs, steps=objective.minibatches, unroll=1, meta_lr=c.lr * scale,
                             clip_norm=c.max_grad_norm)
        train(objective, config, torch.Generator().manual_seed(c.seed + self.steps), progress_desc=None,
              meta_optimizer=lambda params: self.opt)
        return {k: v / objective.count for k, v in objective.stats.items()}

    def learn(self, total_steps: int, callback: Callable[[int, dict[str, float]], None] | None = None) -> "PPO":
        """Alternate :meth:`collect` and :meth:`update` until ``total_steps`` environment steps have been taken."""
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}")
        start = self.steps
        while self.steps - start < total_steps:
            rollout = self.collect()
            stats = self.update(rollout, progress=min(1.0, (self.steps - start) / total_steps))
            if callback is not None:
                callback(self.steps, stats)
        return self


class _SurrogateObjective:
    """PPO's loss on one rollout as an objective of the meta-trainer: a worker is one epoch's shuffled minibatches
    (a permutation drawn from the trainer's generator), a window one minibatch's ``policy + vf_coef value -
    ent_coef entropy`` loss (Schulman et al. 2017, eq. 9); the statistics of every minibatch are kept."""

    def __init__(self, agent: PPO, rollout: dict[str, Tensor], clip: float) -> None:
        self.agent, self.clip = agent, clip
        self.flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in rollout.items()}
        self.n = self.flat["rewards"].shape[0]
        self.minibatches = math.ceil(self.n / agent.config.batch_size)
        self.stats = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        self.count = 0

    def parameters(self) -> dict[str, Tensor]:
        return dict(self.agent.net.named_parameters())

    def start(self, generator: torch.Generator) -> list[Tensor]:
        return list(torch.randperm(self.n, generator=generator).split(self.agent.config.batch_size))

    def unroll(self, phi, worker: list[Tensor], length: int, graph: bool) -> tuple[Tensor, list[Tensor]]:
        c, net, flat, idx = self.agent.config, self.agent.net, self.flat, worker[0]
        dist = net.distribution(flat["obs"][idx])
        log_ratio = dist.log_prob(flat["actions"][idx]) - flat["log_probs"][idx]
        adv = flat["advantages"][idx]
        if idx.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if log_ratio.ndim > adv.ndim:
            # a distribution whose log_prob keeps one term per coordinate ([batch, n]): every coordinate is its own
            # ratio, clipped alone, sharing the step's advantage ("coordinates as parallel environments")
            adv = adv.reshape(*adv.shape, *([1] * (log_ratio.ndim - adv.ndim)))
        policy_loss = clipped_surrogate(log_ratio, adv, self.clip)
        value_loss = ((net.value(flat["obs"][idx]).squeeze(-1) - flat["returns"][idx]) ** 2).mean()
        entropy = dist.entropy().mean()
        self.stats["policy_loss"] += float(policy_loss.detach())
        self.stats["value_loss"] += float(value_loss.detach())
        self.stats["entropy"] += float(entropy.detach())
        self.stats["clip_fraction"] += float(((log_ratio.detach().exp() - 1).abs() > self.clip).float().mean())
        self.count += 1
        return policy_loss + c.vf_coef * value_loss - c.ent_coef * entropy, worker[1:]


def evaluate(agent: PPO, make_env: str | Callable[[], gym.Env], episodes: int = 10, seed: int = 10_000,
             deterministic: bool = True) -> list[float]:
    """Returns of ``episodes`` fresh episodes of ``agent`` (seeds ``seed``, ``seed + 1``, ...)."""
    env = gym.make(make_env) if isinstance(make_env, str) else make_env()
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(agent.predict(obs, deterministic))
            total += r
            done = terminated or truncated
        returns.append(total)
    return returns
