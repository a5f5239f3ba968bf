"""`groupsweep`: one command over the whole harness, one subcommand per task. Each subcommand is a module's own
`add_arguments(parser)` and `run(args)` (the scripts `sweeps/all_groups.py`, `sweeps/matrix.py` and
`python -m analysis` are the same functions on their own), so the tree here is only a table: COMMANDS.
docs/cli.md is generated from this tree (`python -m groupsweep.cli_reference`)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

EXAMPLES = """\
examples:
  groupsweep run --local                                  every group on generated demo data, this machine
  groupsweep plan --data-root /data/course --budget full  check and price the real run, start nothing
  groupsweep watch runs/full-course 60                    the report rewritten every minute while it runs

environment:
  GROUPSWEEP_STORAGE    default --storage (else runs/)
  RAY_ADDRESS           the cluster a sweep joins without --local (else 'auto')
  MLFLOW_TRACKING_URI   default --mlflow
  TORCH_HOME            where ImageNet weights are read from (groupsweep weights prefetch fills it)
  AWS_*                 credentials and endpoint for s3:// data and storage

exit codes:
  0 done · 1 a job failed (watch: no driver holds the sweep) · 2 bad input, said in one line ·
  75 the storage refused a write (free space, then --resume) · 130 Ctrl-C · 143 SIGTERM
"""


@dataclass(frozen=True)
class Command:
    """One subcommand: its name (words, for nested ones), one line of help, and where its arguments and its work
    live (imported only when it runs, so `groupsweep --help` stays fast)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _sweeps(module: str, attribute: str) -> Callable:
    def call(arg):
        import importlib

        return getattr(importlib.import_module(module), attribute)(arg)
    return call


def _plan(args: argparse.Namespace) -> int:
    args.dry_run = True
    return _sweeps("sweeps.all_groups", "run")(args)


def _analysis(name: str, part: int) -> Callable:
    def call(arg):
        from analysis.__main__ import command

        return command(name)[part](arg)
    return call


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    from sweeps.cluster.autoscaling import VERBS, add_arguments

    parser.add_argument("verb", choices=VERBS, help="up: start it; env: what a driver needs to join it (eval it); "
                                                    "status: its nodes; down: end its processes, and only them")
    parser.add_argument("--kind", choices=("autoscaling", "loopback"), default="autoscaling",
                        help="autoscaling: cluster.yaml's autoscaler with simulated workers; loopback: a real "
                             "`ray up` of cluster.local.yaml over SSH to 127.0.0.x (root, sshd)")
    add_arguments(parser, verb=False)


def _cluster(args: argparse.Namespace) -> int:
    if args.kind == "autoscaling":
        from sweeps.cluster.autoscaling import run

        return run(args)
    from sweeps.cluster import loopback

    if args.verb == "env":
        print("\n".join(f"export {k}={v}" for k, v in loopback.cluster_env().items()
                        if k.startswith("RAY_")))
        return 0
    return loopback.run(args.verb)


COMMANDS = (
    Command("run", "every course group (or --part / --groups) as one sweep", _sweeps("sweeps.all_groups",
            "add_arguments"), _sweeps("sweeps.all_groups", "run")),
    Command("matrix", "any datasets x models x methods as one sweep (the course's datasets or your own)",
            _sweeps("sweeps.matrix", "add_arguments"), _sweeps("sweeps.matrix", "run")),
    Command("plan", "what `run` would do and cost, checked (the dry run); starts nothing",
            _sweeps("sweeps.all_groups", "add_arguments"), _plan),
    Command("report", "a sweep's report: index.html, report.md and CSV tables", _analysis("report", 1),
            _analysis("report", 2)),
    Command("watch", "rewrite a sweep's report while it runs, until it ends or no driver holds it",
            _analysis("watch", 1), _analysis("watch", 2)),
    Command("status", "where a sweep stands, in one line (exit 0: finished, 1: trials left, 3: not started)",
            _analysis("status", 1), _analysis("status", 2)),
    Command("tensorboard", "TensorBoard over a sweep's trials (curves per epoch, HParams)",
            _analysis("tensorboard", 1), _analysis("tensorboard", 2)),
    Command("export", "one Parquet file of a sweep's rows, plus its history", _analysis("export", 1),
            _analysis("export", 2)),
    Command("mlflow", "replay a sweep's rows into MLflow (what a tracking server that was away missed)",
            _analysis("mlflow", 1), _analysis("mlflow", 2)),
    Command("data upload", "copy the course's dataset folders to a bucket, once (then --data-root s3://...)",
            _sweeps("trainables.data.upload", "add_arguments"), _sweeps("trainables.data.upload", "run")),
    Command("weights prefetch", "download the backbones' ImageNet weights into TORCH_HOME (a node without internet "
            "reads them there)", _sweeps("trainables.images.prefetch", "add_arguments"),
            _sweeps("trainables.images.prefetch", "run")),
    Command("slurm", "a sweep as Slurm batch jobs: writes (--submit: submits) an sbatch script that starts the job's "
            "own Ray and continues the sweep across time limits (--chain N, --requeue)",
            _sweeps("sweeps.cluster.slurm", "add_arguments"), _sweeps("sweeps.cluster.slurm", "run")),
    Command("cluster", "a cluster on this machine: cluster.yaml's autoscaler (simulated workers) or the loopback "
            "`ray up`", _add_cluster_arguments, _cluster),
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from sweeps.cli import HelpFormatter

    parser = argparse.ArgumentParser(prog="groupsweep", formatter_class=HelpFormatter, epilog=EXAMPLES,
                                     description="A deep-learning course's whole pre-project as Ray Tune sweeps: "
                                                 "every group's work and search, results in Parquet, reports.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    families: dict[str, argparse._SubParsersAction] = {}
    for command in COMMANDS:
        family, _, verb = command.name.partition(" ")
        where = commands
        if verb:
            if family not in families:
                group = commands.add_parser(family, help=f"{family} {verb}: {command.help}",
                                            formatter_class=HelpFormatter)
                families[family] = group.add_subparsers(dest="verb_", metavar="VERB", required=True)
            where = families[family]
        sub = where.add_parser(verb or family, help=command.help, description=command.help,
                               formatter_class=HelpFormatter)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.run(args)


def entry() -> None:
    """The console script: a user error is one line and exit 2; after Ray, leave without finalization
    (sweeps.cli.run_command)."""
    from sweeps.cli import run_command

    run_command(main)
