"""Estimators: analytic variances (4 vs 30), unbiasedness, baselines, discrete cases, control-task gradients."""

import pytest
import torch

from learnopt_course import estimators as E


@pytest.fixture(scope="module")
def eps():
    return torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_per_sample_variances_4_and_30_within_2_percent(eps):
    f = lambda x: x**2  # noqa: E731  x ~ N(1, 1): the true gradient is 2
    sf = E.score_function(f, 1.0, 1.0, eps)[:, 0]
    pw = E.pathwise(f, 1.0, 1.0, eps)[:, 0]
    assert abs(float(sf.var()) / 30 - 1) < 0.02 and abs(float(pw.var()) / 4 - 1) < 0.02
    for est in (sf, pw):
        assert abs(float(est.mean()) - 2.0) < 4 * float(est.std()) / 1000


def test_sigma_gradients_and_baseline_keep_the_mean(eps):
    f = lambda x: torch.sin(x) + x**2  # noqa: E731
    mu, sigma = 0.3, 0.7
    # exact: d/dmu E = cos(mu) e^{-s^2/2} + 2 mu ; d/dsigma E = -sigma sin(mu) e^{-s^2/2} + 2 sigma
    decay = torch.exp(torch.tensor(-(sigma**2) / 2, dtype=torch.float64))
    exact = torch.stack([torch.cos(torch.tensor(mu)) * decay + 2 * mu, -sigma * torch.sin(torch.tensor(mu)) * decay + 2 * sigma])
    for est in (E.score_function(f, mu, sigma, eps), E.score_function(f, mu, sigma, eps, baseline=0.6),
                E.pathwise(f, mu, sigma, eps)):
        se = est.std(0) / 1000
        assert ((est.mean(0) - exact).abs() < 5 * se).all()
    plain, based = E.score_function(f, mu, sigma, eps), E.score_function(f, mu, sigma, eps, baseline=0.6)
    assert (based.var(0) < plain.var(0)).all()


def test_leave_one_out_baseline():
    v = torch.tensor([1.0, 2.0, 6.0])
    assert torch.allclose(E.leave_one_out_baseline(v), torch.tensor([4.0, 3.5, 1.5]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        E.leave_one_out_baseline(torch.tensor([1.0]))


def test_non_differentiable_f_pathwise_is_zero_score_function_is_right(eps):
    step = lambda x: (x > 0).to(x.dtype)  # noqa: E731  d/dmu P(x > 0) = pdf(0) for x ~ N(mu, 1) at mu = 0
    pw = E.pathwise(step, 0.0, 1.0, eps)[:, 0]
    sf = E.score_function(step, 0.0, 1.0, eps)[:, 0]
    assert float(pw.abs().max()) == 0.0
    assert abs(float(sf.mean()) - 0.398942) < 0.005


def test_categorical_reinforce_unbiased_and_straight_through_biased():
    g = torch.Generator().manual_seed(1)
    logits = torch.tensor([0.2, -0.5, 1.0], dtype=torch.float64)
    f_values = torch.tensor([1.0, 3.0, -2.0], dtype=torch.float64)
    samples = torch.multinomial(torch.softmax(logits, -1), 200_000, replacement=True, generator=g)
    exact = E.categorical_exact_gradient(f_values, logits)
    sf = E.categorical_score_function(f_values, logits, samples)
    assert torch.allclose(sf.mean(0), exact, atol=4 * float(sf.std(0).max()) / 200_000**0.5)
    # linear in the one-hot vector, straight-through happens to be exact; for a nonlinear f it is biased
    linear = E.straight_through(lambda onehot: (onehot * f_values).sum(), logits, samples[:500]).mean(0)
    assert torch.allclose(linear, exact, atol=1e-12)
    squared = f_values**2
    exact_sq = E.categorical_exact_gradient(squared, logits)
    st = E.straight_through(lambda onehot: (onehot * f_values).sum() ** 2, logits, samples[:2000]).mean(0)
    assert (st - exact_sq).abs().max() > 0.1


def test_exact_return_matches_monte_carlo_and_its_derivative_is_the_reference():
    task = E.LinearControl()
    s0, eps, xi = task.sample_noise(200_000, torch.Generator().manual_seed(3))
    returns, _ = task.returns(torch.tensor(0.6, dtype=torch.float64), s0, eps, xi)
    exact = float(task.exact_return(0.6))
    assert abs(float(returns.mean()) - exact) < 4 * float(returns.std()) / 200_000**0.5
    k = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(task.exact_return(k), k)
    h = 1e-5
    assert float(slope) == pytest.approx(float(task.exact_return(0.6 + h) - task.exact_return(0.6 - h)) / (2 * h), rel=1e-6)


def test_control_task_estimators_agree_and_differ_in_variance():
    task = E.LinearControl()
    g = torch.Generator().manual_seed(0)
    k = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    reference = float(torch.autograd.grad(task.exact_return(k), k)[0])
    pg = E.policy_gradient_samples(task, 0.6, 20_000, g)
    vg = E.value_gradient_samples(task, 0.6, 20_000, g)
    s1 = E.svg1_samples(task, 0.6, 20_000, g)
    for est in (pg, vg, s1):
        assert abs(float(est.mean()) - reference) < 4 * float(est.std()) / 20_000**0.5
    assert float(pg.var()) > 5 * float(vg.var())


def test_policy_gradient_search_finds_the_best_action():
    g = torch.Generator().manual_seed(0)
    history = E.reinforce_gaussian_search(lambda a: -(a - 1.5) ** 2, 0.0, 0.3, 300, 16, 0.05, g)
    assert abs(float(history[-1]) - 1.5) < 0.1
    with pytest.raises(ValueError, match="batch must be an integer >= 2"):
        E.reinforce_gaussian_search(lambda a: a, 0.0, 1.0, 1, 1, 0.1, g)


def test_bad_sigma():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        E.pathwise(lambda x: x, 0.0, -1.0, torch.zeros(3, dtype=torch.float64))


def test_svg0_agrees_with_the_pathwise_svg_inf_reference_and_has_less_variance_than_reinforce():
    from learnopt_course import estimators

    task = estimators.LinearControl()
    for seed, k in ((0, 0.5), (1, 1.0)):
        svg0 = estimators.svg0_samples(task, k, 20000, torch.Generator().manual_seed(seed))
        svg_inf = estimators.value_gradient_samples(task, k, 20000, torch.Generator().manual_seed(100 + seed))
        se = (svg0.var() / svg0.numel() + svg_inf.var() / svg_inf.numel()).sqrt()
        assert abs(float(svg0.mean() - svg_inf.mean())) < 3 * float(se)
        reinforce = estimators.policy_gradient_samples(task, k, 20000, torch.Generator().manual_seed(seed))
        assert svg0.var() < 0.2 * reinforce.var()
