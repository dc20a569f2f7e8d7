"""Benchmark: time per step of the functional optimizers against torch.optim (run on demand, not in the tests).

    python bench/optim_step.py [--params 100000] [--steps 300]

Prints, for each optimizer, the median microseconds per step for ours and for torch.optim, and the ratio ours / torch
(lower is better; the functional versions allocate new tensors each step so that autograd can see them). Blocks of
``--steps`` steps of every contender are interleaved ``--repeats`` times in rotating order, so that a shared
machine's drift hits all alike. Target (issue 13): every ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from learnopt_course import optimizers as optim

PAIRS = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.01), {"lr": 0.01}),
    "heavy_ball": (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), {"lr": 0.01, "momentum": 0.9}),
    "nesterov": (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True), {"lr": 0.01, "momentum": 0.9}),
    "rmsprop": (lambda p: torch.optim.RMSprop(p, lr=0.01), {"lr": 0.01}),
    "adagrad": (lambda p: torch.optim.Adagrad(p, lr=0.01), {"lr": 0.01}),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01), {"lr": 0.01}),
}


def _block(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    shapes = {"w1": (args.params // 2,), "w2": (args.params - args.params // 2,)}
    contenders = {}
    for name, (make_torch, hp) in PAIRS.items():
        params = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
        grads = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
        opt = optim.get(name)
        box = {"p": params, "s": opt.init(params)}

        def ours(opt=opt, box=box, grads=grads, hp=hp) -> None:
            box["p"], box["s"] = opt.step(box["p"], grads, box["s"], hp)

        tensors = [torch.nn.Parameter(v.clone()) for v in params.values()]
        for t, v in zip(tensors, grads.values()):
            t.grad = v.clone()
        contenders[(name, "ours")] = ours
        contenders[(name, "torch")] = make_torch(tensors).step
    keys = list(contenders)
    for key in keys:  # warm-up
        _block(contenders[key], 5)
    times = {k: [] for k in keys}
    for r in range(args.repeats):
        for key in keys[r % len(keys):] + keys[: r % len(keys)]:
            times[key].append(_block(contenders[key], args.steps))
    print(f"{'optimizer':10s} {'ours (us)':>10s} {'torch (us)':>11s} {'ratio':>7s}   ({args.params} parameters, "
          f"median of {args.repeats} interleaved blocks of {args.steps} steps)")
    worst = 0.0
    for name in PAIRS:
        o, t = statistics.median(times[(name, "ours")]), statistics.median(times[(name, "torch")])
        worst = max(worst, o / t)
        print(f"{name:10s} {o:10.1f} {t:11.1f} {o / t:7.2f}")
    print(f"worst ratio {worst:.2f}   (target <= 1.3)")


if __name__ == "__main__":
    main()
