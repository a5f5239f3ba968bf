"""`python -m analysis RESULTS_DIR`: print a sweep's comparison tables and write them under RESULTS_DIR/reports/."""
from __future__ import annotations

import argparse
import sys

from analysis.load import ResultsError
from analysis.report import build_report
from trainables import store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("results_dir", help="a sweep folder: <storage>/<sweep-id> (a path or s3://bucket/...)")
    parser.add_argument("--out", default=None, help="where the reports go (default <results_dir>/reports)")
    args = parser.parse_args(argv)
    out = args.out or store.join(args.results_dir, "reports")
    print(build_report(args.results_dir, out))
    print(f"written: {out}/{{report.md,*.csv,*.png}}")
    return 0


def entry() -> None:
    try:
        sys.exit(main())
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
