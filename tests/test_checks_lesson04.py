"""Lesson 04 checkers accept the references and reject known-wrong variants."""

from learnopt_course import estimators
from learnopt_course.checks import lesson04
from learnopt_course.checks.lesson04 import _pw, _sf

from checker_harness import make_checker_tests

CHECKERS = {
    "4.1": (
        lesson04.score_function_estimate,
        lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps),
        {
            "missing 1/sigma": (lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "no_sigma"), "a factor of sigma is missing: write the score"),
            "x instead of eps": (lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "x_not_eps"), "the score measures the sample's distance from"),
            "sign": (lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps, "sign"), "the sign is flipped: the estimator multiplies"),
            "averaged instead of per sample": (lambda f, mu, sigma, eps: _sf(f, mu, sigma, eps).mean(), "one estimate per sample"),
        },
    ),
    "4.2": (
        lesson04.pathwise_estimate,
        estimators.pathwise,
        {
            "missing eps": (lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "no_eps"), "the sigma column needs the chain rule through"),
            "x instead of eps": (lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "x"), "the derivative of the reparameterised sample"),
            "mean instead of sum": (lambda f, mu, sigma, eps: _pw(f, mu, sigma, eps, "mean"), "one estimate per sample"),
        },
    ),
    "4.3": (
        lesson04.leave_one_out_baseline,
        estimators.leave_one_out_baseline,
        {
            "plain mean": (lambda values: values.mean().expand_as(values), "leave sample i out"),
            "divides by n": (lambda values: (values.sum() - values) / values.shape[0], "you averaged over all n samples, but only the"),
            "detached": (lambda values: estimators.leave_one_out_baseline(values).detach(), "do not flow"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
