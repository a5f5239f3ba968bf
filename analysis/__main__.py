"""The analysis commands, each an `add_*_arguments(parser)` and a function of the parsed arguments (the `groupsweep`
command tree holds them as subcommands; `python -m analysis ...` is the same commands on their own):

    python -m analysis RESULTS_DIR [--watch [SECONDS]]    a sweep's report under RESULTS_DIR/reports/
    python -m analysis status RESULTS_DIR                 where it stands; exit 0 once nothing is left to run
    python -m analysis export RESULTS_DIR --out F         every row in one file (and F.history.parquet)
    python -m analysis tensorboard RESULTS_DIR            TensorBoard over the sweep's trials (analysis.tensorboard)
    python -m analysis mlflow RESULTS_DIR --mlflow URI    the sweep's rows replayed into MLflow
"""
from __future__ import annotations

import argparse
import os
import sys

from core.argtypes import number
from core.prices import PRICE_CPU_HOUR, PRICE_GPU_HOUR, Prices
from core.results import ResultsError
from core import store

RESULTS_HELP = "a sweep folder: <storage>/<sweep-id> (a path or s3://bucket/...)"


def add_report_arguments(parser: argparse.ArgumentParser, watch_option: bool = True) -> None:
    parser.add_argument("results_dir", help=RESULTS_HELP)
    parser.add_argument("--out", default=None, help="where the reports go (default <results_dir>/reports)")
    parser.add_argument("--price-gpu-hour", type=number(float, 0.0, above=True), default=PRICE_GPU_HOUR,
                        help=f"USD per GPU-hour for the cost estimate (default {PRICE_GPU_HOUR}: AWS g5.xlarge)")
    parser.add_argument("--price-cpu-hour", type=number(float, 0.0, above=True), default=PRICE_CPU_HOUR,
                        help=f"USD per vCPU-hour (default {PRICE_CPU_HOUR}: AWS c6i.xlarge / 4)")
    if watch_option:
        parser.add_argument("--watch", nargs="?", type=number(float, 0.0, above=True), const=60.0, default=None,
                            metavar="SECONDS",
                            help="rewrite the report every SECONDS (default 60) while the sweep runs, with where it "
                                 "stands, until every planned trial has ended or no driver holds the sweep")


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    add_report_arguments(parser, watch_option=False)
    parser.add_argument("every", nargs="?", type=number(float, 0.0, above=True), default=60.0, metavar="SECONDS",
                        help="seconds between two rewrites of the report (default 60)")


def report(args: argparse.Namespace) -> int:
    """The report (or, with args.watch / args.every, the watch)."""
    from core.results import load_manifest
    from analysis.report import build_report

    out = args.out or store.join(args.results_dir, "reports")
    prices = Prices(args.price_gpu_hour, args.price_cpu_hour)
    every = getattr(args, "watch", None) or getattr(args, "every", None)
    if every is not None:
        from analysis.live import watch

        print(f"watching {args.results_dir}: report {store.join(out, 'index.html')} every {every:g} s "
              f"(Ctrl-C stops)", flush=True)
        return watch(args.results_dir, every, lambda live: build_report(args.results_dir, out, prices, live, every))
    print(build_report(args.results_dir, out, prices, unfinished_status(args.results_dir), refresh_s=0))
    print(f"written: {out}/{{report.md,*.csv,*.png}}")
    print(f"report: {store.join(out, 'index.html')}")
    if load_manifest(args.results_dir).get("demo_data"):
        # not "learns": big networks from random weights stay near chance in the demo's 4 epochs (README)
        print("demo data: these numbers show that every method runs end to end (the 'Above chance' table says "
              "which jobs learned), nothing more; pass --data-root (and --budget full) for the course's results")
    return 0


def unfinished_status(results_dir: str):
    """An unfinished sweep's state for the plain report (whether a driver holds it, and if not how to continue);
    None for a finished one. Printed too."""
    from analysis.live import DriverWatch, live_status
    from core.results import load_manifest, load_trials

    manifest = load_manifest(results_dir)
    trials = load_trials(results_dir, manifest)
    status = live_status(manifest, trials, results_dir, driver=DriverWatch().state(results_dir, manifest, trials))
    if status.complete:
        return None
    print(status.line())
    return status


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help=RESULTS_HELP)
    parser.add_argument("--out", required=True, help="FILE.parquet (the history goes to FILE.history.parquet)")


def export(args: argparse.Namespace) -> int:
    from analysis.export import export as export_rows

    rows, history = export_rows(args.results_dir, args.out)
    print(f"written: {rows} and {history}")
    return 0


def add_mlflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help=RESULTS_HELP)
    parser.add_argument("--mlflow", metavar="URI", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="the tracking server (default $MLFLOW_TRACKING_URI)")


def mlflow(args: argparse.Namespace) -> int:
    """Replay the sweep's rows into MLflow."""
    from sweeps.tracking.mlflow_log import TrackingUnavailable, replay

    if not args.mlflow:
        print("error: --mlflow URI (or $MLFLOW_TRACKING_URI) is required", file=sys.stderr)
        return 2
    try:
        counts = replay(args.results_dir, args.mlflow)
    except TrackingUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.mlflow}: {counts['ended']} ended trial(s) logged"
          + (f", {counts['running']} still running (their curves so far)" if counts["running"] else ""))
    return 0


NOT_STARTED = 3  # `status`'s exit code for a sweep without a plan


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help=RESULTS_HELP)


def status(args: argparse.Namespace) -> int:
    """Where a sweep stands, in one line; exit 0 when --resume would have nothing left to run (every planned trial
    ok or stopped), 1 while some are left, 3 when it has not started (no plan yet). A Slurm job
    (sweeps.cluster.slurm) ends at once on 0, and resumes the sweep on 1."""
    from analysis.live import DriverWatch, live_status
    from core.ledger import FINISHED
    from core.results import load_manifest, load_trials

    if store.read_text(store.join(args.results_dir, "sweep.json")) is None:
        print(f"{args.results_dir}: not started (no sweep.json)")
        return NOT_STARTED
    manifest = load_manifest(args.results_dir)
    trials = load_trials(args.results_dir, manifest)
    live = live_status(manifest, trials, args.results_dir,
                       driver=DriverWatch().state(args.results_dir, manifest, trials))
    planned = set(manifest.get("trials") or [])
    finished = set(trials.loc[trials["status"].isin(FINISHED), "trial_id"]) if len(trials) else set()
    left = len(planned - finished)
    print(f"{live.line()}; {'finished' if not left else f'{left} trial(s) left for --resume'}")
    return 0 if not left else 1


# name -> (description, add_arguments, run); the report is the default (`python -m analysis RUN`)
COMMANDS = {
    "report": ("a sweep's report: index.html, report.md and CSV tables", add_report_arguments, report),
    "watch": ("rewrite a sweep's report while it runs, until it ends or no driver holds it", add_watch_arguments,
              report),
    "status": ("where a sweep stands, in one line: exit 0 when every planned trial has finished, 1 while some "
               "are left for --resume, 3 when it has not started", add_status_arguments, status),
    "export": ("one compacted Parquet file of a sweep's rows, plus its history", add_export_arguments, export),
    "mlflow": ("replay a sweep's rows into MLflow: one run per trial, as --mlflow logs them live (what a tracking "
               "server that was away missed; runs already there are continued, never doubled)",
               add_mlflow_arguments, mlflow),
}


def command(name: str):
    """The (description, add_arguments, run) of one analysis command, TensorBoard's included."""
    if name == "tensorboard":
        from analysis import tensorboard

        return tensorboard.DESCRIPTION, tensorboard.add_arguments, tensorboard.run
    return COMMANDS[name]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv[:1] and argv[0] in (*COMMANDS, "tensorboard") else "report"
    description, add_arguments, run = command(name)
    prog = "python -m analysis" + ("" if name == "report" and argv[:1] != ["report"] else f" {name}")
    others = "" if name != "report" else ("other commands: python -m analysis {watch,status,export,tensorboard,mlflow} "
                                          "--help; all of them, and the sweeps: groupsweep --help")
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=others)
    add_arguments(parser)
    return run(parser.parse_args(argv[1:] if name != "report" or argv[:1] == ["report"] else argv))


def entry() -> None:
    try:
        sys.exit(main())
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
