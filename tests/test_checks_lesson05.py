"""Lesson 05 checkers accept the references and reject known-wrong variants (product form, in-place, off-by-one)."""

import torch

from learnopt_course import l2l
from learnopt_course.checks import lesson05
from learnopt_course.checks.lesson05 import _data_assign, _inplace, _ls_wrong, _reference_slice, _slice_wrong

from checker_harness import make_checker_tests

CHECKERS = {
    "5.1": (
        lesson05.log_sign_preprocess,
        l2l.preprocess_log_sign,
        {
            "one channel": (lambda grad, p: l2l.preprocess_thesis(grad, p), "not their product"),
            "log everywhere": (lambda grad, p: _ls_wrong(grad, p, "always_log"), "huge negative"),
            "sign for tiny gradients": (lambda grad, p: _ls_wrong(grad, p, "sign_small"), "for tiny gradients the second channel is the"),
        },
    ),
    "5.2": (
        lesson05.apply_updates,
        lambda params, updates: {k: params[k] + updates[k] for k in params},
        {
            "in-place under no_grad": (_inplace, "do not flow"),
            "assigning .data": (_data_assign, "no autograd history"),
            "detached": (lambda params, updates: {k: (params[k] + updates[k]).detach() for k in params}, "no autograd history"),
        },
    ),
    "5.3": (
        lesson05.slice_meta_loss,
        _reference_slice,
        {
            "includes the start": (lambda **kw: _slice_wrong(kind="include_start", **kw), "does not depend on the optimizer"),
            "one step short": (lambda **kw: _slice_wrong(kind="short", **kw), "one update short"),
            "detached": (lambda **kw: _reference_slice(**kw).detach(), "no autograd history"),
        },
    ),
}

test_accepts, test_rejects, test_stub_passes_through = make_checker_tests(CHECKERS)
