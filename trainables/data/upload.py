"""Put a course's datasets in an object store once, after the same checks a sweep makes of `--data-root`:

    python -m trainables.data.upload LOCAL_ROOT s3://bucket/course-data [--datasets caltech101,spam]

LOCAL_ROOT holds one folder per dataset (ImageFolder trees for Part 1, train.csv / test.csv for Part 2); every
registered dataset found there is uploaded (or those named), each to `<uri>/<dataset>/`. Sweeps then take
`--data-root s3://bucket/course-data`. (`aws s3 sync LOCAL_ROOT s3://bucket/course-data` uploads the same files,
without the checks.)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core import store
from trainables.common import DataError
from trainables.data.sync import list_remote, remote_fingerprint
from core.registry import DATASETS, UnknownNameError


def check_local(folder: Path, kind: str) -> None:
    from trainables.data.kinds import file_counts
    from trainables.data.layout import Layout

    file_counts(folder, Layout(kind))  # the kind's own checks (one DataError line)


def upload(root: Path, destination: str, names: list[str]) -> list[str]:
    """Check every dataset, then upload each; returns one line per dataset (files, MB, seconds, fingerprint)."""
    for name in names:
        check_local(root / name, DATASETS.get(name).kind)
    lines = []
    for name in names:
        folder, target = root / name, store.join(destination, name)
        local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        extra = sorted(set(list_remote(target)) - local)
        if extra:
            raise DataError(f"{target}: holds {len(extra)} files the local folder has not (e.g. {extra[0]}); "
                            f"empty that prefix first so the copy matches {folder}")
        t0 = time.perf_counter()
        store.put_folder(folder, target)
        seconds = time.perf_counter() - t0
        listing = list_remote(target)
        megabytes = sum(size for size, _ in listing.values()) / 1e6
        lines.append(f"{name}: {len(listing)} files, {megabytes:.1f} MB in {seconds:.1f} s "
                     f"({megabytes / max(seconds, 1e-9):.1f} MB/s), fingerprint {remote_fingerprint(listing)}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="local folder with one subfolder per dataset")
    parser.add_argument("destination", type=store.check_location, help="s3://bucket/prefix or gs://bucket/prefix")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: every one found)")


def run(args: argparse.Namespace) -> int:
    try:
        if not store.is_uri(args.destination):
            raise DataError(f"{args.destination}: expected an object-store URI (s3://bucket/prefix)")
        names = ([n.strip() for n in args.datasets.split(",") if n.strip()] if args.datasets
                 else [d.name for d in DATASETS if (args.root / d.name).is_dir()])
        if not names:
            raise DataError(f"{args.root}: no dataset folder (expected one of {', '.join(DATASETS.names())})")
        for line in upload(args.root, args.destination, names):
            print(line)
    except (DataError, UnknownNameError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainables.data.upload", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
