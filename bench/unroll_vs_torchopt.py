"""Benchmark: the unroll engine's reverse-mode meta-gradient against torchopt and against plain training.

    pip install -c constraints.txt -e ".[crosscheck]"     # torchopt (optional)
    python bench/unroll_vs_torchopt.py [--steps 50] [--repeats 7]

The work measured: T = 50 unrolled Adam steps (lr 1e-3) on the MNIST MLP 784-20-10 (sigmoid, batch 128, minibatch t
fixed in advance), then the gradient of the final minibatch loss with respect to the initial weights (the
meta-gradient MAML-style methods need), by

* ``ours``: :func:`learnopt_course.meta.engine.unroll` with ``graph=True`` and ``torch.autograd.grad``;
* ``torchopt``: torchopt's functional differentiable Adam (``torchopt.adam`` + ``apply_updates``, not in place);
* ``plain``: T ordinary training steps with ``torch.optim.Adam`` (no meta-gradient: the floor; reverse mode costs
  about 3x that in theory).

Repetitions are interleaved (every repetition runs every contender, in rotating order) so that a shared machine's
drift hits all alike; medians are reported, with the ratios. Both meta-gradients are checked to agree first.
Targets (issue 13): ours / torchopt <= 1.0 and ours / plain <= 3.2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from learnopt_course.core import trees  # noqa: E402
from learnopt_course.meta.engine import unroll  # noqa: E402
from learnopt_course.tasks import mnist_task  # noqa: E402
from learnopt_course.tasks.base import FunctionTask  # noqa: E402


def setup(steps: int):
    task = mnist_task("mlp", (20,), n_val=1000)
    sampled = task.sample(torch.Generator().manual_seed(0), steps)
    w0 = sampled.init_params()
    batches = [sampled.batch(t) for t in range(steps + 1)]
    return task, sampled, w0, batches


def ours(task, batches, w0, steps):
    leaves = trees.fresh_leaves(w0)
    inner = FunctionTask(lambda params, t: task.loss(params, batches[t]))  # the same minibatches as the others
    run = unroll(inner, "adam", leaves, steps, hp={"lr": 1e-3}, graph=True, meta="final")
    return torch.autograd.grad(run.meta_loss, trees.leaves(leaves))


def theirs(task, batches, w0, steps):
    import torchopt

    names = list(w0)
    leaves = tuple(v.detach().requires_grad_(True) for v in w0.values())
    opt = torchopt.adam(lr=1e-3)
    params, state = leaves, opt.init(leaves)
    for t in range(steps):
        loss = task.loss(dict(zip(names, params)), batches[t])
        grads = torch.autograd.grad(loss, params, create_graph=True)
        updates, state = opt.update(grads, state, inplace=False)
        params = torchopt.apply_updates(params, updates, inplace=False)
    final = task.loss(dict(zip(names, params)), batches[steps])
    return torch.autograd.grad(final, leaves)


def plain(task, batches, w0, steps):
    params = [torch.nn.Parameter(v.detach().clone()) for v in w0.values()]
    names = list(w0)
    opt = torch.optim.Adam(params, lr=1e-3)
    for t in range(steps):
        opt.zero_grad()
        task.loss(dict(zip(names, params)), batches[t]).backward()
        opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task, sampled, w0, batches = setup(args.steps)
    contenders = {"ours": lambda: ours(task, batches, w0, args.steps),
                  "plain": lambda: plain(task, batches, w0, args.steps)}
    try:
        import torchopt  # noqa: F401

        contenders["torchopt"] = lambda: theirs(task, batches, w0, args.steps)
        a, b = contenders["ours"](), contenders["torchopt"]()
        err = max(float((x - y).abs().max() / y.abs().max().clamp_min(1e-30)) for x, y in zip(a, b))
        print(f"meta-gradients agree: max relative difference {err:.1e}")
        if err > 1e-3:
            raise SystemExit("the two meta-gradients differ: the comparison would be meaningless")
    except ImportError:
        print("torchopt is not installed: only ours and plain are timed (pip install -e '.[crosscheck]')")
    times: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for name in names:  # warm-up
        contenders[name]()
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"T = {args.steps} Adam steps, MNIST MLP 784-20-10, batch 128, {args.repeats} interleaved repetitions")
    for k, v in med.items():
        print(f"  {k:9s} median {v * 1e3:8.1f} ms  (min {min(times[k]) * 1e3:.1f}, max {max(times[k]) * 1e3:.1f})")
    if "torchopt" in med:
        print(f"ours / torchopt = {med['ours'] / med['torchopt']:.2f}   (target <= 1.0)")
    print(f"ours / plain    = {med['ours'] / med['plain']:.2f}   (target <= 3.2)")


if __name__ == "__main__":
    main()
