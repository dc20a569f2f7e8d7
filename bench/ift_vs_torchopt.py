"""Benchmark: our implicit hypergradient (``ift``, CG) against torchopt's implicit differentiation, on demand.

    pip install -c constraints.txt -e ".[crosscheck]"     # torchopt (optional)
    python bench/ift_vs_torchopt.py

The problem is lesson 10's per-feature L2 logistic regression (n = 1000, d = 20, the hypertorch example) in float64:
T inner gradient-descent steps from zero, then the hypergradient of the validation loss with K = 10 CG steps. Both
implementations get the same inner solution and the same CG budget; printed per T: milliseconds per hypergradient
(median of repeats, inner steps excluded), the bytes the autograd graph holds for the backward pass, the relative
error to the exact hypergradient at the true optimum, and our/torchopt ratios. Target (issue 6): ours no slower, equal
accuracy, memory flat in T. Without torchopt installed only our numbers are printed.
"""

from __future__ import annotations

import statistics
import time

import torch

from learnopt_course.hpo import bilevel
from learnopt_course.meta import ift
from learnopt_course.meta import unroll

K, REPEATS = 10, 30


def ours(problem: bilevel.Bilevel, w: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    return ift.hypergradient(problem.train_loss, problem.val_loss, w, lam, "cg", iterations=K)


def torchopt_version(problem: bilevel.Bilevel, w: torch.Tensor, lam: torch.Tensor):
    """``(hypergradient, run)``: ``run()`` returns the validation loss through torchopt's ``custom_root``, so its
    graph can be measured; backward through it solves the same linear system with K CG steps."""
    import torchopt
    from torchopt.diff.implicit import custom_root

    def optimality(w_, lam_):  # torchopt differentiates this with torch.func transforms
        return torch.func.grad(lambda ww: problem.train_loss(ww, lam_))(w_)

    @custom_root(optimality, argnums=1, solve=torchopt.linear_solve.solve_cg(maxiter=K))
    def solver(w_init, lam_):
        return w.clone()  # the inner problem is already solved: time only the implicit part, as for ours

    def run(lam_: torch.Tensor) -> torch.Tensor:
        return problem.val_loss(solver(w, lam_), lam_)

    def hypergradient() -> torch.Tensor:
        leaf = lam.detach().requires_grad_(True)
        return torch.autograd.grad(run(leaf), leaf)[0]

    return hypergradient, run


def median_ms(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    problem = bilevel.logistic_l2(n=1000, d=20, dtype=torch.float64)
    lam = torch.full((20,), -3.0, dtype=torch.float64)
    exact = ift.hypergradient(problem.train_loss, problem.val_loss, bilevel.inner_solve(problem, lam, None, 20000),
                              lam, "exact")
    try:
        import torchopt  # noqa: F401

        have_torchopt = True
    except ImportError:
        have_torchopt = False
        print("torchopt is not installed (pip install -e '.[crosscheck]'): printing ours only")
    print(f"per-feature L2 logistic regression, n=1000, d=20, float64, CG K={K}, median of {REPEATS}")
    print(f"{'T':>4} | {'ours ms':>8} {'graph kB':>9} {'rel.err':>8} | {'torchopt ms':>11} {'graph kB':>9} {'rel.err':>8}"
          f" | {'time ratio':>10} (ours/torchopt)")
    for T in (25, 100, 400):
        w = bilevel.inner_solve(problem, lam, None, T)
        ours_g = ours(problem, w, lam)
        ours_ms = median_ms(lambda: ours(problem, w, lam))

        def graph() -> torch.Tensor:
            leaves = [w.detach().requires_grad_(True), lam.detach().requires_grad_(True)]
            return torch.autograd.grad(problem.train_loss(*leaves), leaves[0], create_graph=True)[0]

        _, ours_bytes = unroll.graph_bytes(graph)
        line = f"{T:4d} | {ours_ms:8.2f} {ours_bytes / 1e3:9.1f} {bilevel.relative_error(ours_g, exact):8.4f} |"
        if have_torchopt:
            hypergradient, run = torchopt_version(problem, w, lam)
            theirs_g = hypergradient()
            theirs_ms = median_ms(hypergradient)
            _, theirs_bytes = unroll.graph_bytes(lambda: run(lam.detach().requires_grad_(True)))
            line += (f" {theirs_ms:11.2f} {theirs_bytes / 1e3:9.1f} {bilevel.relative_error(theirs_g, exact):8.4f} |"
                     f" {ours_ms / theirs_ms:10.2f}   (ours vs torchopt: max |diff| "
                     f"{float((ours_g - theirs_g).abs().max()):.1e})")
        print(line)


if __name__ == "__main__":
    main()
