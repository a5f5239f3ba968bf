"""Datasets from a bucket to a node: caltech101 (1,950 real images) uploaded to an S3 API (moto's server on
loopback) with the course's upload command, then the driver's listing + fingerprint, one node copy (seconds, MB/s),
and the check every trial makes of its node's copy (a stat per file) — next to a trial's own time.

    python bench/data_sync.py [--repeats 20]

Loopback S3 has no network: the copy's MB/s here is moto's (one Python process) and this disk's, a floor for
neither a real bucket nor a real network.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import shared_data
from store_io import start_s3

from core import store
from trainables.data import upload
from trainables.data.sync import copy_problem, list_remote, node_copy, remote_fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    images = shared_data("images")
    server = start_s3()
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench-data")
        root = "s3://bench-data/course-data"
        t0 = time.perf_counter()
        print(upload.upload(images, root, ["caltech101"])[0], f"(upload {time.perf_counter() - t0:.1f} s)")
        location = store.join(root, "caltech101")
        t0 = time.perf_counter()
        listing = list_remote(location)
        fingerprint = remote_fingerprint(listing)
        listed = time.perf_counter() - t0
        megabytes = sum(size for size, _ in listing.values()) / 1e6
        with tempfile.TemporaryDirectory() as cache:
            local, copy_s = node_copy(location, fingerprint, Path(cache))
            t0 = time.perf_counter()
            _, recorded = node_copy(location, fingerprint, Path(cache))
            again_s = time.perf_counter() - t0
            checks = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                assert copy_problem(local) is None
                checks.append(time.perf_counter() - t0)
        check = statistics.median(checks)
        print(f"driver: list + fingerprint {len(listing)} objects in {listed:.2f} s")
        print(f"node copy: {megabytes:.1f} MB in {copy_s:.1f} s = {megabytes / copy_s:.1f} MB/s; "
              f"next trial on the node: {again_s * 1000:.0f} ms (data_sync_s {recorded:g})")
        print(f"per-trial check of the node copy: median {check * 1000:.1f} ms over {args.repeats} "
              f"= {check / copy_s:.4f} of one copy; a features_svm trial on these images takes tens of seconds")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
