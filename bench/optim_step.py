"""Benchmark: time per step of the functional optimizers against torch.optim (run on demand, not in the tests).

    python bench/optim_step.py [--params 100000] [--steps 300]

Prints, for each optimizer, microseconds per step for ours and for torch.optim, and the ratio ours / torch
(lower is better; the functional versions allocate new tensors each step so that autograd can see them).
"""

from __future__ import annotations

import argparse
import time

import torch

from learnopt_course import optimizers as optim

PAIRS = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.01), {"lr": 0.01}),
    "heavy_ball": (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), {"lr": 0.01, "momentum": 0.9}),
    "nesterov": (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True), {"lr": 0.01, "momentum": 0.9}),
    "rmsprop": (lambda p: torch.optim.RMSprop(p, lr=0.01), {"lr": 0.01}),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01), {"lr": 0.01}),
}


def _time(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    shapes = {"w1": (args.params // 2,), "w2": (args.params - args.params // 2,)}
    print(f"{'optimizer':10s} {'ours (us)':>10s} {'torch (us)':>11s} {'ratio':>7s}   ({args.params} parameters)")
    for name, (make_torch, hp) in PAIRS.items():
        params = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
        grads = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
        opt = optim.get(name)
        box = {"p": params, "s": opt.init(params)}

        def ours() -> None:
            box["p"], box["s"] = opt.step(box["p"], grads, box["s"], hp)

        tensors = [torch.nn.Parameter(v.clone()) for v in params.values()]
        for t, v in zip(tensors, grads.values()):
            t.grad = v.clone()
        reference = make_torch(tensors)
        ours_us, torch_us = _time(ours, args.steps), _time(reference.step, args.steps)
        print(f"{name:10s} {ours_us:10.1f} {torch_us:11.1f} {ours_us / torch_us:7.2f}")


if __name__ == "__main__":
    main()
