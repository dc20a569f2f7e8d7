"""Gradient estimators for expectations: score function (REINFORCE) vs pathwise (reparameterisation), baselines,
discrete and non-differentiable cases, and value-gradient / policy-gradient estimators for a small control task.

For ``J(theta) = E_{x ~ p_theta}[f(x)]`` (Crouther 2023, sec. 1.4.3, after Mohamed et al. 2020):

* score function:  ``grad J = E[f(x) grad log p_theta(x)]``                  (eqs. 1.4.7-1.4.11)
* pathwise:        ``x = mu + sigma eps, eps ~ N(0, 1)``, ``grad J = E[grad_theta f(mu + sigma eps)]`` (1.4.12-1.4.14)

Every estimator here returns *per-sample* estimates (one row per sample), so that means, variances and their
standard errors can be measured; the gradient estimate itself is the mean over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


def _check(mu: Tensor, sigma: Tensor, eps: Tensor) -> None:
    if not (torch.as_tensor(sigma) > 0).all():
        raise ValueError(f"sigma must be > 0; got {sigma!r}")
    if eps.dim() != 1:
        raise ValueError(f"eps must be a 1-D tensor of standard normal samples; got shape {tuple(eps.shape)}")


def score_function(f: Callable[[Tensor], Tensor], mu: Tensor, sigma: Tensor, eps: Tensor,
                   baseline: Tensor | float = 0.0) -> Tensor:
    """Per-sample score-function estimates of ``(dJ/dmu, dJ/dsigma)`` for ``x = mu + sigma eps ~ N(mu, sigma^2)``:
    ``(f(x) - b) * (eps / sigma, (eps^2 - 1) / sigma)``; returns ``[n, 2]``. Only values of ``f`` are needed.

    ``baseline`` ``b`` (a number or a per-sample tensor independent of that sample) leaves the mean unchanged because
    ``E[grad log p] = 0``, and can shrink the variance a lot."""
    mu, sigma = torch.as_tensor(mu, dtype=eps.dtype), torch.as_tensor(sigma, dtype=eps.dtype)
    _check(mu, sigma, eps)
    with torch.no_grad():
        values = f(mu + sigma * eps) - baseline
    return torch.stack([values * eps / sigma, values * (eps**2 - 1) / sigma], dim=-1)


def pathwise(f: Callable[[Tensor], Tensor], mu: Tensor, sigma: Tensor, eps: Tensor) -> Tensor:
    """Per-sample pathwise estimates of ``(dJ/dmu, dJ/dsigma)``: ``f'(x) * (1, eps)`` with ``x = mu + sigma eps``,
    by autograd through ``f``; returns ``[n, 2]``. Needs a differentiable ``f``."""
    mu, sigma = torch.as_tensor(mu, dtype=eps.dtype), torch.as_tensor(sigma, dtype=eps.dtype)
    _check(mu, sigma, eps)
    x = (mu + sigma * eps).detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(x)
        df = torch.autograd.grad(out.sum(), x, allow_unused=True)[0] if out.requires_grad else None
    if df is None:  # f is piecewise constant (or ignores x): the pathwise gradient is zero almost everywhere
        df = torch.zeros_like(x)
    return torch.stack([df, df * eps], dim=-1)


def leave_one_out_baseline(values: Tensor) -> Tensor:
    """For each sample, the mean of the *other* samples: ``(sum - v_i) / (n - 1)``. Independent of sample i, so
    subtracting it keeps the score-function estimator unbiased (Kool et al. 2019)."""
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples for a leave-one-out baseline; got {n}")
    return (values.sum(0, keepdim=True) - values) / (n - 1)


# --- Discrete random variables --------------------------------------------------------------------------------


def categorical_score_function(f_values: Tensor, logits: Tensor, samples: Tensor,
                               baseline: Tensor | float = 0.0) -> Tensor:
    """Per-sample REINFORCE estimates of ``d E_{k ~ softmax(logits)}[f_k] / d logits``: ``(f_k - b) (onehot(k) - p)``.
    ``f_values`` ``[K]`` are the values of each category; ``samples`` ``[n]`` sampled categories; returns ``[n, K]``."""
    probs = torch.softmax(logits, -1)
    onehot = torch.nn.functional.one_hot(samples, logits.shape[-1]).to(logits.dtype)
    return (f_values[samples] - baseline)[:, None] * (onehot - probs)


def categorical_exact_gradient(f_values: Tensor, logits: Tensor) -> Tensor:
    """The exact ``d E[f_k] / d logits = p * (f - E[f])`` (what the estimators should average to)."""
    probs = torch.softmax(logits, -1)
    return probs * (f_values - (probs * f_values).sum())


def straight_through(f: Callable[[Tensor], Tensor], logits: Tensor, samples: Tensor) -> Tensor:
    """The straight-through estimator (Bengio et al. 2013): use ``onehot(k)`` forwards but the gradient of the
    softmax backwards. Cheap and low-variance, but biased: shown to be, not assumed, in lesson 04."""
    leaf = logits.detach().requires_grad_(True)
    probs = torch.softmax(leaf, -1).expand(samples.shape[0], -1)
    onehot = torch.nn.functional.one_hot(samples, logits.shape[-1]).to(logits.dtype)
    hard = onehot + probs - probs.detach()
    rows = []
    for i in range(samples.shape[0]):
        (g,) = torch.autograd.grad(f(hard[i]), leaf, retain_graph=True)
        rows.append(g)
    return torch.stack(rows)


# --- A small stochastic control problem: value gradients vs policy gradients -----------------------------------


@dataclass
class LinearControl:
    """``s' = s + a + noise * xi``, reward ``-(s'^2) - cost * a^2``, over ``T`` steps from ``s0 ~ N(0, 1)``; a linear
    Gaussian policy ``a = -k s + sigma eps``. The return ``J(k) = E[sum_t r_t]``; its derivative in ``k`` is what the
    estimators below approximate (the bridge from lesson 04 to HyperSVG in lesson 08)."""

    T: int = 10
    noise: float = 0.3
    cost: float = 0.1
    sigma: float = 0.3

    def returns(self, k: Tensor, s0: Tensor, eps: Tensor, xi: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``[n]`` and the log-probability sums ``[n]`` of the actions, for noise ``eps``, ``xi`` ``[n, T]``.
        Differentiable in ``k`` through the reparameterised actions (the pathwise, SVG(inf) path)."""
        s, total, logp = s0, torch.zeros_like(s0), torch.zeros_like(s0)
        for t in range(self.T):
            a = -k * s + self.sigma * eps[:, t]
            # the likelihood-ratio path treats the sampled state and action as data: only the policy mean moves
            logp = logp - 0.5 * ((a.detach() + k * s.detach()) / self.sigma) ** 2
            s = s + a + self.noise * xi[:, t]
            total = total - s**2 - self.cost * a**2
        return total, logp

    def exact_return(self, k: float | Tensor) -> Tensor:
        """The exact ``J(k)``, differentiable in ``k``: an independent reference for every estimator of ``dJ/dk``.

        The closed loop is linear, ``s' = (1 - k) s + sigma eps + noise xi``, so the second moments obey
        ``m_{t+1} = (1 - k)^2 m_t + sigma^2 + noise^2`` from ``m_0 = 1``, with ``E[a_t^2] = k^2 m_t + sigma^2``, and
        ``J = -sum_t (m_{t+1} + cost E[a_t^2])``; differentiate it with autograd for the exact ``dJ/dk``.
        """
        k = torch.as_tensor(k, dtype=torch.float64)
        m, total = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        for _ in range(self.T):
            action_moment = k**2 * m + self.sigma**2
            m = (1 - k) ** 2 * m + self.sigma**2 + self.noise**2
            total = total - m - self.cost * action_moment
        return total

    def sample_noise(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        shape = (n, self.T)
        return (torch.randn(n, generator=generator, dtype=torch.float64),
                torch.randn(shape, generator=generator, dtype=torch.float64),
                torch.randn(shape, generator=generator, dtype=torch.float64))


def policy_gradient_samples(task: LinearControl, k: float, n: int, generator: torch.Generator,
                            baseline: bool = True) -> Tensor:
    """Per-episode REINFORCE estimates of dJ/dk: ``(R - b) d log pi / dk`` (actions treated as samples), with a
    leave-one-out baseline when ``baseline``. Uses only returns, not the model's derivatives."""
    s0, eps, xi = task.sample_noise(n, generator)
    kk = torch.full((n,), float(k), dtype=torch.float64, requires_grad=True)  # one copy per independent episode
    R, logp = task.returns(kk, s0, eps, xi)
    (logp_grad,) = torch.autograd.grad(logp.sum(), kk)
    R = R.detach()
    b = leave_one_out_baseline(R) if baseline else 0.0
    return (R - b) * logp_grad


def value_gradient_samples(task: LinearControl, k: float, n: int, generator: torch.Generator) -> Tensor:
    """Per-episode pathwise (SVG(inf)-style, Heess et al. 2015) estimates of dJ/dk: differentiate each sampled return
    through the known model with the noise held fixed."""
    s0, eps, xi = task.sample_noise(n, generator)
    kk = torch.full((n,), float(k), dtype=torch.float64, requires_grad=True)
    R, _ = task.returns(kk, s0, eps, xi)
    (grads,) = torch.autograd.grad(R.sum(), kk)
    return grads


def svg1_samples(task: LinearControl, k: float, n: int, generator: torch.Generator) -> Tensor:
    """Per-episode SVG(1) estimates of dJ/dk (Heess et al. 2015): fit a value function ``V_t(s) = p_t s^2 + q_t`` to
    the sampled returns-to-go (least squares, per time step), then differentiate one step of the model plus the
    fitted value, ``r(s', a) + V_{t+1}(s')``, through the reparameterised action, summed over visited states."""
    s0, eps, xi = task.sample_noise(n, generator)
    states, rewards = [s0], []
    with torch.no_grad():
        s = s0
        for t in range(task.T):
            a = -k * s + task.sigma * eps[:, t]
            s = s + a + task.noise * xi[:, t]
            rewards.append(-(s**2) - task.cost * a**2)
            states.append(s)
    togo = torch.stack(rewards, 1).flip(1).cumsum(1).flip(1)  # [n, T]: return from step t on
    coef = []  # V_t for t = 0..T, V_T = 0
    for t in range(task.T):
        X = torch.stack([states[t] ** 2, torch.ones_like(s0)], 1)
        coef.append(torch.linalg.lstsq(X, togo[:, t : t + 1]).solution[:, 0])
    coef.append(torch.zeros(2, dtype=torch.float64))
    kk = torch.full((n,), float(k), dtype=torch.float64, requires_grad=True)
    total = torch.zeros(n, dtype=torch.float64)
    for t in range(task.T):
        st = states[t]
        a = -kk * st + task.sigma * eps[:, t]
        nxt = st + a + task.noise * xi[:, t]
        total = total + (-(nxt**2) - task.cost * a**2) + coef[t + 1][0] * nxt**2 + coef[t + 1][1]
    (grads,) = torch.autograd.grad(total.sum(), kk)
    return grads


def svg0_samples(task: LinearControl, k: float, n: int, generator: torch.Generator) -> Tensor:
    """Per-episode SVG(0) estimates of dJ/dk (Heess et al. 2015; model-free, a stochastic-policy deterministic policy
    gradient): fit an action-value function ``Q_t(s, a)`` on quadratic features ``[s^2, s a, a^2, s, a, 1]`` to the
    sampled returns-to-go (least squares, per time step; the actions' exploration noise identifies the dependence
    on ``a``), then differentiate ``sum_t Q_t(s_t, -k s_t + sigma eps_t)`` through the reparameterised action at the
    visited states, each half of the episodes with the ``Q`` fitted on the other half. No model is differentiated:
    the bias comes from the fit of ``Q`` (Crouther 2023, sec. 3.2, leaves SVG(0) and SVG(1) "for later work")."""
    s0, eps, xi = task.sample_noise(n, generator)
    states, actions, rewards = [], [], []
    with torch.no_grad():
        s = s0
        for t in range(task.T):
            a = -k * s + task.sigma * eps[:, t]
            states.append(s), actions.append(a)
            s = s + a + task.noise * xi[:, t]
            rewards.append(-(s**2) - task.cost * a**2)
    togo = torch.stack(rewards, 1).flip(1).cumsum(1).flip(1)  # [n, T]

    def features(s: Tensor, a: Tensor) -> Tensor:
        return torch.stack([s**2, s * a, a**2, s, a, torch.ones_like(s)], 1)

    # cross-fitting: each half's gradients use the Q fitted on the other half (fitting and differentiating on the
    # same samples correlates the fit's error with the sample and biases the mean by a few standard errors)
    halves = (torch.arange(n) < n // 2, torch.arange(n) >= n // 2)
    coef = {h: [torch.linalg.lstsq(features(states[t][~m], actions[t][~m]), togo[~m, t : t + 1]).solution[:, 0]
                for t in range(task.T)] for h, m in enumerate(halves)}
    kk = torch.full((n,), float(k), dtype=torch.float64, requires_grad=True)
    total = torch.zeros(n, dtype=torch.float64)
    for t in range(task.T):
        a = -kk * states[t] + task.sigma * eps[:, t]
        q = features(states[t], a)
        total = total + torch.where(halves[0], q @ coef[0][t], q @ coef[1][t])
    (grads,) = torch.autograd.grad(total.sum(), kk)
    return grads


class _GaussianSearch:
    """The search of :func:`reinforce_gaussian_search` as a task for the unroll engine: the data of step ``t`` is a
    batch of actions ``a = mu + sigma eps`` and their rewards; the loss is the score-function surrogate
    ``-mean(A log N(a; mu, sigma^2))``, whose gradient is minus the REINFORCE estimate ``mean(A (a - mu) / sigma^2)``
    (the advantages ``A`` and the actions are constants)."""

    def __init__(self, reward: Callable[[Tensor], Tensor], sigma: float, batch: int,
                 generator: torch.Generator) -> None:
        self.reward, self.sigma, self.batch, self.generator = reward, sigma, batch, generator

    def step_loss(self, mu: Tensor, t: int) -> Tensor:
        eps = torch.randn(self.batch, generator=self.generator, dtype=torch.float64).to(mu.device)
        actions = mu.detach() + self.sigma * eps
        r = self.reward(actions).detach()
        advantage = (r - leave_one_out_baseline(r)) / (r.std() + 1e-12)
        log_prob = -((actions - mu) ** 2) / (2 * self.sigma**2)
        return -(advantage * log_prob).mean()


def reinforce_gaussian_search(reward: Callable[[Tensor], Tensor], mu: float, sigma: float, iterations: int,
                              batch: int, step: float, generator: torch.Generator) -> Tensor:
    """Policy-gradient search over one continuous action (e.g. a log learning rate): sample ``a ~ N(mu, sigma^2)``,
    observe ``reward(a)`` ``[batch]``, ascend ``mean(A (a - mu) / sigma^2)`` with advantages ``A = (r - b) / std(r)``
    (leave-one-out baseline ``b``; dividing by the batch's spread keeps one diverged run from throwing ``mu`` far
    away, as PPO's advantage normalisation does). Returns the history of ``mu`` ``[iterations + 1]`` — a one-state
    version of the RL controllers of lesson 07. The ascent is SGD with rate ``step`` on the surrogate loss, through
    the unroll engine."""
    from .meta.engine import unroll
    from .tasks.base import FunctionTask

    if not isinstance(batch, int) or batch < 2:
        raise ValueError(f"batch must be an integer >= 2; got {batch!r}")
    search = _GaussianSearch(reward, sigma, batch, generator)
    run = unroll(FunctionTask(search.step_loss), "sgd", torch.tensor(float(mu), dtype=torch.float64), iterations,
                 hp={"lr": step}, record=True, last_loss=False)
    return torch.stack([*run.trajectory, run.params])
