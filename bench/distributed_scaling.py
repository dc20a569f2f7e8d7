"""Benchmark: data-parallel meta-training, meta-iterations per second on 1 and N processes (run on demand).

    python bench/distributed_scaling.py [--nproc 2] [--repeats 3] [--runs 6] [--recipe quadratic|mnist]

Each contender is a ``torchrun --standalone`` launch of the real meta-trainer (:func:`learnopt_course.meta.trainer.train`)
on the recipe's tasks (``quadratic``: lesson 05's 10-d quadratics, a batch of 128, 100 steps in windows of 10;
``mnist``: its MNIST MLP, 100 steps in windows of 20), one thread per process, gloo. Rank 0 times the training alone
(after a barrier; start-up and data loading excluded) and reports meta-iterations (meta-updates) per second. Launches of
1 and N processes alternate ``--repeats`` times, so a shared machine's drift hits both alike. Every process meta-trains
on its own tasks, so N processes see N times the tasks per meta-update (weak scaling): the scaling efficiency is
``(updates/s with N) / (updates/s with 1)``, 1.0 being perfect (N times the tasks in the same time); the task
throughput ratio is N times that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(recipe: str, runs: int, out: str) -> None:
    import torch

    from learnopt_course import l2l, reproduce
    from learnopt_course.meta import distributed

    torch.set_num_threads(1)
    distributed.init()
    name = {"quadratic": "l2l-quadratic", "mnist": "l2l-mnist"}[recipe]
    spec = reproduce.RECIPES[name]
    config = l2l.MetaTrainConfig(**{**spec.train.__dict__, "runs": runs, "validate_every": 0})
    sample = reproduce.problem_factory(spec)
    torch.manual_seed(0)
    net = l2l.CoordinateLSTM(spec.lstm)
    distributed.barrier()
    start = time.perf_counter()
    l2l.meta_train(net, sample, config, torch.Generator().manual_seed(0))
    distributed.barrier()
    seconds = time.perf_counter() - start
    updates = runs * -(-config.steps // config.unroll)
    if distributed.is_main():
        Path(out).write_text(json.dumps({"updates": updates, "seconds": seconds, "processes": distributed.world()[1]}))
    distributed.shutdown()


def launch(nproc: int, recipe: str, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "LEARNOPT_QUIET": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                        __file__, "--worker", "--recipe", recipe, "--runs", str(runs), "--out", out],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=6, help="meta-training runs (inner problems) per launch")
    parser.add_argument("--recipe", choices=("quadratic", "mnist"), default="quadratic")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.recipe, args.runs, args.out)
        return
    if args.nproc < 2:
        parser.error(f"--nproc must be at least 2 (compared with 1); got {args.nproc}")
    rates: dict[int, list[float]] = {1: [], args.nproc: []}
    for rep in range(args.repeats):
        order = (1, args.nproc) if rep % 2 == 0 else (args.nproc, 1)
        for n in order:
            result = launch(n, args.recipe, args.runs)
            rates[n].append(result["updates"] / result["seconds"])
    print(f"recipe {args.recipe}, {args.runs} runs per launch, {args.repeats} interleaved repeats, "
          f"{os.cpu_count()} CPUs on this machine")
    print("processes | meta-iterations/s (median, min-max) | tasks per meta-iteration")
    for n, values in rates.items():
        print(f"{n:9d} | {statistics.median(values):8.2f} ({min(values):.2f}-{max(values):.2f})"
              f"{'':17s} | {n}x the recipe's")
    efficiency = statistics.median(rates[args.nproc]) / statistics.median(rates[1])
    print(f"scaling efficiency with {args.nproc} processes (updates/s ratio, weak scaling): {efficiency:.2f}; "
          f"task throughput {args.nproc * efficiency:.2f}x one process")


if __name__ == "__main__":
    main()
