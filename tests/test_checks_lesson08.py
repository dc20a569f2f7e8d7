"""Lesson 08 checkers accept the references and reject known-wrong variants: the printed noise sign, a missing
stop-gradient, the mean alone; the printed target index, an off-by-one target, a mean over coordinates; v_T summed,
chained instead of teacher-forced."""

from learnopt_course.checks import lesson08
from learnopt_course.checks.lesson08 import _imitation_wrong, _reference_imitation, _svg_wrong

from checker_harness import make_checker_tests

CHECKERS = {
    "8.1": (
        lesson08.reparameterized_next,
        lambda mu, s_next, sigma: mu - mu.detach() + s_next,  # the same thing, written as "value of s', slope of mu"
        {
            "printed sign": (lambda mu, s_next, sigma: mu + sigma * ((mu - s_next) / sigma).detach(), "the sign of the inferred noise"),
            "no stop-gradient": (lambda mu, s_next, sigma: mu + sigma * ((s_next - mu) / sigma), "stop its gradient"),
            "mean only": (lambda mu, s_next, sigma: mu * 1.0, "add the inferred noise"),
        },
    ),
    "8.2": (
        lesson08.imitation_loss,
        _reference_imitation,
        {
            "printed superscript": (lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, target="next_run"), "misprint"),
            "same step": (lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, target="same"), "one step later"),
            "mean over coordinates": (lambda model, states, log_lr: _imitation_wrong(model, states, log_lr, reduce="mean"), "sums over the coordinates"),
        },
    ),
    "8.3": (
        lesson08.svg_teacher_forced,
        lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss),
        {
            "printed sign": (lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, sign=-1.0), "as Alg. 5 prints it"),
            "no stop-gradient": (lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, stop=False), "stop-gradient"),
            "sum of v_t": (lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, total=True), "not the sum"),
            "chained": (lambda model, log_lr, states, task_loss: _svg_wrong(model, log_lr, states, task_loss, chained=True), "teacher-forced"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
