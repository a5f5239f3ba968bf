"""`python -m analysis RESULTS_DIR`: a sweep's report (reports/index.html, Markdown, CSV) under RESULTS_DIR/reports/.
`python -m analysis export RESULTS_DIR --out FILE.parquet`: every row in one file (and FILE.history.parquet).
`python -m analysis tensorboard RESULTS_DIR`: TensorBoard over the sweep's trials (analysis.tensorboard).
`python -m analysis mlflow RESULTS_DIR --mlflow URI`: the sweep's rows replayed into MLflow (sweeps.mlflow_log).
"""
from __future__ import annotations

import argparse
import sys

from core.argtypes import number
from core.prices import PRICE_CPU_HOUR, PRICE_GPU_HOUR, Prices
from core.results import ResultsError
from core import store


def report_main(argv: list[str]) -> int:
    from core.results import load_manifest
    from analysis.report import build_report

    parser = argparse.ArgumentParser(prog="python -m analysis", description="a sweep's report: index.html, "
                                     "report.md and CSV tables (export: python -m analysis export RUN --out F)")
    parser.add_argument("results_dir", help="a sweep folder: <storage>/<sweep-id> (a path or s3://bucket/...)")
    parser.add_argument("--out", default=None, help="where the reports go (default <results_dir>/reports)")
    parser.add_argument("--price-gpu-hour", type=number(float, 0.0, above=True), default=PRICE_GPU_HOUR,
                        help=f"USD per GPU-hour for the cost estimate (default {PRICE_GPU_HOUR}: AWS g5.xlarge)")
    parser.add_argument("--price-cpu-hour", type=number(float, 0.0, above=True), default=PRICE_CPU_HOUR,
                        help=f"USD per vCPU-hour (default {PRICE_CPU_HOUR}: AWS c6i.xlarge / 4)")
    parser.add_argument("--watch", nargs="?", type=number(float, 0.0, above=True), const=60.0, default=None,
                        metavar="SECONDS",
                        help="rewrite the report every SECONDS (default 60) while the sweep runs, with where it "
                             "stands (jobs done / running / waiting, running trials, finish time) until every "
                             "planned trial has ended")
    args = parser.parse_args(argv)
    out = args.out or store.join(args.results_dir, "reports")
    prices = Prices(args.price_gpu_hour, args.price_cpu_hour)
    if args.watch is not None:
        from analysis.live import watch

        print(f"watching {args.results_dir}: report {store.join(out, 'index.html')} every {args.watch:g} s "
              f"(Ctrl-C stops)", flush=True)
        return watch(args.results_dir, args.watch,
                     lambda live: build_report(args.results_dir, out, prices, live, args.watch))
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


def export_main(argv: list[str]) -> int:
    from analysis.export import export

    parser = argparse.ArgumentParser(prog="python -m analysis export",
                                     description="one compacted Parquet file of a sweep's rows, plus its history")
    parser.add_argument("results_dir", help="a sweep folder: <storage>/<sweep-id>")
    parser.add_argument("--out", required=True, help="FILE.parquet (the history goes to FILE.history.parquet)")
    args = parser.parse_args(argv)
    rows, history = export(args.results_dir, args.out)
    print(f"written: {rows} and {history}")
    return 0


def mlflow_main(argv: list[str]) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m analysis mlflow",
                                     description="replay a sweep's rows into MLflow: one run per trial, as --mlflow "
                                                 "logs them live (what a tracking server that was away missed; "
                                                 "runs already there are continued, never doubled)")
    parser.add_argument("results_dir", help="a sweep folder: <storage>/<sweep-id> (a path or s3://bucket/...)")
    parser.add_argument("--mlflow", metavar="URI", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="the tracking server (default $MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    if not args.mlflow:
        parser.error("--mlflow URI (or $MLFLOW_TRACKING_URI) is required")
    from sweeps.mlflow_log import TrackingUnavailable, replay

    try:
        counts = replay(args.results_dir, args.mlflow)
    except TrackingUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.mlflow}: {counts['ended']} ended trial(s) logged"
          + (f", {counts['running']} still running (their curves so far)" if counts["running"] else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mlflow"]:
        return mlflow_main(argv[1:])
    if argv[:1] == ["tensorboard"]:
        from analysis.tensorboard import main as tensorboard_main

        return tensorboard_main(argv[1:])
    return export_main(argv[1:]) if argv[:1] == ["export"] else report_main(argv)


def entry() -> None:
    try:
        sys.exit(main())
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
