"""A worker for tests/test_distributed.py, launched by ``torchrun`` (or directly with RANK/WORLD_SIZE set).

``python dist_meta_worker.py MODE OUT``: ``gradient`` saves the rank-averaged meta-gradient of one window,
``train`` the meta-parameters and history after a short data-parallel meta-training (``CHECKPOINT`` env: resumable,
``SLOW`` env: seconds to sleep after each run), ``die`` makes rank 1 exit at once while rank 0 trains, ``stall`` makes
it sleep without exiting.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from learnopt_course import l2l
from learnopt_course import optimizers as optim
from learnopt_course.meta import distributed
from learnopt_course.meta.gradients import TruncatedBackprop
from learnopt_course.meta.objectives import LearnedOptimizerObjective
from learnopt_course.meta.trainer import TrainConfig, train
from learnopt_course.tasks import QuadraticBatch

SEED = 7
CONFIG = TrainConfig(runs=4, steps=6, unroll=3, meta_lr=1e-2, schedule="cosine", validate_every=2)


def objective() -> tuple[torch.nn.Module, LearnedOptimizerObjective]:
    torch.manual_seed(0)
    net = optim.CoordinateLSTM(output_scale=0.01).double()
    return net, LearnedOptimizerObjective(net, problem)


def problem(generator: torch.Generator) -> l2l.Problem:
    """Two random 3-d quadratics in float64 (the comparisons are to 1e-6)."""
    q = QuadraticBatch.sample(2, 3, generator, torch.float64)
    theta0 = q.init(generator).reshape(-1)
    return l2l.Problem(theta0, lambda theta, t: q.loss(theta.view(2, 3)).mean())


def validation(obj: LearnedOptimizerObjective) -> float:
    with torch.no_grad():
        held_out = LearnedOptimizerObjective(obj.net, problem)
        worker = held_out.start(torch.Generator().manual_seed(3001))
        return float(held_out.unroll(obj.parameters(), worker, 6, graph=False)[0].mean())


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    rank, size = distributed.init()
    if mode == "die" and rank == 1:
        os._exit(3)
    if mode == "stall" and rank == 1:
        time.sleep(120)  # alive but silent: the others must give up after the timeout
        os._exit(0)
    net, obj = objective()
    if mode == "gradient":
        g = distributed.rank_generator(torch.Generator().manual_seed(SEED))
        phi = obj.parameters()
        value, grads, _ = TruncatedBackprop().estimate(obj, phi, TruncatedBackprop().init(obj, g), 3, g)
        value, grads = distributed.average(value, [grads[k] for k in phi], list(phi.values()))
        if rank == 0:
            torch.save({"value": value, "grads": dict(zip(phi, grads))}, out)
    else:
        slow = float(os.environ.get("SLOW", "0"))
        try:
            history = train(obj, CONFIG, torch.Generator().manual_seed(SEED), validate=validation,
                            callback=lambda run, v: time.sleep(slow), checkpoint=os.environ.get("CHECKPOINT"),
                            progress_desc=None)
        except distributed.RankFailure as err:
            with open(out, "w") as f:
                json.dump({"error": str(err), "rank": rank}, f)
            raise SystemExit(5) from None
        if rank == 0:
            torch.save({"phi": {k: v.detach() for k, v in obj.parameters().items()}, "history": list(history),
                        "validation": history.validation}, out)
    distributed.shutdown()


if __name__ == "__main__":
    main()
