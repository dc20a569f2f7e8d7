"""An interactive explorer: pick a landscape, an optimizer, a learning rate, momentum and gradient noise.

The figure is produced by :func:`explorer_figure`, a pure function of the controls (unit-tested); the widget only
wires ipywidgets controls to it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch

from . import optimizers as optim
from . import plotting
from .tasks.landscapes import LANDSCAPES, Landscape, NoisyGradient, make_landscape

MOMENTUM_NAME = {"heavy_ball": "momentum", "nesterov": "momentum", "adam": "beta1", "rmsprop": "alpha"}


def static_widgets() -> bool:
    """True when notebooks run headless (``LEARNOPT_STATIC_WIDGETS`` set): explorers then draw one static figure."""
    return os.environ.get("LEARNOPT_STATIC_WIDGETS", "").strip().lower() not in {"", "0", "false", "no"}


def interactive(controls: dict, rows: list[list[str]], figure: Callable[[dict], object],
                alt: Callable[[dict], str]):
    """The one mechanism behind every explorer: lay ``controls`` out in ``rows`` (lists of names), and redraw
    ``figure(values)`` into an output area whenever a control changes, as an image whose alt text ``alt(values)``
    describes the current view (the control values included) for screen readers. Returns the VBox, with
    ``.controls``, a ``.renders`` counter and ``.alt``, the current alt text (used by the tests)."""
    import ipywidgets as w

    if static_widgets():
        # headless execution (tests, grading): draw the default view once, without an Output widget capturing it;
        # nbclient can hang forever on output-widget messages (jupyter/nbclient#312)
        values = {name: control.value for name, control in controls.items()}
        plotting.show(figure(values), alt=alt(values) + " (The explorer's default view; its controls appear in "
                      "JupyterLab.)")
        return None
    out = w.Output()
    box = w.VBox([w.HBox([controls[name] for name in row]) for row in rows] + [out])
    box.renders = 0

    def render(_change=None) -> None:
        values = {name: control.value for name, control in controls.items()}
        box.alt = alt(values)
        with out:
            out.clear_output(wait=True)
            plotting.show(figure(values), alt=box.alt)
        box.renders += 1

    for control in controls.values():
        control.observe(render, names="value")
    box.controls = controls
    render()
    return box


def hyperparameters(optimizer: str, lr: float, momentum: float) -> dict[str, float]:
    """Map the explorer's two knobs onto an optimizer's hyperparameters (momentum is ignored by SGD)."""
    hp = {"lr": lr}
    name = MOMENTUM_NAME.get(optim.get(optimizer).name)
    if name is not None:
        hp[name] = momentum
    return hp


def run_on_landscape(landscape: Landscape, optimizer: str, lr: float, momentum: float = 0.0, steps: int = 60,
                     sigma: float = 0.0, seed: int = 0, start: tuple[float, float] | None = None) -> optim.Trajectory:
    """Optimise a 2-D landscape from its start point (float64), with optional gradient noise of std ``sigma``."""
    source: Landscape = landscape
    if sigma > 0:
        source = NoisyGradient(landscape, sigma=sigma, generator=torch.Generator().manual_seed(seed))
    x0 = torch.tensor(start or landscape.start, dtype=torch.float64)
    return optim.minimize(landscape, x0, optimizer, hyperparameters(optimizer, lr, momentum), steps,
                          grad_fn=source.gradient)


def _in_view(points: torch.Tensor, land: Landscape) -> torch.Tensor:
    """Keep diverging runs on the picture: ``[T, 2]`` points clipped to a box around the landscape's window."""
    (x0, x1), (y0, y1) = land.bounds
    pad = 0.5 * max(x1 - x0, y1 - y0)
    return torch.stack([points[:, 0].clamp(x0 - pad, x1 + pad), points[:, 1].clamp(y0 - pad, y1 + pad)], dim=1)


def explorer_figure(landscape: str, optimizer: str, lr: float, momentum: float, sigma: float = 0.0,
                    steps: int = 60, seed: int = 0):
    """Contour plot with the trajectory, next to the loss gap ``f(x_t) - f*`` per iteration. Returns the Figure."""
    import matplotlib.pyplot as plt

    land = make_landscape(landscape)
    traj = run_on_landscape(land, optimizer, lr, momentum, steps, sigma, seed)
    points = _in_view(torch.stack(traj.params), land)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    label = f"{optimizer}, lr={lr:.3g}" + (f", m={momentum:.2f}" if optimizer in MOMENTUM_NAME else "")
    plotting.contour(land, {label: points}, ax=left)
    gap = (traj.losses - land.min_value).clamp_min(1e-16)
    gap = torch.where(torch.isfinite(gap), gap, torch.full_like(gap, float("nan")))
    plotting.loss_curves({label: gap}, ax=right, ylabel="$f(x_t) - f^*$", title="distance to the optimum value")
    fig.tight_layout()
    return fig


def explorer(steps: int = 60):
    """The widget: dropdowns for landscape and optimizer, sliders for log10 lr, momentum and noise."""
    import ipywidgets as w

    controls = {
        "landscape": w.Dropdown(options=sorted(LANDSCAPES), value="quadratic", description="landscape"),
        "optimizer": w.Dropdown(options=list(optim.OPTIMIZERS), value="heavy_ball", description="optimizer"),
        "log_lr": w.FloatSlider(value=math.log10(0.1), min=-4, max=0.5, step=0.05, description="log10 lr"),
        "momentum": w.FloatSlider(value=0.8, min=0.0, max=0.99, step=0.01, description="momentum"),
        "sigma": w.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.05, description="noise std"),
    }
    return interactive(controls, [["landscape", "optimizer"], ["log_lr", "momentum", "sigma"]], lambda v: explorer_figure(
        v["landscape"], v["optimizer"], 10 ** v["log_lr"], v["momentum"], v["sigma"], steps), lambda v: (
        f"Left: contour plot of the {v['landscape']} landscape with the path of {v['optimizer']} over {steps} steps "
        f"(learning rate {10 ** v['log_lr']:.3g}, momentum {v['momentum']:.2f}, gradient noise {v['sigma']:.2f}). "
        "Right: its loss gap per iteration on a log axis."))


def toy_meta_figure(log_lr: float, momentum: float = 0.9, steps: int = 50, sigma: float = 0.0, width: float = 0.3,
                    points: int = 400):
    """The toy outer loss around ``lr = 10**log_lr`` (log-lr window of +-``width``), the tangent line given by the
    exact unrolled hypergradient there, and optionally the Gaussian-smoothed outer loss (std ``sigma`` in log10 lr)
    that evolution strategies descend. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .tasks.toy import toy_outer_loss
    from .meta.unroll import hypergradient

    grid = torch.linspace(log_lr - width, log_lr + width, points, dtype=torch.float64)
    values = toy_outer_loss(10**grid, momentum, steps=steps)
    center = torch.tensor(log_lr, dtype=torch.float64)
    (slope,) = hypergradient(lambda x: toy_outer_loss(10**x, momentum, steps=steps), [center])
    value = toy_outer_loss(10**center, momentum, steps=steps)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(grid, values, label="outer loss", **plotting.style(0))
    tangent = value + slope * (grid - center)
    ax.plot(grid, tangent, label=f"tangent (slope {float(slope):.2g})", **plotting.style(1))
    if sigma > 0:
        offsets = torch.linspace(-3, 3, 61, dtype=torch.float64)
        weights = torch.exp(-0.5 * offsets**2)
        smoothed = torch.stack([
            (toy_outer_loss(10 ** (g + sigma * offsets), momentum, steps=steps) * weights).sum() / weights.sum()
            for g in grid[::10]
        ])
        ax.plot(grid[::10], smoothed, label=f"smoothed, sigma={sigma:g}", **plotting.style(2))
    ax.set_ylim(float(values.min()) - 0.5, float(values.max()) + 0.5)
    ax.set_xlabel("log10 learning rate")
    ax.set_ylabel("outer loss (mean inner loss)")
    ax.set_title(f"toy meta-loss, momentum {momentum:.2f}, {steps} steps")
    ax.legend(fontsize="small")
    return fig


def toy_meta_explorer():
    """Sliders for log10 lr, momentum, horizon and smoothing over :func:`toy_meta_figure`."""
    import ipywidgets as w

    controls = {
        "log_lr": w.FloatSlider(value=-1.0, min=-3.0, max=0.0, step=0.01, description="log10 lr"),
        "momentum": w.FloatSlider(value=0.9, min=0.0, max=0.95, step=0.05, description="momentum"),
        "steps": w.IntSlider(value=50, min=5, max=100, step=5, description="steps T"),
        "sigma": w.FloatSlider(value=0.0, min=0.0, max=0.3, step=0.01, description="ES sigma"),
    }
    return interactive(controls, [["log_lr", "momentum"], ["steps", "sigma"]], lambda v: toy_meta_figure(**v), lambda v: (
        f"The toy outer loss against the learning rate (momentum {v['momentum']:.2f}, {v['steps']} steps), with the "
        f"tangent line of the exact hypergradient at learning rate {10 ** v['log_lr']:.3g}"
        + (f" and the Gaussian-smoothed loss that ES descends (sigma {v['sigma']:.2f})." if v["sigma"] > 0 else ".")))


def pendulum_figure(control_cost: float = 0.01, T: int = 20, iterations: int = 100, lr: float = 0.5):
    """Optimise the pendulum's torques by gradient descent on adjoint gradients and draw the angle and the torque
    over time, next to the uncontrolled swing. Returns the Figure (its title reports the cost before and after)."""
    import matplotlib.pyplot as plt

    from .meta.adjoint import adjoint_gradient, pendulum

    problem = pendulum(control_cost=control_cost, T=T)
    U = torch.zeros(T, 1, dtype=torch.float64)
    start = float(problem.cost(U))
    for _ in range(iterations):
        U = U - lr * adjoint_gradient(problem, U)
    free, controlled = problem.rollout(torch.zeros_like(U)), problem.rollout(U)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    t = torch.arange(T + 1) * 0.1
    left.plot(t, free[:, 0], label="no torque", **plotting.style(0))
    left.plot(t, controlled[:, 0], label="optimised torque", **plotting.style(1))
    left.axhline(math.pi, color="grey", linewidth=0.8)
    left.set(xlabel="time (s)", ylabel="angle (rad); upright = pi", title="pendulum angle")
    left.legend(fontsize="small")
    right.step(t[:-1], U[:, 0], where="post", **plotting.style(1))
    right.set(xlabel="time (s)", ylabel="torque (N m / (kg m^2))", title="controls")
    fig.suptitle(f"cost {start:.2f} -> {float(problem.cost(U)):.2f} after {iterations} adjoint-gradient steps")
    fig.tight_layout()
    return fig


def pendulum_explorer():
    """Sliders for the torque penalty, the horizon and the number of gradient steps over :func:`pendulum_figure`."""
    import ipywidgets as w

    controls = {
        "control_cost": w.FloatLogSlider(value=0.01, base=10, min=-4, max=0, step=0.25, description="torque cost"),
        "T": w.IntSlider(value=20, min=5, max=60, step=5, description="horizon T"),
        "iterations": w.IntSlider(value=100, min=0, max=300, step=25, description="GD steps"),
    }
    return interactive(controls, [["control_cost", "T", "iterations"]], lambda v: pendulum_figure(**v), lambda v: (
        f"Left: pendulum angle over {v['T']} steps of 0.1 s without torque and after {v['iterations']} steps of "
        f"gradient descent on adjoint gradients (torque cost {v['control_cost']:.3g}). Right: the optimised torques."))


ESTIMATOR_FUNCTIONS = {
    "x^2": lambda x: x**2,
    "sin(3x)": lambda x: torch.sin(3 * x),
    "step: 1[x > 0]": lambda x: (x > 0).to(x.dtype),
}


def estimator_figure(function: str = "x^2", mu: float = 1.0, sigma: float = 1.0, n: int = 2000,
                     baseline: bool = False, seed: int = 0):
    """Histograms of per-sample score-function and pathwise estimates of dE[f(x)]/dmu, x ~ N(mu, sigma^2), with
    their means and variances in the legend; ``baseline`` subtracts a leave-one-out baseline from the score function."""
    import matplotlib.pyplot as plt

    from .estimators import leave_one_out_baseline, pathwise, score_function

    if function not in ESTIMATOR_FUNCTIONS:
        raise KeyError(f"function must be one of {sorted(ESTIMATOR_FUNCTIONS)}; got {function!r}")
    f = ESTIMATOR_FUNCTIONS[function]
    eps = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    b = leave_one_out_baseline(f(mu + sigma * eps)) if baseline else 0.0
    estimates = {"score function" + (" + baseline" if baseline else ""): score_function(f, mu, sigma, eps, b)[:, 0],
                 "pathwise": pathwise(f, mu, sigma, eps)[:, 0]}
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, est) in enumerate(estimates.items()):
        ax.hist(est.numpy(), bins=80, density=True, alpha=0.5, color=plotting.style(i)["color"],
                label=f"{name}: mean {float(est.mean()):.3f}, variance {float(est.var()):.2f}")
    ax.set(xlabel="per-sample estimate of dE[f]/dmu", ylabel="density", title=f"f(x) = {function}, x ~ N({mu:g}, {sigma:g}^2)")
    ax.legend(fontsize="small")
    return fig


def estimator_explorer():
    """Dropdown for f and sliders for mu, sigma and the baseline over :func:`estimator_figure`."""
    import ipywidgets as w

    controls = {
        "function": w.Dropdown(options=list(ESTIMATOR_FUNCTIONS), value="x^2", description="f"),
        "mu": w.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.1, description="mu"),
        "sigma": w.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="sigma"),
        "baseline": w.Checkbox(value=False, description="leave-one-out baseline"),
    }
    return interactive(controls, [["function", "baseline"], ["mu", "sigma"]], lambda v: estimator_figure(**v), lambda v: (
        f"Overlaid histograms of per-sample score-function and pathwise estimates of dE[f]/dmu for f(x) = "
        f"{v['function']}, x ~ N({v['mu']:.1f}, {v['sigma']:.1f}^2)"
        + (", the score function with a leave-one-out baseline." if v["baseline"] else ".")))


def learned_rule_figure(name: str = "l2l-quadratic", steps: int = 10, log10_grad: float = -1.0):
    """The shipped learned optimizer's update for a coordinate that sees the same gradient ``g = 10**log10_grad``
    (and ``-g``) at every step, against the step, next to gradient descent's ``-lr g`` for reference."""
    import matplotlib.pyplot as plt

    from .l2l import response_to_constant_gradient, shipped

    net, _ = shipped(name)
    g = 10.0**log10_grad
    updates = response_to_constant_gradient(net, torch.tensor([g, -g]), steps)
    grid = torch.logspace(-6, 2, 200)
    first = response_to_constant_gradient(net, grid, 1)[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    t = torch.arange(1, steps + 1)
    left.plot(t, updates[:, 0], marker="o", label=f"gradient +{g:.2g}", **plotting.style(0))
    left.plot(t, updates[:, 1], marker="s", label=f"gradient -{g:.2g}", **plotting.style(1))
    left.axhline(0, color="grey", linewidth=0.8)
    left.set(xlabel="step (same gradient every step)", ylabel="update to the coordinate", title="the learned rule over time")
    left.legend(fontsize="small")
    right.plot(grid, -first, label="learned: -(first update)", **plotting.style(0))
    right.set(xscale="log", yscale="symlog", xlabel="gradient g (first step)", ylabel="step size taken (against g)",
              title="first update as a function of the gradient")
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig


def learned_rule_explorer(name: str = "l2l-quadratic"):
    """Sliders for the gradient's size and the number of steps over :func:`learned_rule_figure`."""
    import ipywidgets as w

    controls = {
        "log10_grad": w.FloatSlider(value=-1.0, min=-6.0, max=2.0, step=0.25, description="log10 |g|"),
        "steps": w.IntSlider(value=10, min=1, max=50, step=1, description="steps"),
    }
    return interactive(controls, [["log10_grad", "steps"]], lambda v: learned_rule_figure(name, **v), lambda v: (
        f"Left: the update the learned optimizer {name} takes at each of {v['steps']} steps when one coordinate is fed "
        f"the same gradient, +{10 ** v['log10_grad']:.3g} or -{10 ** v['log10_grad']:.3g}, again and again. Right: the "
        "size of its first step against the size of the gradient, on log axes."))


def neumann_figure(log_decay: float = -4.0, alpha_fraction: float = 1.0, K: int = 30):
    """Inverse-Hessian-vector products on the lesson's per-feature L2 logistic regression at its optimum (float64):
    relative error of K Neumann terms with step ``alpha = alpha_fraction / lambda_max`` and of K CG steps against
    the exact solve, and the per-eigendirection factor ``(1 - alpha lambda_i)^K`` that Neumann leaves unresolved."""
    import matplotlib.pyplot as plt

    from .hpo import bilevel
    from .meta import ift

    problem = bilevel.logistic_l2(n=1000, d=20, dtype=torch.float64)
    lam = torch.full((20,), float(log_decay), dtype=torch.float64)
    w = bilevel.inner_solve(problem, lam, None, 2000)
    graph = ift._gradient_graph(lambda ww: problem.train_loss(ww, lam), w)
    H = ift.hessian_operator(*graph)
    eig = torch.linalg.eigvalsh(torch.stack([H(e) for e in torch.eye(20, dtype=torch.float64)], 1))
    alpha = alpha_fraction / float(eig.max())
    leaf = w.clone().requires_grad_(True)
    (v,) = torch.autograd.grad(problem.val_loss(leaf, lam), leaf)
    exact = ift.solve(H, v, "exact")
    ks = list(range(1, K + 1))
    err = lambda u: float((u - exact).norm() / exact.norm())  # noqa: E731
    neumann = [err(ift.neumann(H, v, k, alpha)) for k in ks]
    cg = [err(ift.conjugate_gradient(H, v, k, tol=0.0)) for k in ks]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(ks, neumann, label=f"Neumann, alpha = {alpha_fraction:.2f} / lambda_max", **plotting.style(0))
    left.plot(ks, cg, label="conjugate gradient", **plotting.style(1))
    left.set(yscale="log", xlabel="K (Hessian-vector products)", ylabel="relative error of H^-1 v",
             title=f"log decay {log_decay:.1f}: condition number {float(eig.max() / eig.min()):.0f}")
    left.legend(fontsize="small")
    right.bar(range(20), (1 - alpha * eig).abs() ** K, color=plotting.style(0)["color"])
    right.set(yscale="log", ylim=(1e-12, 10), xlabel="eigendirection (ascending curvature)",
              ylabel="|1 - alpha lambda_i|^K", title="what K Neumann terms leave unresolved")
    fig.tight_layout()
    return fig


def neumann_explorer():
    """Sliders for the decay (conditioning), the Neumann step and K over :func:`neumann_figure`."""
    import ipywidgets as w

    controls = {
        "log_decay": w.FloatSlider(value=-4.0, min=-8.0, max=1.0, step=0.5, description="log decay"),
        "alpha_fraction": w.FloatSlider(value=1.0, min=0.1, max=2.2, step=0.1, description="alpha x lam_max"),
        "K": w.IntSlider(value=30, min=1, max=200, step=1, description="K"),
    }
    return interactive(controls, [["log_decay", "alpha_fraction", "K"]], lambda v: neumann_figure(**v), lambda v: (
        f"Left: relative error of H^-1 v for the Neumann series (step {v['alpha_fraction']:.1f} / lambda_max) and for "
        f"conjugate gradients against the number of Hessian-vector products, up to K = {v['K']}, at log decay "
        f"{v['log_decay']:.1f}, on a log axis. Right: per eigendirection, the factor |1 - alpha lambda_i|^K that K "
        "Neumann terms leave unresolved."))


def schedule_figure(log10_lr_start: float = -1.0, log10_lr_end: float = -2.0, seed: int = 0):
    """One episode of lesson 07's environment (a 20-d quadratic, Adam, 20 steps of 10 inner steps, range 1e-3..10)
    under the log-linear schedule from ``10**log10_lr_start`` to ``10**log10_lr_end``, next to the best constant
    rate of a 13-point grid on the same seed: the learning rates and the validation loss per step."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .rl import LRControlEnv

    env = LRControlEnv("quadratic", lr_range=(1e-3, 10.0), episode_length=20, inner_steps=10)

    def episode(rates):
        _, info = env.reset(seed=seed)
        losses = [info["val_loss"]]
        for lr in rates:
            _, _, done, _, info = env.step(env.action_for(float(lr)))
            losses.append(info["val_loss"] if not info["diverged"] else float("nan"))
            if done:
                break
        return losses

    schedule = 10 ** np.linspace(log10_lr_start, log10_lr_end, env.episode_length)
    grid = 10 ** np.linspace(-3, 1, 13)
    finals = [episode([lr] * env.episode_length)[-1] for lr in grid]
    best = float(grid[int(np.nanargmin(finals))])
    ours, constant = episode(schedule), episode([best] * env.episode_length)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, env.episode_length + 1)
    left.plot(steps, schedule, marker="o", label="your schedule", **plotting.style(0))
    left.plot(steps, [best] * len(steps), label=f"best constant ({best:.2g})", **plotting.style(1))
    left.set(yscale="log", xlabel="environment step", ylabel="learning rate", title="schedules")
    left.legend(fontsize="small")
    right.plot(range(len(ours)), ours, marker="o", label=f"your schedule: final {ours[-1]:.3g}", **plotting.style(0))
    right.plot(range(len(constant)), constant, label=f"best constant: final {constant[-1]:.3g}", **plotting.style(1))
    right.set(yscale="log", xlabel="environment step", ylabel="validation loss", title="training")
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig


def schedule_explorer():
    """Sliders for a log-linear learning-rate schedule over :func:`schedule_figure`."""
    import ipywidgets as w

    controls = {
        "log10_lr_start": w.FloatSlider(value=-1.0, min=-3.0, max=1.0, step=0.25, description="log10 lr start"),
        "log10_lr_end": w.FloatSlider(value=-2.0, min=-3.0, max=1.0, step=0.25, description="log10 lr end"),
        "seed": w.IntSlider(value=0, min=0, max=9, description="problem seed"),
    }
    return interactive(controls, [["log10_lr_start", "log10_lr_end", "seed"]], lambda v: schedule_figure(**v), lambda v: (
        f"The learning rates and the validation loss per step on least-squares problem {v['seed']}: the log-linear "
        f"schedule from {10 ** v['log10_lr_start']:.3g} to {10 ** v['log10_lr_end']:.3g} against the best constant "
        "rate of a 13-point grid."))


def gps_figure(kl_step: float = 0.2, rollouts: int = 8, seed: int = 0, T: int = 20, iterations: int = 5):
    """Guided policy search on the logistic-regression warm-up (lesson 06) with trust region ``kl_step`` per step and
    ``rollouts`` training problems: the accepted teacher's area under the loss curve per iteration, and each step's
    KL against its bound. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .gps import driver

    g = torch.Generator().manual_seed(seed)
    problems = [driver.LogisticProblem.sample(g) for _ in range(rollouts)]
    _, _, history = driver.train(problems, T=T, iterations=iterations, kl_step=kl_step, nu=0.01, fit_steps=40,
                                 lr=0.05, generator=torch.Generator().manual_seed(seed))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    steps = range(1, iterations + 1)
    left.plot(steps, history.teacher_area, marker="o", label="teacher (accepted)", **plotting.style(0))
    left.set(xlabel="GPS iteration", ylabel="area under the loss curve", title=f"{rollouts} rollouts")
    left.legend()
    right.plot(steps, [kl["w"] for kl in history.kl], marker="o", label="KL(new || old)", **plotting.style(1))
    right.plot(steps, history.epsilon, linestyle="--", color="black", label="bound epsilon")
    right.set(xlabel="GPS iteration", ylabel="sum over t of KL", yscale="log",
              title=f"trust region (kl_step {kl_step:.2g} per step)")
    right.legend()
    fig.tight_layout()
    return fig


def gps_explorer():
    """Sliders for the trust region's size and the number of rollouts over :func:`gps_figure`."""
    import ipywidgets as w

    controls = {
        "log10_kl_step": w.FloatSlider(value=math.log10(0.2), min=-3.0, max=1.0, step=0.25,
                                       description="log10 kl_step"),
        "rollouts": w.IntSlider(value=8, min=2, max=24, step=2, description="rollouts"),
        "seed": w.IntSlider(value=0, min=0, max=9, description="seed"),
    }
    return interactive(controls, [["log10_kl_step", "rollouts", "seed"]], lambda v: gps_figure(
        10 ** v["log10_kl_step"], v["rollouts"], v["seed"]), lambda v: (
        f"Guided policy search on {v['rollouts']} logistic-regression problems (seed {v['seed']}) with a trust region "
        f"of {10 ** v['log10_kl_step']:.3g} per step. Left: the accepted teacher's area under the loss curve per "
        "iteration. Right: each trajectory step's KL divergence against its bound, on a log axis."))


def svg_smoothing_figure(hidden: int = 8, train_steps: int = 1000, points: int = 400):
    """Lesson 08: the toy's outer loss ``f(x_20)`` from x0 = 7 as a function of the learning rate, through true SGD
    and through a synthetic optimizer with ``hidden`` units trained for ``train_steps`` imitation steps; the legend
    gives both curves' slope sign changes and the model's relative validation error. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .hypersvg import experiments as E
    from .hypersvg.model import ModelConfig

    lrs = torch.logspace(-2, math.log10(2.0), 12).tolist()
    train, val = E.toy_trajectories(40, lrs).split(0.8, torch.Generator().manual_seed(0))
    net, _, relative = E.fit_model(train, ModelConfig(1, [hidden]), train_steps, validation=val)
    grid = torch.linspace(math.log(0.01), math.log(2.0), points, dtype=torch.float64)
    result, at_argmin = E.smoothing(net, grid)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = grid.exp()
    ax.plot(x, E.toy_outer(grid), label=f"true SGD ({result.sign_changes_true} slope sign changes)", **plotting.style(0))
    ax.plot(x, E.toy_outer(grid, net), label=f"surrogate, {hidden} units, {train_steps} steps "
            f"({result.sign_changes_surrogate} sign changes; validation error {relative:.3f})", **plotting.style(1))
    ax.axvline(result.argmin_surrogate, linestyle=":", color=plotting.style(1)["color"],
               label=f"surrogate's minimiser: true loss {at_argmin:.2f}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="f(x_20) from x0 = 7", title="smoothing is model error")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def svg_smoothing_explorer():
    """Sliders for the surrogate's capacity and training over :func:`svg_smoothing_figure`."""
    import ipywidgets as w

    controls = {
        "hidden": w.IntSlider(value=8, min=2, max=64, step=2, description="hidden units"),
        "train_steps": w.IntSlider(value=1000, min=100, max=3000, step=100, description="training steps"),
    }
    return interactive(controls, [["hidden", "train_steps"]], lambda v: svg_smoothing_figure(**v), lambda v: (
        f"The toy's outer loss over learning rates 0.01 to 2 on a log axis: through true SGD, and through a synthetic "
        f"optimizer with {v['hidden']} hidden units trained for {v['train_steps']} steps; the legend counts each "
        "curve's slope sign changes and gives the true loss at the surrogate's minimiser."))


def hypernet_figure(log10_sigma: float = -0.3, hidden: int = 0, lam_hat: float = -1.0, steps: int = 400):
    """Lesson 09: on ridge regression, a hypernetwork hyper-trained for ``steps`` steps on ``N(lam_hat, sigma^2)``
    (``hidden = 0``: linear; otherwise a ReLU MLP with ``hidden`` units) against the exact best response: the
    validation loss ``L_V(w(lam))`` of both, the sampling density, and the weight error. Returns the Figure."""
    import matplotlib.pyplot as plt

    from .hypernet import models, problems
    from .hypernet import train as T

    problem = problems.ridge()
    sigma = 10**log10_sigma
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = (models.LinearHypernet(1, 20, dtype=torch.float64) if hidden == 0
               else models.GlobalHypernet(1, 20, hidden, dtype=torch.float64, init_scale=1.0))
    center = torch.tensor([lam_hat], dtype=torch.float64)
    T.hypertrain(problem, net, lambda g: T.sample_local(center, sigma, 2, g), steps, lr=3e-2)
    grid = torch.linspace(-5, 3, 161, dtype=torch.float64)
    true, approx, error = [], [], []
    with torch.no_grad():
        for lam in grid:
            w, _ = problems.ridge_best_response(problem, lam)
            w_hat = net(lam.reshape(1))
            true.append(float(problem.val_loss(w, None)))
            approx.append(float(problem.val_loss(w_hat, None)))
            error.append(float((w_hat - w).norm() / w.norm()))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.plot(grid, true, label="exact best response", **plotting.style(0))
    kind = "linear" if hidden == 0 else f"MLP, {hidden} hidden units"
    ax.plot(grid, approx, label=f"hypernetwork ({kind})", **plotting.style(1))
    density = torch.exp(-0.5 * ((grid - lam_hat) / sigma) ** 2)
    top = max(true)
    ax.fill_between(grid, min(true), min(true) + (top - min(true)) * density / density.max(), alpha=0.15,
                    label=f"p(lambda | lambda-hat), sigma = {sigma:.2g}")
    ax.set(xlabel="lambda (log penalty)", ylabel="validation loss", ylim=(min(true) * 0.95, top * 1.05),
           title="where the samples go, the hypernetwork is right")
    ax.legend(fontsize="small")
    ax2.plot(grid, error, **plotting.style(1))
    ax2.axvline(lam_hat, linestyle=":", color="gray")
    ax2.set(xlabel="lambda (log penalty)", ylabel="|w_phi - w*| / |w*|", yscale="log", title="weight error")
    fig.tight_layout()
    return fig


def hypernet_explorer():
    """Sliders for the spread of the local distribution and the hypernetwork's capacity over
    :func:`hypernet_figure`."""
    import ipywidgets as w

    controls = {
        "log10_sigma": w.FloatSlider(value=-0.3, min=-2.0, max=0.7, step=0.1, description="log10 sigma"),
        "hidden": w.IntSlider(value=0, min=0, max=32, step=4, description="hidden (0 = linear)"),
        "lam_hat": w.FloatSlider(value=-1.0, min=-4.0, max=2.0, step=0.5, description="lambda-hat"),
    }
    return interactive(controls, [["log10_sigma", "hidden", "lam_hat"]], lambda v: hypernet_figure(**v), lambda v: (
        f"Ridge regression: the validation loss over log penalties -5 to 3 at the exact best response and at a "
        f"{'linear hypernetwork' if v['hidden'] == 0 else 'hypernetwork with ' + str(v['hidden']) + ' hidden units'} "
        f"hyper-trained on samples around {v['lam_hat']} with spread {10 ** v['log10_sigma']:.2g}; right, the "
        "relative weight error on a log axis."))


ALPHAOPT_LANDSCAPES = ("quadratic", "rosenbrock", "saddle", "rastrigin")


def alphaopt_figure(landscape: str = "quadratic", x0: float = -1.5, y0: float = 1.5, log10_gd_lr: float = -1.0,
                    steps: int = 50, agent: str = "alphaopt-quadratic2d", lstm: str = "l2l-quadratic2d-s0"):
    """Lesson 11: the shipped AlphaOpt agent, the shipped 2-D LSTM optimizer and gradient descent from one start
    (left, contour plot; ``"quadratic"`` is E11.1's ``diag(10, 1)``), and the effective learning rate each applies
    to each coordinate, ``-(theta_{t+1} - theta_t)_i / g_i`` (right): per-parameter rates, seen."""
    import matplotlib.pyplot as plt

    from .alphaopt.experiments import QUADRATIC, trajectories
    from .alphaopt.optimizer import AgentRule
    from .core.checkpoints import shipped

    land = QUADRATIC if landscape == "quadratic" else make_landscape(landscape)
    start = torch.tensor([[x0, y0]], dtype=torch.float64)
    agent_net, _ = shipped(agent)
    lstm_net, _ = shipped(lstm)
    runs = {"AlphaOpt (PPO)": (AgentRule(agent_net), None), "LSTM (lesson 05)": (lstm_net.optimizer(), None),
            f"GD, lr={10 ** log10_gd_lr:.3g}": ("sgd", {"lr": 10 ** log10_gd_lr})}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    paths = {}
    for i, (label, (optimizer, hp)) in enumerate(runs.items()):
        with torch.no_grad():
            points = trajectories(optimizer, start, steps, hp, land)[:, 0]  # [T+1, 2]
        grads = land.grad(points[:-1])
        rates = (-(points[1:] - points[:-1]) / grads).abs()
        rates = torch.where(grads.abs() > 1e-12, rates, torch.full_like(rates, float("nan")))
        for k, style_ in ((0, "-"), (1, ":")):
            right.plot(rates[:, k].numpy(), style_, color=plotting.style(i)["color"],
                       label=f"{label}, coordinate {k + 1}")
        paths[label] = _in_view(points, land)
    plotting.contour(land, paths, ax=left)
    right.set_yscale("log")
    right.set_xlabel("iteration $t$")
    right.set_ylabel("effective learning rate")
    right.set_title("per-coordinate rates (solid: first, dotted: second)")
    right.legend(fontsize=6)
    fig.tight_layout()
    return fig


def alphaopt_explorer():
    """A landscape, a start and gradient descent's learning rate over :func:`alphaopt_figure`."""
    import ipywidgets as w

    controls = {
        "landscape": w.Dropdown(options=ALPHAOPT_LANDSCAPES, value="quadratic", description="landscape"),
        "x0": w.FloatSlider(value=-1.5, min=-3.0, max=3.0, step=0.1, description="start x"),
        "y0": w.FloatSlider(value=1.5, min=-3.0, max=3.0, step=0.1, description="start y"),
        "log10_gd_lr": w.FloatSlider(value=-1.0, min=-3.0, max=0.0, step=0.1, description="log10 GD lr"),
    }
    return interactive(controls, [["landscape", "log10_gd_lr"], ["x0", "y0"]], lambda v: alphaopt_figure(**v), lambda v: (
        f"Left: contour plot of the {v['landscape']} landscape with the paths of the shipped AlphaOpt agent, the "
        f"shipped 2-D LSTM optimizer and gradient descent (learning rate {10 ** v['log10_gd_lr']:.3g}) from "
        f"({v['x0']:.1f}, {v['y0']:.1f}) over 50 steps. Right: the effective learning rate of each optimizer on each "
        "coordinate per step, log axis."))


def complex_momentum_figure(beta_abs: float = 0.7, beta_arg_pi: float = 0.4, lr: float = 0.5, steps: int = 60):
    """Lesson 12: simultaneous complex momentum with ``beta = |beta| e^{i pi arg}`` and gradient descent on the
    bilinear game ``xy`` (left: both paths from (1, 1)), and the spectral radius over ``(|beta|, arg beta)`` at this
    step (right, with the chosen ``beta`` marked; below 1 converges): Lorraine (2023) sec. 4.3, Alg. 12."""
    import matplotlib.pyplot as plt

    from . import games
    from .game_experiments import rate_heatmap
    from .optimizers.complex import complex_momentum

    game = games.bilinear(torch.tensor([[1.0]], dtype=torch.float64))
    J = games.bilinear_jacobian(torch.tensor([[1.0]], dtype=torch.float64))
    start = torch.tensor([1.0, 1.0], dtype=torch.float64)
    rho = games.spectral_radius(J, lr, games.polar(beta_abs, beta_arg_pi * math.pi))
    hp = {"lr": lr, "beta_abs": beta_abs, "beta_arg": beta_arg_pi * math.pi}
    paths = {"gradient descent": games.simultaneous(game, optim.sgd, start, steps, {"lr": lr}),
             "complex momentum": games.simultaneous(game, complex_momentum, start, steps, hp)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (label, path) in enumerate(paths.items()):
        shown = path.clamp(-4, 4)
        left.plot(shown[:, 0].numpy(), shown[:, 1].numpy(), marker=".", markersize=3, label=label, **plotting.style(i))
    left.plot([0], [0], marker="*", markersize=12, color="black", linestyle="none", label="equilibrium")
    left.set(xlim=(-4, 4), ylim=(-4, 4), xlabel="x (player A)", ylabel="y (player B)",
             title=f"the game xy, {steps} simultaneous steps, lr {lr:g}")
    left.legend(fontsize=8, loc="lower left")
    radii, args = torch.linspace(0.0, 0.95, 20), torch.linspace(0.0, 1.0, 26)
    heat = rate_heatmap(J, lr, radii, args * math.pi)
    image = right.pcolormesh(args.numpy(), radii.numpy(), heat.clamp(max=1.5).numpy(), shading="nearest",
                             cmap="viridis")
    right.contour(args.numpy(), radii.numpy(), heat.numpy(), levels=[1.0], colors="white")
    right.plot([beta_arg_pi], [beta_abs], marker="o", color="red", markersize=8)
    right.set(xlabel="arg beta / pi", ylabel="|beta|", title=f"spectral radius at lr {lr:g}; chosen: {rho:.3f}")
    fig.colorbar(image, ax=right, label="spectral radius (white: 1)")
    fig.tight_layout()
    return fig


def complex_momentum_explorer():
    """|beta|, arg beta and the step over :func:`complex_momentum_figure`."""
    import ipywidgets as w

    controls = {
        "beta_abs": w.FloatSlider(value=0.7, min=0.0, max=0.95, step=0.05, description="|beta|"),
        "beta_arg_pi": w.FloatSlider(value=0.4, min=0.0, max=1.0, step=0.02, description="arg beta / pi"),
        "lr": w.FloatSlider(value=0.5, min=0.05, max=1.5, step=0.05, description="step lr"),
    }

    def alt(v: dict) -> str:
        from . import games

        J = games.bilinear_jacobian(torch.tensor([[1.0]], dtype=torch.float64))
        rho = games.spectral_radius(J, v["lr"], games.polar(v["beta_abs"], v["beta_arg_pi"] * math.pi))
        return (f"Left: paths of gradient descent and complex momentum (|beta| {v['beta_abs']:.2f}, arg beta "
                f"{v['beta_arg_pi']:.2f} pi, step {v['lr']:.2f}) on the bilinear game xy from (1, 1). Right: heatmap of "
                f"the spectral radius over |beta| and arg beta at this step; the chosen beta has radius {rho:.3f}, so "
                f"it {'converges' if rho < 1 else 'does not converge'}.")

    return interactive(controls, [["beta_abs", "beta_arg_pi", "lr"]], lambda v: complex_momentum_figure(**v), alt)
