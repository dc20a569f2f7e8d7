"""Learning-rate control as a Markov decision process (Crouther 2023, sec. 2.2 and Alg. 3), with the Gymnasium API.

One environment step is a chunk of training: ``inner_steps`` minibatch steps of an inner optimizer with the learning
rate(s) the agent chose. An episode trains a freshly initialised model for ``episode_length`` such chunks (thesis: 20).

* **Action**: ``u`` in ``[-1, 1]`` per parameter group, mapped log-uniformly onto ``lr_range`` (default
  ``1e-5 .. 1e-1``, the thesis's search bounds): ``lr = 10 ** (log lo + (u + 1) / 2 * (log hi - log lo))``.
  ``groups="per_tensor"`` gives one learning rate per parameter tensor (the AlphaOpt capstone's setting).
* **Observation** ``features`` (default; our choice, not the thesis's): the previous log learning rate(s)
  scaled to ``[-1, 1]``, log training loss (mean over the chunk), log validation loss, log10 gradient norm, the cosine
  between the last two minibatch gradients (the sign of the greedy hypergradient, Crouther eq. 1.2.19) and the
  progress ``t / N``. ``params``: the flattened parameters and the progress, as in the thesis (small models only).
* **Reward** ``dense``: the decrease of the validation loss over the step; ``sparse``: 0 until the last step, then
  the final validation accuracy (classification) or minus the final loss (quadratics).
* **Divergence**: a NaN or infinite loss ends the episode (``terminated``) with reward ``divergence_penalty``
  (default -1) and ``info["diverged"] = True``; the observation is the last finite one.
* **Reset** draws the initialisation and the minibatch order from the environment's seed.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from .. import optimizers as optim
from ..core import trees
from ..meta.engine import unroll
from ..tasks.base import TaskFamily

REWARDS = ("dense", "sparse")
OBSERVATIONS = ("features", "params")
GROUPS = ("global", "per_tensor")


def reward(kind: str, previous_loss: float, loss: float, accuracy: float | None, done: bool) -> float:
    """The reward of one step: ``dense`` = the decrease of the validation loss ``previous_loss - loss``; ``sparse``
    = 0 before the last step and, at the last step, the validation accuracy (or ``-loss`` where there is none)."""
    if kind == "dense":
        return previous_loss - loss
    if kind == "sparse":
        if not done:
            return 0.0
        return accuracy if accuracy is not None else -loss
    raise ValueError(f"kind must be one of {REWARDS}; got {kind!r}")


def _family(task: str, n_eval: int, n_test: int | None, kwargs: dict[str, Any]) -> TaskFamily:
    """The task family an episode samples from: random least squares, or a supervised family of
    :mod:`learnopt_course.tasks` (MNIST MLPs, CNN, logistic regression) with ``n_eval`` validation images."""
    from ..tasks import FAMILIES, make_task
    from ..tasks.classification import ClassificationTask, mnist_task
    from ..tasks.quadratic import LeastSquaresFamily

    if task == "quadratic":
        if n_test is not None:
            raise ValueError(f"n_test needs a classification task (a quadratic has no test split); got task={task!r}")
        return LeastSquaresFamily(**kwargs)
    message = (f"task must be 'quadratic' or a supervised task family with minibatches and a validation split "
               f"(e.g. 'mnist-mlp-32x32-tanh'); {task!r} is not one")
    if task in FAMILIES and FAMILIES[task][0] is not mnist_task:
        raise ValueError(message)
    family = make_task(task, n_val=n_eval, **({"n_test": n_test} if n_test is not None else {}), **kwargs)
    if not isinstance(family, ClassificationTask):
        raise ValueError(message)
    return family


class LRControlEnv(gym.Env):
    """Choose the learning rate of a training run, one chunk of ``inner_steps`` minibatch steps at a time.

    ``task``: ``"quadratic"`` (fast) or a task family name (default ``"mnist-mlp-32x32-tanh"``, Crouther's
    784-32-32-10 MLP; ``task_kwargs`` go to :func:`~learnopt_course.tasks.make_task`). ``optimizer``: any functional
    optimizer name (default Adam, as in the thesis's environment, sec. 2.2.1; its online experiments used SGD).
    """

    metadata = {"render_modes": []}

    def __init__(self, task: str = "mnist-mlp-32x32-tanh", *, episode_length: int = 20, inner_steps: int = 10,
                 lr_range: tuple[float, float] = (1e-5, 1e-1), reward: str = "dense", observation: str = "features",
                 optimizer: str = "adam", groups: str = "global", divergence_penalty: float = -1.0, n_eval: int = 1000,
                 max_param_observation: int = 5000, task_kwargs: dict[str, Any] | None = None,
                 n_test: int | None = None) -> None:
        super().__init__()
        for name, value in (("episode_length", episode_length), ("inner_steps", inner_steps)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        lo, hi = (float(v) for v in lr_range) if len(lr_range) == 2 else (math.nan, math.nan)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high; got {lr_range!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}; got {reward!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}; got {observation!r}")
        if groups not in GROUPS:
            raise ValueError(f"groups must be one of {GROUPS}; got {groups!r}")
        if not math.isfinite(divergence_penalty):
            raise ValueError(f"divergence_penalty must be a finite number; got {divergence_penalty!r}")
        self.episode_length, self.inner_steps = episode_length, inner_steps
        self.log_lo, self.log_hi = math.log10(lo), math.log10(hi)
        self.reward_kind, self.observation_kind, self.groups = reward, observation, groups
        self.divergence_penalty = float(divergence_penalty)
        self.optimizer = optim.get(optimizer)
        self.family = _family(task, n_eval, n_test, dict(task_kwargs or {}))
        shapes = {k: v.shape for k, v in self.family.sample(torch.Generator().manual_seed(0)).init_params().items()}
        self.names = list(shapes)
        n_groups = len(self.names) if groups == "per_tensor" else 1
        self.n_params = sum(math.prod(s) for s in shapes.values())
        if observation == "params" and self.n_params > max_param_observation:
            raise ValueError(f"observation='params' flattens all {self.n_params} parameters; that is more than "
                             f"max_param_observation={max_param_observation} (use observation='features')")
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n_groups,), dtype=np.float32)
        size = 5 + n_groups if observation == "features" else self.n_params + 1
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    # --- the MDP ---------------------------------------------------------------------------------------------

    def learning_rates(self, action: np.ndarray) -> np.ndarray:
        """Map actions in ``[-1, 1]`` log-uniformly onto ``lr_range``."""
        return 10.0 ** (self.log_lo + (np.asarray(action, dtype=np.float64) + 1.0) / 2.0 * (self.log_hi - self.log_lo))

    def action_for(self, lr: float) -> np.ndarray:
        """The action that selects the constant learning rate ``lr`` for every group (for baselines)."""
        if not 10**self.log_lo * (1 - 1e-9) <= lr <= 10**self.log_hi * (1 + 1e-9):
            raise ValueError(f"lr must lie in lr_range [{10**self.log_lo:g}, {10**self.log_hi:g}]; got {lr!r}")
        u = 2.0 * (math.log10(lr) - self.log_lo) / (self.log_hi - self.log_lo) - 1.0
        return np.full(self.action_space.shape, np.clip(u, -1.0, 1.0), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.generator = torch.Generator().manual_seed(int(self.np_random.integers(2**31 - 1)))
        self.task = self.family.sample(self.generator)
        self.params = self.task.init_params()
        self.state = self.optimizer.init(self.params)
        self.t = 0
        self.val_loss, self.val_acc = self._evaluate("val")
        self.train_loss, self.grad_norm, self.grad_cos = self.val_loss, 1.0, 0.0
        self.last_u = np.zeros(self.action_space.shape, dtype=np.float64)
        self.last_grads, self.finished = None, False
        self.obs = self._observe()
        return self.obs, {"val_loss": self.val_loss, "val_acc": self.val_acc}

    def _check_action(self, action: Any) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape == () and self.action_space.shape == (1,):
            a = a.reshape(1)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape} (one value per parameter group); "
                             f"got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite; got {a.tolist()}")
        if np.any(np.abs(a) > 1.0 + 1e-6):
            raise ValueError(f"action must lie in [-1, 1] (it is squashed onto lr_range); got {a.tolist()} "
                             "(clip a Gaussian policy's sample before stepping)")
        return np.clip(a, -1.0, 1.0)

    def step(self, action: Any):
        if not hasattr(self, "params"):
            raise RuntimeError("call reset() before step()")
        if self.finished:
            raise RuntimeError(f"the episode has ended (after {self.t} steps); call reset() before step()")
        u = self._check_action(action)
        lrs = self.learning_rates(u)
        hp = {"lr": float(lrs[0])} if self.groups == "global" else {"lr": dict(zip(self.names, map(float, lrs)))}
        # the previous chunk's last gradient starts the comparison, so the cosine is defined even with inner_steps=1
        seen = [self.last_grads]

        def watch(t: int, w: dict, g: dict, loss: Tensor) -> None:
            seen.append(g)

        run = unroll(self.task, self.optimizer, self.params, self.inner_steps, hp=hp, state=self.state,
                     start=self.t * self.inner_steps, last_loss=False, stop_nonfinite=True, callback=watch)
        if run.diverged:
            return self._diverged(lrs)
        self.params, self.state = run.params, run.state
        grads, previous = seen[-1], seen[-2]
        losses = run.losses.tolist()
        val_loss, val_acc = self._evaluate("val")
        if not math.isfinite(val_loss) or not all(torch.isfinite(v).all() for v in self.params.values()):
            return self._diverged(lrs)
        flat = trees.flat(grads)
        self.grad_norm = float(flat.norm())
        if previous is not None:
            prev = trees.flat(previous)
            self.grad_cos = float(flat @ prev / (flat.norm() * prev.norm()).clamp_min(1e-30))
        self.t += 1
        self.train_loss = sum(losses) / len(losses)
        done = self.t >= self.episode_length
        self.last_grads, self.finished = grads, done
        r = reward(self.reward_kind, self.val_loss, val_loss, val_acc, done)
        self.val_loss, self.val_acc, self.last_u = val_loss, val_acc, u
        self.obs = self._observe()
        info = {"lr": lrs, "val_loss": val_loss, "val_acc": val_acc, "train_loss": self.train_loss, "diverged": False}
        return self.obs, float(r), done, False, info

    def test_metrics(self) -> tuple[float, float | None]:
        """(loss, accuracy) of the current parameters on the test split (an environment built with ``n_test``)."""
        if not hasattr(self, "params"):
            raise RuntimeError("call reset() before test_metrics()")
        if getattr(self.family, "test_x", None) is None:
            raise ValueError("this environment has no test split; build it with n_test (e.g. LRControlEnv(n_test=2000))")
        return self._evaluate("test")

    def _evaluate(self, split: str) -> tuple[float, float | None]:
        numbers = self.task.evaluate(self.params, split)
        return numbers["loss"], numbers.get("accuracy")

    def _diverged(self, lrs: np.ndarray):
        self.t += 1
        self.finished = True
        info = {"lr": lrs, "val_loss": math.inf, "val_acc": self.val_acc, "train_loss": math.inf, "diverged": True}
        return self.obs, self.divergence_penalty, True, False, info

    def _observe(self) -> np.ndarray:
        progress = self.t / self.episode_length
        if self.observation_kind == "params":
            flat = torch.cat([v.detach().reshape(-1) for v in self.params.values()]).numpy()
            return np.append(flat, progress).astype(np.float32)
        log = lambda x: math.log(max(x, 1e-30))  # noqa: E731
        features = [log(self.train_loss), log(self.val_loss), math.log10(max(self.grad_norm, 1e-30)), self.grad_cos,
                    progress]
        return np.concatenate([self.last_u, features]).astype(np.float32)
