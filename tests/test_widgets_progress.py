"""The explorer figure reflects its controls; the widget re-renders on change; progress bars are silent in CI."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from learnopt_course import progress, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def live_widgets(monkeypatch):
    """conftest makes kernels draw static figures; the widget tests here exercise the live widgets."""
    monkeypatch.delenv("LEARNOPT_STATIC_WIDGETS", raising=False)
from learnopt_course.tasks import make_landscape  # noqa: E402


def test_hyperparameter_mapping():
    assert widgets.hyperparameters("sgd", 0.1, 0.9) == {"lr": 0.1}
    assert widgets.hyperparameters("heavy_ball", 0.1, 0.9) == {"lr": 0.1, "momentum": 0.9}
    assert widgets.hyperparameters("adam", 0.1, 0.8) == {"lr": 0.1, "beta1": 0.8}
    with pytest.raises(KeyError, match="optimizer must be one of"):
        widgets.hyperparameters("newton", 0.1, 0.9)


def test_run_on_landscape_noise_is_seeded():
    land = make_landscape("saddle")
    a = widgets.run_on_landscape(land, "sgd", 0.1, steps=20, sigma=0.5, seed=3)
    b = widgets.run_on_landscape(land, "sgd", 0.1, steps=20, sigma=0.5, seed=3)
    c = widgets.run_on_landscape(land, "sgd", 0.1, steps=20, sigma=0.5, seed=4)
    assert np.allclose(a.losses, b.losses) and not np.allclose(a.losses, c.losses)


def test_explorer_figure_draws_the_chosen_run():
    fig = widgets.explorer_figure("quadratic", "heavy_ball", 0.1, 0.5, steps=30)
    left, right = fig.axes[:2]
    traj = [line for line in left.get_lines() if line.get_label().startswith("heavy_ball")]
    assert traj and len(traj[0].get_xdata()) == 31
    assert "m=0.50" in traj[0].get_label()
    curve = right.get_lines()[0]
    run = widgets.run_on_landscape(make_landscape("quadratic"), "heavy_ball", 0.1, 0.5, steps=30)
    assert np.allclose(curve.get_ydata(), np.maximum(run.losses.numpy(), 1e-16))
    plt.close(fig)


def test_explorer_figure_survives_divergence():
    fig = widgets.explorer_figure("quadratic", "sgd", 3.0, 0.0, steps=400)  # lr > 2/L diverges to inf
    plt.close(fig)


def test_explorer_widget_rerenders_on_every_control():
    box = widgets.explorer(steps=10)
    assert box.renders == 1
    box.controls["optimizer"].value = "adam"
    box.controls["landscape"].value = "rosenbrock"
    box.controls["log_lr"].value = -2.0
    assert box.renders == 4
    plt.close("all")


def test_progress_quiet_switch(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert progress.quiet() and progress.progress(range(3)).disable
    monkeypatch.setenv("CI", "false")
    monkeypatch.setenv("LEARNOPT_QUIET", "0")
    assert not progress.quiet()
    bar = progress.progress(range(3), desc="x")
    assert not bar.disable and list(bar) == [0, 1, 2]


def test_toy_meta_figure_tangent_matches_the_hypergradient():
    import torch

    from learnopt_course.tasks import toy_outer_loss
    from learnopt_course.meta.unroll import hypergradient

    fig = widgets.toy_meta_figure(-1.5, 0.5, steps=20, sigma=0.1, points=100)
    ax = fig.axes[0]
    lines = {line.get_label().split(" ")[0]: line for line in ax.get_lines()}
    assert set(lines) == {"outer", "tangent", "smoothed,"}
    x, y = lines["tangent"].get_data()
    (slope,) = hypergradient(lambda v: toy_outer_loss(10**v, 0.5, steps=20), [torch.tensor(-1.5, dtype=torch.float64)])
    assert np.isclose((y[-1] - y[0]) / (x[-1] - x[0]), float(slope), rtol=1e-6)
    plt.close(fig)
    box = widgets.toy_meta_explorer()
    box.controls["steps"].value = 10
    assert box.renders == 2
    plt.close("all")


def test_pendulum_figure_reports_a_lower_cost_after_optimisation():
    fig = widgets.pendulum_figure(control_cost=0.01, T=10, iterations=30)
    title = fig._suptitle.get_text()
    before, after = (float(v) for v in title.split("cost ")[1].split(" after")[0].split(" -> "))
    assert after < before
    assert len(fig.axes[0].get_lines()) == 3  # free swing, controlled swing, the upright line
    plt.close(fig)
    box = widgets.pendulum_explorer()
    box.controls["iterations"].value = 0
    assert box.renders == 2
    plt.close("all")


def test_estimator_figure_legend_reports_measured_variances():
    fig = widgets.estimator_figure("x^2", 1.0, 1.0, n=20000)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    sf_var = float(labels[0].split("variance ")[1])
    pw_var = float(labels[1].split("variance ")[1])
    assert abs(sf_var - 30) < 3 and abs(pw_var - 4) < 0.4
    plt.close(fig)
    with pytest.raises(KeyError, match="function must be one of"):
        widgets.estimator_figure("cos")
    box = widgets.estimator_explorer()
    box.controls["baseline"].value = True
    assert box.renders == 2
    plt.close("all")


def test_learned_rule_figure_and_explorer():
    from learnopt_course import l2l

    net, _ = l2l.shipped("l2l-quadratic")
    updates = l2l.response_to_constant_gradient(net, __import__("torch").tensor([0.1, -0.1]), 5)
    fig = widgets.learned_rule_figure("l2l-quadratic", steps=5, log10_grad=-1.0)
    line = fig.axes[0].get_lines()[0]
    assert np.allclose(line.get_ydata(), updates[:, 0].numpy())
    plt.close(fig)
    box = widgets.learned_rule_explorer()
    box.controls["steps"].value = 3
    assert box.renders == 2
    plt.close("all")


def test_static_mode_draws_once_without_widgets(monkeypatch):
    monkeypatch.setenv("LEARNOPT_STATIC_WIDGETS", "1")
    assert widgets.static_widgets()
    assert widgets.toy_meta_explorer() is None
    plt.close("all")


def test_neumann_figure_reflects_its_controls():
    import matplotlib.pyplot as plt

    fig = widgets.neumann_figure(log_decay=-2.0, alpha_fraction=1.0, K=10)
    left = fig.axes[0]
    neumann, cg = (line.get_ydata() for line in left.get_lines())
    assert len(neumann) == 10 and neumann[-1] < neumann[0]
    assert cg[-1] < 1e-6  # 20 dimensions: CG is exact within 20 steps, and this problem is well conditioned
    diverging = widgets.neumann_figure(log_decay=-2.0, alpha_fraction=2.2, K=60)
    assert diverging.axes[0].get_lines()[0].get_ydata()[-1] > 1.0  # alpha > 2 / lambda_max: the series diverges
    plt.close("all")


def test_schedule_figure_compares_with_the_best_constant_rate():
    import matplotlib.pyplot as plt

    fig = widgets.schedule_figure(-1.0, -1.0, seed=0)  # a constant schedule can at best tie the grid's best constant
    ours, best = (line.get_ydata() for line in fig.axes[1].get_lines())
    assert len(ours) == 21 and ours[-1] >= best[-1] * (1 - 1e-9)
    plt.close("all")


def test_gps_figure_shows_the_trust_region_binding_and_the_teacher_improving():
    import matplotlib.pyplot as plt

    fig = widgets.gps_figure(kl_step=0.2, rollouts=6, seed=1, T=15, iterations=4)
    area = fig.axes[0].get_lines()[0].get_ydata()
    kl, bound = (line.get_ydata() for line in fig.axes[1].get_lines())
    assert len(area) == 4 and area[-1] < area[0]  # from a badly tuned teacher, the accepted teacher improves
    assert all(k <= 1.1 * b for k, b in zip(kl, bound))
    assert "6 rollouts" in fig.axes[0].get_title() and "0.2" in fig.axes[1].get_title()
    plt.close("all")


@pytest.mark.parametrize("make, control, value", [("neumann_explorer", "K", 5), ("schedule_explorer", "seed", 3)])
def test_explorer_rerenders_when_a_control_moves(live_widgets, make, control, value):
    box = getattr(widgets, make)()
    before = box.renders
    box.controls[control].value = value
    assert box.renders == before + 1


def test_every_explorer_describes_its_current_view_in_alt_text(live_widgets):
    """Live explorers draw an image whose alt text names the view and follows the controls."""
    from learnopt_course import widgets

    box = widgets.explorer(steps=5)
    assert "quadratic" in box.alt and "heavy_ball" in box.alt
    box.controls["landscape"].value = "rosenbrock"
    assert "rosenbrock" in box.alt
    box = widgets.estimator_explorer()
    box.controls["baseline"].value = True
    assert "leave-one-out baseline" in box.alt


def test_svg_smoothing_figure_counts_sign_changes_of_both_curves():
    import matplotlib.pyplot as plt

    fig = widgets.svg_smoothing_figure(hidden=4, train_steps=200, points=200)
    true, surrogate, _ = fig.axes[0].get_lines()
    assert len(true.get_ydata()) == 200 and "sign changes" in true.get_label() and "4 units" in surrogate.get_label()
    plt.close("all")


def test_hypernet_figure_is_accurate_where_its_samples_go_and_not_far_away():
    import matplotlib.pyplot as plt

    fig = widgets.hypernet_figure(log10_sigma=-1.0, hidden=0, lam_hat=-1.0, steps=300)
    (error_line,) = fig.axes[1].get_lines()[:1]
    lam, err = error_line.get_xdata(), error_line.get_ydata()
    near = min(range(len(lam)), key=lambda i: abs(lam[i] + 1.0))
    assert err[near] < 0.05 and err[-1] > 5 * err[near]  # lambda = 3, four units away
    assert "linear" in fig.axes[0].get_lines()[1].get_label()
    plt.close("all")


def test_alphaopt_figure_draws_each_optimizer_and_its_per_coordinate_rates():
    import matplotlib.pyplot as plt

    fig = widgets.alphaopt_figure("quadratic", x0=1.0, y0=-1.0, log10_gd_lr=np.log10(0.05), steps=10)
    rates = fig.axes[1].get_lines()
    assert len(rates) == 6  # three optimizers, two coordinates each
    gd_first = [line for line in rates if line.get_label().startswith("GD") and "coordinate 1" in line.get_label()][0]
    assert np.allclose(gd_first.get_ydata(), 0.05)  # gradient descent's effective rate is its learning rate
    plt.close(fig)
    box = widgets.alphaopt_explorer()
    box.controls["landscape"].value = "saddle"
    assert box.renders == 2 and "saddle" in box.alt
    plt.close("all")


def test_complex_momentum_figure_reports_the_radius_of_its_controls_and_its_explorer_rerenders(live_widgets):
    import math

    import torch

    from learnopt_course import games

    J = games.bilinear_jacobian(torch.tensor([[1.0]], dtype=torch.float64))
    for beta_abs, arg in ((0.7, 0.4), (0.5, 0.0)):
        fig = widgets.complex_momentum_figure(beta_abs, arg, 0.5, steps=20)
        rho = games.spectral_radius(J, 0.5, games.polar(beta_abs, arg * math.pi))
        assert f"chosen: {rho:.3f}" in fig.axes[1].get_title()
    box = widgets.complex_momentum_explorer()
    assert box.renders == 1 and "converges" in box.alt
    box.controls["beta_arg_pi"].value = 0.0  # real momentum never converges on xy
    assert box.renders == 2 and "does not converge" in box.alt
