"""Regression tests for the library review's bugs (issue 13, item 5); each failed before its fix."""

import dataclasses
import hashlib
import math
import warnings

import pytest
import torch

from learnopt_course import l2l
from learnopt_course.meta import ift
from learnopt_course import optimizers as optim
from learnopt_course.meta import unroll
from learnopt_course.reproduce import reproduce
from learnopt_course.rl import LRControlEnv


def _hashes():
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(l2l.CHECKPOINT_DIR.iterdir())}


def test_quick_reproduction_without_out_never_touches_the_shipped_files():
    before = _hashes()
    report = reproduce("l2l-quadratic", quick=True)
    assert _hashes() == before
    assert l2l.CHECKPOINT_DIR not in __import__("pathlib").Path(report["path"]).parents
    l2l.shipped("l2l-quadratic")  # still loads: its sha256 matches the manifest


def test_learned_optimizer_leaves_the_callers_network_trainable():
    net = l2l.CoordinateLSTM()
    p = torch.nn.Parameter(torch.ones(3))
    l2l.LearnedOptimizer([p], net)
    assert all(q.requires_grad for q in net.parameters()) and net.training
    frozen = l2l.CoordinateLSTM().requires_grad_(False)
    with pytest.raises(ValueError, match="no meta-parameter that requires grad"):
        l2l.meta_train(frozen, lambda g: l2l.quadratic_problem(g, 2, 2), l2l.MetaTrainConfig(steps=2, unroll=2, runs=1),
                       torch.Generator().manual_seed(0))


def test_minimize_without_graph_keeps_no_graph_in_the_optimizer_state():
    seen = []
    spy = dataclasses.replace(optim.heavy_ball, rule=optim.heavy_ball.rule)
    original_step = spy.step

    def step(params, grads, state, hp):
        seen.append(state)
        return original_step(params, grads, state, hp)

    object.__setattr__(spy, "step", step)
    loss = lambda w: (w**2).sum()
    optim.minimize(loss, torch.ones(4), spy, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}, steps=5)
    assert len(seen) == 5
    assert all(v.grad_fn is None for state in seen for slots in state["slots"].values() for v in slots.values())


def test_unrolled_mean_meta_loss_evaluates_each_inner_loss_once():
    calls = []

    def inner(w, t):
        calls.append(t)
        return (w**2).sum()

    lr = torch.tensor(0.1, requires_grad=True)
    value = unroll.unrolled_loss(inner, torch.ones(3), "sgd", {"lr": lr}, 5, meta="mean")
    assert calls == [0, 1, 2, 3, 4]
    w, expected = torch.ones(3), []
    for _ in range(5):
        expected.append(float((w**2).sum()))
        w = w - 0.1 * 2 * w
    assert float(value) == pytest.approx(sum(expected) / 5)
    assert torch.autograd.grad(value, lr)[0] < 0


def test_meta_training_skips_non_finite_updates_and_says_so():
    def exploding(g):
        problem = l2l.quadratic_problem(g, 2, 3)
        return l2l.Problem(problem.theta0, lambda theta, t: problem.loss(theta, t) * (math.inf if t >= 2 else 1.0))

    torch.manual_seed(0)
    net = l2l.CoordinateLSTM()
    with pytest.warns(RuntimeWarning, match="skipped 2 non-finite meta-updates"):
        history = l2l.meta_train(net, exploding, l2l.MetaTrainConfig(steps=4, unroll=4, runs=2),
                                 torch.Generator().manual_seed(0))
    assert history == [math.inf, math.inf]
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_conjugate_gradient_warns_when_it_cannot_take_a_single_step():
    negative = lambda v: -v
    with pytest.warns(RuntimeWarning, match="conjugate_gradient stopped at step 0"):
        x = ift.conjugate_gradient(negative, torch.ones(3), 5)
    assert torch.equal(x, torch.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = ift.conjugate_gradient(lambda v: 2 * v, torch.ones(3), 5)  # positive definite: silent and solved
    assert torch.allclose(x, torch.full((3,), 0.5))


def test_env_refuses_a_step_after_the_episode_and_tracks_the_cosine_across_chunks():
    env = LRControlEnv("quadratic", episode_length=3, inner_steps=1)
    env.reset(seed=0)
    env.step(env.action_for(0.01))
    assert env.grad_cos == 0.0  # one gradient so far: nothing to compare with
    env.step(env.action_for(0.01))
    assert env.grad_cos != 0.0 and -1.0 <= env.grad_cos <= 1.0
    *_, done, _, _ = env.step(env.action_for(0.01))
    assert done
    with pytest.raises(RuntimeError, match="the episode has ended"):
        env.step(env.action_for(0.01))
    env.reset(seed=1)
    env.step(env.action_for(0.01))  # a new episode starts afresh
    assert env.grad_cos == 0.0


def test_atomic_path_leaves_the_target_untouched_and_nothing_behind_on_error(tmp_path):
    from learnopt_course.core import atomic_path, atomic_write_text

    target = tmp_path / "data.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]
    atomic_write_text(target, "second")
    assert target.read_text() == "second" and (target.stat().st_mode & 0o777) == 0o644


def test_parallel_manifest_updates_all_land(tmp_path):
    import json
    import threading

    from learnopt_course.reproduce import _record

    manifest = tmp_path / "manifest.json"
    threads = [threading.Thread(target=_record, args=(f"net{i}", f"net{i}.pt", "0" * 64, {}, manifest)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(json.loads(manifest.read_text())) == sorted(f"net{i}" for i in range(16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "manifest.json.lock"]


def test_an_unwritable_omniglot_cache_warns_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from learnopt_course.data import omniglot

    images = torch.zeros(2, 1, 4, 4)
    monkeypatch.setattr(omniglot, "_decode", lambda listing, size: images)
    monkeypatch.setattr(omniglot, "_fingerprint", lambda listing, size: "x")

    def failing_save(obj, path):
        open(path, "wb").write(b"partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data")

    monkeypatch.setattr(omniglot.torch, "save", failing_save)
    with pytest.warns(RuntimeWarning, match="could not write the Omniglot cache"):
        out = omniglot._cached_decode([], 4, "background", tmp_path)
    assert out is images and list(tmp_path.iterdir()) == []
    (tmp_path / "omniglot_background_4_x.pt").write_bytes(b"not a tensor file")
    monkeypatch.undo()
    monkeypatch.setattr(omniglot, "_decode", lambda listing, size: images)
    monkeypatch.setattr(omniglot, "_fingerprint", lambda listing, size: "x")
    with pytest.warns(RuntimeWarning, match="ignoring the damaged Omniglot cache"):
        assert torch.equal(omniglot._cached_decode([], 4, "background", tmp_path), images)


# --- checkers and PPO leave the global generator alone ---------------------------------------------------------


def test_ppo_and_a_checker_neither_reseed_nor_consume_the_global_generator():
    from learnopt_course.checks import lesson05
    from learnopt_course.rl import PPO, PPOConfig
    from learnopt_course.rl.env import LRControlEnv

    torch.manual_seed(1234)
    before = torch.get_rng_state()

    def make():
        return LRControlEnv("quadratic", episode_length=3, inner_steps=2)

    agent = PPO(make, PPOConfig(n_steps=6, batch_size=3, epochs=1, seed=0))
    agent.learn(6)
    agent.predict(agent.obs[0], deterministic=False)
    lesson05.slice_meta_loss(lambda net, problem, theta, state, T: l2l.unroll_slice(net, problem, theta, state, 0,
                                                                                      T)[0])
    assert torch.equal(torch.get_rng_state(), before)
    # the agent's stream is its own: the same seed gives the same run whatever the caller draws in between
    torch.randn(100)
    again = PPO(make, PPOConfig(n_steps=6, batch_size=3, epochs=1, seed=0))
    again.learn(6)
    assert all(torch.equal(a, b) for a, b in zip(agent.net.parameters(), again.net.parameters()))
