"""Benchmark: the shipped learned optimizers against tuned hand-designed ones (run on demand, not in the tests).

    LEARNOPT_DATA=... python bench/l2l_targets.py

Issue targets (Andrychowicz et al. 2016 settings): on held-out 10-d quadratics at step 100 the learned optimizer's
mean final loss is at most half that of the best-tuned Adam (3 seeds); on the MNIST MLP at step 100 its training
loss is at most that of the best-tuned Adam; meta-training takes under 5 minutes on one thread. Each baseline's
learning rate is chosen from the same grid on a separate tuning problem, then all are scored on the same test seeds.
"""

from __future__ import annotations

import statistics

import torch

from learnopt_course import l2l
from learnopt_course.reproduce import RECIPES, problem_factory

GRID = [10 ** (k / 4) for k in range(-12, 3)]  # 1e-3 .. ~3.2
BASELINES = {"sgd": None, "heavy_ball": 0.9, "rmsprop": None, "adam": None}


def main() -> None:
    torch.set_num_threads(1)
    for name, recipe in RECIPES.items():
        net, info = l2l.shipped(name)
        sample = problem_factory(recipe)
        steps = recipe.train.steps
        seeds = [1001, 1002, 1003]
        learned = [float(l2l.run_learned(net, sample(torch.Generator().manual_seed(s)), steps)[-1]) for s in seeds]
        print(f"\n{name}: meta-trained in {info['seconds']} s ({info['runs']} runs); loss at step {steps}, 3 test seeds")
        print(f"  {'learned (LSTM)':22s} {statistics.mean(learned):.4f} +- {statistics.stdev(learned):.4f}")
        best = {}
        for opt, momentum in BASELINES.items():
            lr = l2l.tune_baseline(sample, steps, opt, GRID, tuning_seed=7, momentum=momentum)
            scores = [l2l.final_loss(sample(torch.Generator().manual_seed(s)), steps, opt, lr, momentum) for s in seeds]
            best[opt] = statistics.mean(scores)
            print(f"  {opt + f' (lr {lr:.3g})':22s} {best[opt]:.4f} +- {statistics.stdev(scores):.4f}")
        ratio = statistics.mean(learned) / best["adam"]
        target = 0.5 if recipe.problem == "quadratic" else 1.0
        verdict = "met" if ratio <= target else "NOT met"
        print(f"  learned / tuned Adam = {ratio:.2f} (target <= {target}: {verdict}); "
              f"meta-training {info['seconds']} s (target < 300 s: {'met' if info['seconds'] < 300 else 'NOT met'})")


if __name__ == "__main__":
    main()
