"""Lesson 07 checkers accept the references and reject known-wrong variants (masking, signs, min vs max)."""

import torch

from learnopt_course.checks import lesson07
from learnopt_course.checks.lesson07 import _gae_wrong, _surrogate_wrong
from learnopt_course.rl import env as rl_env

from checker_harness import make_checker_tests

CHECKERS = {
    "7.1": (
        lesson07.gae,
        lambda **kw: _gae_wrong(**kw),
        {
            "no done mask": (lambda **kw: _gae_wrong(**kw, mask=False), "an episode that ended at step t must not see"),
            "lambda only": (lambda **kw: _gae_wrong(**kw, decay="l"), "the advantages decay by both discount factors"),
            "returns = advantages": (lambda **kw: _gae_wrong(**kw, plus_values=False), "the second output is the value target, built"),
            "only advantages": (lambda **kw: _gae_wrong(**kw)[0], "generalized advantage estimation as in the te"),
        },
    ),
    "7.2": (
        lesson07.clipped_surrogate,
        lambda **kw: _surrogate_wrong(**kw),
        {
            "max": (lambda **kw: _surrogate_wrong(**kw, reduce=torch.max), "minimum"),
            "objective not loss": (lambda **kw: _surrogate_wrong(**kw, sign=1.0), "negative"),
            "clipped advantage": (lambda **kw: _surrogate_wrong(**kw, clip_adv=True), "not the advantage"),
            "raw log ratio": (lambda **kw: _surrogate_wrong(**kw, raw=True), "the argument is the log of the ratio: turn it"),
            "detached": (lambda **kw: _surrogate_wrong(**{**kw, "log_ratio": kw["log_ratio"].detach()}), "do not flow"),
        },
    ),
    "7.3": (
        lesson07.reward,
        lambda kind, previous_loss, loss, accuracy, done: (previous_loss - loss) if kind == "dense" else
        (0.0 if not done else (accuracy if accuracy is not None else -loss)),
        {
            "sign": (lambda kind, previous_loss, loss, accuracy, done: loss - previous_loss, "the dense reward has the wrong sign: progress"),
            "sparse every step": (lambda kind, previous_loss, loss, accuracy, done:
                                  rl_env.reward(kind, previous_loss, loss, accuracy, True), "the sparse reward must be zero before the epi"),
            "no -loss": (lambda kind, previous_loss, loss, accuracy, done: 0.0 if accuracy is None else
                         rl_env.reward(kind, previous_loss, loss, accuracy, done), "without an accuracy (a quadratic) the sparse"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
