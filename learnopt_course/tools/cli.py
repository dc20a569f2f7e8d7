"""The ``learnopt`` command: ``lab``, ``student``, ``nbclean``, ``lint``, ``grade``, ``refresh``, ``data``, ``reproduce``
and ``site``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _student(args: argparse.Namespace) -> int:
    from .student import MarkerError, sync

    try:
        report = sync(args.solutions, args.notebooks, check=args.check)
    except (MarkerError, FileNotFoundError, ValueError) as err:
        print(f"learnopt student: {err}", file=sys.stderr)
        return 2
    for path in report.written:
        print(f"wrote {path}")
    for path, diff in report.drifted.items():
        print(f"{path} is out of date; run `learnopt student {args.solutions} {args.notebooks}`")
        print(diff[:4000])
    for path in report.orphans:
        print(f"{path} has no solution notebook in {args.solutions}")
    return 0 if report.ok else 1


def _nbclean(args: argparse.Namespace) -> int:
    from .nbclean import clean_paths

    try:
        changed = clean_paths([Path(p) for p in args.paths], check=args.check)
    except (FileNotFoundError, ValueError) as err:
        print(f"learnopt nbclean: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{path} {'has outputs to strip' if args.check else 'cleaned'}")
    return 1 if (args.check and changed) else 0


def _lint(args: argparse.Namespace) -> int:
    from .lint import lint_paths

    problems = lint_paths([Path(p) for p in args.paths])
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _grade(args: argparse.Namespace) -> int:
    from ..core import atomic_write_text
    from .grade import feedback, grade, report, write_gradebook, write_written

    grades, status = [], 0
    for path in args.notebooks:
        try:
            result = grade(path, args.release, seed=args.seed, time_limit=args.time_limit, timeout=args.timeout,
                           checks_only=args.checks_only)
        except (FileNotFoundError, ValueError) as err:
            print(f"learnopt grade: {err}", file=sys.stderr)
            status = 2
            continue
        grades.append(result)
        print(report(result, as_json=args.json))
        if args.feedback:
            target = Path(args.feedback) / f"{result.student}-{Path(path).stem}-feedback.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, feedback(result))
        if status == 0 and any(r.status != "passed" for r in result.results):
            status = 1
    if args.csv and grades:
        write_gradebook(grades, args.csv)
    if args.written and grades:
        write_written(grades, args.written)
    return status


def _nbgrader_export(args: argparse.Namespace) -> int:
    from .nbgrader_export import export

    try:
        paths = export(args.solutions, args.course, timeout=args.timeout)
    except (FileNotFoundError, ValueError) as err:
        print(f"learnopt nbgrader-export: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    print(f"wrote {Path(args.course) / 'nbgrader_config.py'}; next: cd {args.course} && nbgrader generate_assignment "
          "lessonNN")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    """Execute solution notebooks in place, then clean them: the author's way to update golden outputs.

    Each notebook runs twice at once, on this machine's kernels and on switched ones; it is written only when every
    golden cell prints the same text in both runs (else the differing cells are listed): a golden cell that depends
    on the CPU would fail on the next machine.
    """
    from concurrent.futures import ThreadPoolExecutor

    from . import notebooks
    from .nbclean import clean
    from .portability import SWITCHED_KERNELS, golden_mismatches

    status = 0
    for name in args.notebooks:
        path = Path(name)
        nb, cwd = notebooks.read(path), path.parent.resolve()
        with ThreadPoolExecutor(2) as pool:
            native = pool.submit(notebooks.execute, nb, cwd=cwd, timeout=args.timeout)
            switched = None if args.skip_portability else pool.submit(
                notebooks.execute, nb, cwd=cwd, timeout=args.timeout, env=SWITCHED_KERNELS
            )
            executed = native.result()
            other = switched.result() if switched is not None else None
        failed = [i for i, c in enumerate(executed.cells, start=1) if c.cell_type == "code" and notebooks.errors(c)]
        if failed:
            print(f"{path}: cells {failed} raised errors; not written")
            status = 1
            continue
        if other is not None:
            mismatches, _ = golden_mismatches(executed, other)
            if mismatches:
                print(f"{path}: golden cells print other text under {SWITCHED_KERNELS}; not written")
                for mismatch in mismatches:
                    print(mismatch)
                status = 1
                continue
        notebooks.write(clean(executed), path)
        print(f"refreshed {path}")
    return status


def _data(args: argparse.Namespace) -> int:
    """Fetch (or, offline, verify) every dataset the course uses into one root, for a classroom without internet."""
    from ..data import DataError, load_mnist, load_omniglot

    try:
        for split in ("train", "test"):
            images, _ = load_mnist(split, root=args.root, download=not args.offline)
            print(f"MNIST {split}: {images.shape[0]} images, verified")
        for split in ("background", "evaluation"):
            data = load_omniglot(split, root=args.root, download=not args.offline)
            print(f"Omniglot {split}: {len(data)} characters in {len(data.alphabet_names)} alphabets")
    except DataError as err:
        print(f"learnopt data: {err}", file=sys.stderr)
        return 1
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from ..reproduce import RECIPES, reproduce

    if args.name not in RECIPES:
        print(f"learnopt reproduce: no recipe {args.name!r}; available: {', '.join(sorted(RECIPES))}", file=sys.stderr)
        return 2
    if args.seed is not None and args.out is None:
        print("learnopt reproduce: --seed needs --out (the shipped checkpoint is made with the recipe's own seed)",
              file=sys.stderr)
        return 2
    from ..reproduce import check_scalable, summary

    try:
        check_scalable(args.name, args.nproc, args.resume, args.device, args.out)
    except ValueError as err:
        print(f"learnopt reproduce: {err}", file=sys.stderr)
        return 2
    if args.nproc > 1:  # the same command in N processes, by torchrun (gloo on CPU, NCCL with --device cuda)
        import subprocess

        forwarded = [args.name, "--out", args.out] + (["--quick"] if args.quick else []) + \
            (["--seed", str(args.seed)] if args.seed is not None else []) + (["--resume"] if args.resume else []) + \
            (["--device", args.device] if args.device else [])
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                   "-m", "learnopt_course.reproduce", *forwarded]
        return subprocess.call(command)
    report = reproduce(args.name, out=args.out, quick=args.quick, seed=args.seed, resume=args.resume,
                       device=args.device)
    print(summary(report))
    return 0


JUPYTER_CONFIG = Path(__file__).resolve().parents[1] / "jupyter_config"


def lab_command(path: str = "notebooks", extra: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command and environment ``learnopt lab`` runs: JupyterLab on ``path`` with the course's configuration
    folder first on ``JUPYTER_CONFIG_PATH`` (it disables the news-and-updates prompt,
    ``@jupyterlab/apputils-extension:announcements``, which otherwise covers part of the first page) and no
    update check. Your own Jupyter settings still apply."""
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(JUPYTER_CONFIG)] + ([env["JUPYTER_CONFIG_PATH"]] if env.get("JUPYTER_CONFIG_PATH") else []))
    command = [sys.executable, "-m", "jupyterlab", path,
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *(extra or [])]
    return command, env


def _site(args: argparse.Namespace) -> int:
    from .site import SiteError, build

    try:
        out = build(args.root, args.out, execute_missing=not args.no_execute)
    except SiteError as err:
        print(f"learnopt site: {err}", file=sys.stderr)
        return 1
    print(f"wrote the website to {out}; open {Path(out) / 'index.html'} in a browser, or serve it with "
          f"`python -m http.server --directory {out}`")
    return 0


def _lab(args: argparse.Namespace, extra: list[str]) -> int:
    import subprocess

    if not Path(args.path).exists():
        print(f"learnopt lab: path {args.path!r} does not exist (run it in the course folder, or name a notebook "
              "or folder)", file=sys.stderr)
        return 2
    command, env = lab_command(args.path, extra)
    return subprocess.call(command, env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="learnopt", description="Tools for the learnopt course notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("student", help="generate student notebooks from solution notebooks")
    p.add_argument("solutions", nargs="?", default="solutions")
    p.add_argument("notebooks", nargs="?", default="notebooks")
    p.add_argument("--check", action="store_true", help="exit 1 with a diff if the student notebooks are stale")
    p.set_defaults(func=_student)

    p = sub.add_parser("nbclean", help="strip outputs except golden cells")
    p.add_argument("paths", nargs="*", default=["solutions"])
    p.add_argument("--check", action="store_true", help="exit 1 if any notebook has outputs to strip")
    p.set_defaults(func=_nbclean)

    p = sub.add_parser("lint", help="check solution notebooks against the lesson spine")
    p.add_argument("paths", nargs="*", default=["solutions"])
    p.set_defaults(func=_lint)

    p = sub.add_parser("grade", help="grade submissions against the release: exercises, hidden cases, gradebook")
    p.add_argument("notebooks", nargs="+", help="submissions, e.g. submissions/*/01_sgd_and_momentum.ipynb")
    p.add_argument("--release", default=None,
                   help="folder of the release (solution or student notebooks; default: the repository's solutions/)")
    p.add_argument("--csv", default=None, help="write a gradebook: one row per student, a column per exercise")
    p.add_argument("--feedback", default=None, help="folder for one feedback file per submission")
    p.add_argument("--written", default=None, help="write the written answers with their rubric, for hand grading")
    p.add_argument("--checks-only", action="store_true",
                   help="run only the setup, exercise and check cells (not the experiments)")
    p.add_argument("--time-limit", type=float, default=900, help="seconds allowed per notebook (default 900)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--seed", type=int, default=None, help="seed of the hidden cases (default: drawn afresh)")
    p.add_argument("--json", action="store_true", help="print JSON reports")
    p.set_defaults(func=_grade)

    p = sub.add_parser("nbgrader-export", help="write the course as an nbgrader source (points, hidden tests)")
    p.add_argument("solutions", nargs="?", default="solutions")
    p.add_argument("course", help="the nbgrader course folder to write (source/lessonNN/ and nbgrader_config.py)")
    p.add_argument("--timeout", type=int, default=900, help="nbgrader's per-cell timeout in seconds (default 900)")
    p.set_defaults(func=_nbgrader_export)

    p = sub.add_parser("data", help="download and verify MNIST and Omniglot (for offline classrooms)")
    p.add_argument("--root", default=None, help="data root (default: $LEARNOPT_DATA, else ~/.cache/learnopt_course)")
    p.add_argument("--offline", action="store_true", help="only verify what is there; never download")
    p.set_defaults(func=_data)

    p = sub.add_parser("reproduce", help="re-create a shipped checkpoint (a learned optimizer) from its recipe")
    p.add_argument("name", help="recipe name, e.g. l2l-quadratic or l2l-mnist")
    p.add_argument("--out", default=None, help="write here instead of the package's checkpoints folder")
    p.add_argument("--quick", action="store_true", help="a few meta-iterations only (to test the command)")
    p.add_argument("--seed", type=int, default=None,
                   help="meta-train with this seed instead of the recipe's (needs --out): does the seed matter?")
    p.add_argument("--nproc", type=int, default=1,
                   help="meta-train data-parallel on N processes with torchrun (l2l-* recipes; needs --out)")
    p.add_argument("--resume", action="store_true",
                   help="keep the training state beside the output and continue from it after a crash (l2l-* recipes)")
    p.add_argument("--device", default=None, help="train on this device, e.g. cuda (l2l-* recipes)")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("site", help="build the course website (Sphinx + MyST-NB) from the executed solution notebooks")
    p.add_argument("--root", default=".", help="the course repository (default: here)")
    p.add_argument("--out", default=None, help="output folder (default: build/site)")
    p.add_argument("--no-execute", action="store_true",
                   help="fail instead of executing a lesson that has no executed copy from the test run")
    p.set_defaults(func=_site)

    p = sub.add_parser("lab", help="open the course in JupyterLab (without the news prompt); "
                       "other options go to JupyterLab")
    p.add_argument("path", nargs="?", default="notebooks", help="folder or notebook to open (default: notebooks)")
    p.set_defaults(func=_lab)

    p = sub.add_parser("refresh", help="re-execute solution notebooks and keep only golden outputs")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--skip-portability", action="store_true",
                   help="do not re-run under switched numeric kernels to check that golden cells are portable")
    p.set_defaults(func=_refresh)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if args.command == "lab":
        return _lab(args, extra)
    if extra:
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
