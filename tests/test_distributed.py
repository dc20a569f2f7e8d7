"""Data-parallel meta-training on torch.distributed (gloo, CPU): two processes launched by torchrun compute the
meta-gradient one process computes on the union of their tasks, and train to the same meta-parameters; a dead or
silent rank gives a clear error within the timeout; a run killed with SIGKILL resumes to the uninterrupted result."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from learnopt_course.meta import distributed
from learnopt_course.meta.gradients import TruncatedBackprop
from learnopt_course.meta.trainer import train

sys.path.insert(0, str(Path(__file__).parent))
import dist_meta_worker as worker  # noqa: E402

WORKER = str(Path(__file__).parent / "dist_meta_worker.py")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this PyTorch build has no gloo backend")


class Union:
    """The single-process oracle: one objective whose every task is the union of the ranks' tasks, each rank's
    drawn from its own rank-split generator (the meta-loss is the mean over the union)."""

    def __init__(self, objective, generators):
        self.objective, self.generators = objective, generators

    def parameters(self):
        return self.objective.parameters()

    def start(self, generator):
        return [self.objective.start(g) for g in self.generators]

    def unroll(self, phi, workers, length, graph):
        pairs = [self.objective.unroll(phi, w, length, graph) for w in workers]
        return torch.cat([loss.reshape(-1) for loss, _ in pairs]), [w for _, w in pairs]


def _split(n):
    base = torch.Generator().manual_seed(worker.SEED)
    return [distributed.rank_generator(base, r, n) for r in range(n)]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1]), **extra}


def _torchrun(mode, out, n=2, **extra):
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                             WORKER, mode, str(out)], env=_env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc, timeout=120):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]


def test_rank_generators_split_the_stream_and_are_the_identity_alone():
    base = torch.Generator().manual_seed(5)
    assert distributed.rank_generator(base, 0, 1) is base
    a, b = (distributed.rank_generator(torch.Generator().manual_seed(5), r, 2) for r in (0, 1))
    again = distributed.rank_generator(torch.Generator().manual_seed(5), 1, 2)
    draws = [torch.randn(4, generator=g) for g in (a, b, again)]
    assert not torch.equal(draws[0], draws[1]) and torch.equal(draws[1], draws[2])
    with pytest.raises(ValueError, match="rank must be in"):
        distributed.rank_generator(base, 2, 2)
    assert distributed.world() == (0, 1) and distributed.is_main() and not distributed.active()


def test_two_gloo_processes_give_the_meta_gradient_of_one_process_on_the_union(tmp_path):
    _finish(_torchrun("gradient", tmp_path / "g.pt"))
    got = torch.load(tmp_path / "g.pt")
    net, objective = worker.objective()
    union = Union(objective, _split(2))
    phi = union.parameters()
    estimator = TruncatedBackprop()
    value, grads, _ = estimator.estimate(union, phi, estimator.init(union, None), 3, None)
    assert abs(float(got["value"]) - float(value)) < 1e-6
    worst = max(float((got["grads"][k] - grads[k]).abs().max()) for k in phi)
    scale = max(float(g.abs().max()) for g in grads.values())
    assert worst < 1e-6 and scale > 1e-3, (worst, scale)  # a real gradient, equal to 1e-6
    # ... and it is not what one rank alone would give: the all-reduce mattered
    alone = Union(objective, _split(2)[:1])
    _, one, _ = estimator.estimate(alone, phi, estimator.init(alone, None), 3, None)
    assert max(float((got["grads"][k] - one[k]).abs().max()) for k in phi) > 1e-4


def test_two_gloo_processes_train_like_one_process_on_the_union(tmp_path):
    _finish(_torchrun("train", tmp_path / "t.pt"))
    got = torch.load(tmp_path / "t.pt")
    net, objective = worker.objective()
    union = Union(objective, _split(2))
    history = train(union, worker.CONFIG, torch.Generator(), validate=lambda u: worker.validation(objective),
                    progress_desc=None)
    phi = union.parameters()
    assert max(float((got["phi"][k] - phi[k].detach()).abs().max()) for k in phi) < 1e-6
    assert got["history"] == pytest.approx(list(history), abs=1e-6)
    assert len(got["validation"]) == 3 and got["validation"] == pytest.approx(history.validation, abs=1e-6)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["die", "stall"])
def test_a_rank_that_dies_or_stalls_gives_a_clear_error_within_the_timeout(tmp_path, mode):
    port, timeout = _free_port(), 5
    procs = [subprocess.Popen([sys.executable, WORKER, mode, str(tmp_path / f"r{r}.json")],
                              env=_env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=str(port), LEARNOPT_DIST_TIMEOUT=str(timeout)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    start = time.monotonic()
    try:
        procs[0].communicate(timeout=90)
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert procs[0].returncode == 5
    report = json.loads((tmp_path / "r0.json").read_text())
    assert report["rank"] == 0 and "rank 0 of 2" in report["error"] and "another rank died" in report["error"]
    assert elapsed < 60, elapsed  # the timeout (5 s) and the start-up, not a hang


def _descendants(pid):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finding torchrun's workers needs /proc (Linux)")
@pytest.mark.parametrize("nproc", [1, 2])
def test_a_meta_training_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path, nproc):
    _finish(_torchrun("train", tmp_path / "whole.pt", nproc))
    checkpoint = tmp_path / "state.pt"
    proc = _torchrun("train", tmp_path / "never.pt", nproc, CHECKPOINT=str(checkpoint), SLOW="1.0")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once at least one run is on disk, mid-training
        if checkpoint.is_file() and torch.load(checkpoint, weights_only=False)["run"] >= 1:
            break
        time.sleep(0.1)
    for pid in [proc.pid, *_descendants(proc.pid)]:  # torchrun and its workers (in sessions of their own)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()
    saved = torch.load(checkpoint, weights_only=False)
    assert 1 <= saved["run"] < worker.CONFIG.runs and saved["world_size"] == nproc
    assert not (tmp_path / "never.pt").exists()
    _finish(_torchrun("train", tmp_path / "resumed.pt", nproc, CHECKPOINT=str(checkpoint)))
    whole, resumed = torch.load(tmp_path / "whole.pt"), torch.load(tmp_path / "resumed.pt")
    assert all(torch.equal(whole["phi"][k], resumed["phi"][k]) for k in whole["phi"])
    assert whole["history"] == resumed["history"] and whole["validation"] == resumed["validation"]
    if nproc == 2:  # a checkpoint of 2 processes refuses to resume on 1
        with pytest.raises(ValueError, match="written by 2 process"):
            _, objective = worker.objective()
            train(objective, worker.CONFIG, torch.Generator(), validate=worker.validation, checkpoint=checkpoint,
                  progress_desc=None)


def test_learnopt_reproduce_nproc_trains_on_two_processes_and_rank_0_alone_writes(tmp_path):
    out = tmp_path / "q.pt"
    done = subprocess.run([sys.executable, "-m", "learnopt_course.tools.cli", "reproduce", "l2l-quadratic", "--quick",
                           "--nproc", "2", "--out", str(out), "--resume"], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and "on 2 processes" in done.stdout
    from learnopt_course import l2l

    net, info = l2l.load_checkpoint(out, l2l.sha256(out))
    assert info["processes"] == 2 and info["runs"] == 4 and info["meta_loss_last"] < info["meta_loss_first"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.pt"]  # the training state went with success


@pytest.mark.parametrize("args, message", [
    (["gps-mnist48", "--nproc", "2", "--out", "x.pt"], "trained on one process"),
    (["alphaopt-omniglot", "--resume"], "trained on one process"),
    (["l2l-quadratic", "--nproc", "2"], "needs out"),
    (["l2l-quadratic", "--nproc", "0", "--out", "x.pt"], "nproc must be a positive"),
])
def test_learnopt_reproduce_refuses_scale_up_options_it_cannot_honour(args, message):
    from learnopt_course.tools.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["reproduce", *args])
    assert code == 2 and message in err.getvalue()
