"""Benchmark: the shipped learned optimizers against tuned hand-designed ones (run on demand, not in the tests).

    LEARNOPT_DATA=... python bench/l2l_targets.py

Issue targets (Andrychowicz et al. 2016 settings): on held-out 10-d quadratics at step 100 the learned optimizer's
mean final loss is at most half that of the best-tuned Adam (3 seeds); on the MNIST MLP at step 100 its training
loss is at most that of the best-tuned Adam; meta-training takes under 5 minutes on one thread. Each baseline's
learning rate is chosen from the same grid (``l2l.LR_GRID``) on a separate tuning problem, then all are scored on the
same test seeds; MNIST runs are scored by the loss on the whole training split at step 100 (``Problem.objective``).
"""

from __future__ import annotations

import torch

from learnopt_course import l2l
from learnopt_course.reproduce import RECIPES, problem_factory


TARGETS = {"l2l-quadratic": 0.5, "l2l-mnist": 1.0}  # learned / tuned Adam at step 100, at most


def main() -> None:
    torch.set_num_threads(1)
    for name, recipe in RECIPES.items():
        net, info = l2l.shipped(name)
        steps = recipe.train.steps
        rows = l2l.compare(problem_factory(recipe), net, steps)
        what = "mean loss of the 128 quadratics" if recipe.problem == "quadratic" else "loss on the training split"
        print(f"\n{name}: meta-trained in {info['seconds']} s ({info['runs']} runs); {what} at step {steps}, "
              f"test seeds {l2l.TEST_SEEDS}")
        for label, row in rows.items():
            lr = "" if row.lr is None else f" (lr {row.lr:.3g})"
            print(f"  {label + lr:22s} {row.mean:.4f} +- {row.std:.4f}   {[round(x, 4) for x in row.scores]}")
        ratio = rows["learned LSTM"].mean / rows["Adam"].mean
        seconds = f"meta-training {info['seconds']} s (target < 300 s: {'met' if info['seconds'] < 300 else 'NOT met'})"
        if name in TARGETS:
            verdict = "met" if ratio <= TARGETS[name] else "NOT met"
            print(f"  learned / tuned Adam = {ratio:.2f} (target <= {TARGETS[name]}: {verdict}); {seconds}")
        else:
            print(f"  learned / tuned Adam = {ratio:.2f} (an ablation of the lesson, no target); {seconds}")


if __name__ == "__main__":
    main()
