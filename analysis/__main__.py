"""`python -m analysis RESULTS_DIR`: print a sweep's comparison tables and write them under RESULTS_DIR/reports/."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.load import ResultsError
from analysis.report import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("results_dir", type=Path, help="a sweep folder: <storage>/<sweep-id>")
    args = parser.parse_args(argv)
    print(build_report(args.results_dir))
    print(f"written: {args.results_dir / 'reports'}/{{report.md,*.csv,*.png}}")
    return 0


def entry() -> None:
    try:
        sys.exit(main())
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
