"""Cross-check ``learnopt_course.hpo.search.gp_ei_search`` against the ``bayesian-optimization`` package (``bayes_opt``,
the library Crouther 2023 used, sec. 4.3.3), on the same objectives and the same budget: the best value found after
``init + iterations`` evaluations, mean and spread over seeds, and the ratio of the two searches' regrets. Seeds of
the two searches are interleaved so that the machine's load hits both alike. Needs the ``crosscheck`` extra.

    python bench/bo_crosscheck.py [--seeds 5] [--init 5] [--iterations 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from learnopt_course.hpo import search

# (name, objective on named parameters, space, true minimum): a 1-D log-learning-rate bowl with ripples like a
# noisy accuracy curve, the 1-D toy outer loss of lessons 01-02, and the 2-D Branin function (minimum 0.397887)
OBJECTIVES = {
    "log-lr bowl with ripples": (
        lambda p: (math.log10(p["lr"]) + 2.2) ** 2 + 0.05 * math.sin(20 * math.log10(p["lr"])),
        {"lr": (1e-5, 1e-1, "log")}, None),
    "Branin (2-D)": (
        lambda p: (p["y"] - 5.1 / (4 * math.pi**2) * p["x"] ** 2 + 5 / math.pi * p["x"] - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(p["x"]) + 10,
        {"x": (-5.0, 10.0), "y": (0.0, 15.0)}, 0.397887),
}


def with_bayes_opt(objective, space, init: int, iterations: int, seed: int) -> float:  # noqa: ANN001
    from bayes_opt import BayesianOptimization

    logs = {k: len(v) == 3 and v[2] == "log" for k, v in space.items()}
    bounds = {k: ((math.log(v[0]), math.log(v[1])) if logs[k] else (v[0], v[1])) for k, v in space.items()}
    f = lambda **kw: -objective({k: math.exp(x) if logs[k] else x for k, x in kw.items()})  # noqa: E731
    bo = BayesianOptimization(f=f, pbounds=bounds, random_state=seed, verbose=0)
    bo.maximize(init_points=init, n_iter=iterations)
    return -bo.max["target"]


def with_ours(objective, space, init: int, iterations: int, seed: int) -> float:  # noqa: ANN001
    return search.gp_ei_search(objective, space, init, iterations, torch.Generator().manual_seed(seed)).best_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--init", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, (objective, space, minimum) in OBJECTIVES.items():
        if minimum is None:  # a dense grid gives the reference minimum
            lo, hi = math.log(space["lr"][0]), math.log(space["lr"][1])
            minimum = min(objective({"lr": math.exp(lo + (hi - lo) * i / 200000)}) for i in range(200001))
        found = {"ours (gp_ei_search)": [], "bayes_opt": []}
        seconds = {k: 0.0 for k in found}
        for seed in range(args.seeds):  # interleaved
            for label, run in (("ours (gp_ei_search)", with_ours), ("bayes_opt", with_bayes_opt)):
                start = time.perf_counter()
                found[label].append(run(objective, space, args.init, args.iterations, seed))
                seconds[label] += time.perf_counter() - start
        print(f"{name}: best value after {args.init + args.iterations} evaluations, {args.seeds} seeds "
              f"(minimum {minimum:.6f})")
        for label, values in found.items():
            regret = [v - minimum for v in values]
            print(f"  {label:>20}: regret {statistics.mean(regret):.2e} +- {statistics.pstdev(regret):.1e}, "
                  f"{seconds[label] / args.seeds:.2f} s per search")
        ours, theirs = (statistics.mean(v) - minimum for v in found.values())
        print(f"  regret ratio ours / bayes_opt: {ours / max(theirs, 1e-12):.2f}")


if __name__ == "__main__":
    main()
