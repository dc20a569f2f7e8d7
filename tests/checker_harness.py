"""The shared accept/reject tests every lesson's checkers get: accept the reference, reject each known mistake with
its hint, and let an untouched stub's NotImplementedError through unchanged, with one line saying it is not solved
yet (in a student notebook the check cell is tagged raises-exception, so Run All goes on past it)."""

import pytest


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise N.M: replace this line with your code")


def make_checker_tests(checkers):
    """``checkers``: exercise id -> (checker, reference, {variant name: (wrong function, hint substring)})."""
    wrong = [(exercise, variant) for exercise, (_, _, table) in checkers.items() for variant in sorted(table)]

    @pytest.mark.parametrize("exercise", sorted(checkers))
    def test_checker_accepts_reference(exercise, capsys):
        checker, reference, _ = checkers[exercise]
        checker(reference)
        out = capsys.readouterr().out
        assert f"Exercise {exercise}" in out and "correct on" in out

    @pytest.mark.parametrize("exercise, variant", wrong)
    def test_checker_rejects_known_wrong_variant(exercise, variant, capsys):
        checker, _, table = checkers[exercise]
        fn, hint = table[variant]
        with pytest.raises(AssertionError):
            checker(fn)
        assert hint in capsys.readouterr().out

    @pytest.mark.parametrize("exercise", sorted(checkers))
    def test_untouched_stub_raises_not_implemented_unchanged(exercise, capsys):
        checker, _, _ = checkers[exercise]
        with pytest.raises(NotImplementedError, match="Exercise N.M"):
            checker(_stub)
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and f"Exercise {exercise}" in out and "not solved yet" in out, out

    return test_checker_accepts_reference, test_checker_rejects_known_wrong_variant, test_untouched_stub_raises_not_implemented_unchanged
