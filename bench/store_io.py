"""Result-file I/O on a local folder vs an S3 API (moto's server on loopback): rows written per second, and
reading a sweep's rows one by one vs together (`store.read_parquets`, threads on a store).

    python bench/store_io.py [--rows 500]

Loopback S3 has no network latency, so the threaded speed-up here is a floor: on a real bucket each read waits
tens of milliseconds and overlapping them matters more.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import ROOT  # noqa: F401  (puts the project on sys.path)

from core import ledger, store


def start_s3() -> subprocess.Popen:
    port = 5399
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    for _ in range(100):
        try:
            urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"], timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    import boto3

    boto3.client("s3").create_bucket(Bucket="bench")
    return proc


def measure(location: str, rows: int) -> dict[str, float]:
    ids = [f"p2-spam-gru-recurrent-{i:04d}" for i in range(rows)]
    values = {"sweep_id": "bench", "status": "ok", "test_acc": 0.9, "param_lr": 0.01}
    t0 = time.perf_counter()
    for trial_id in ids:
        row = ledger.make_row(values | {"trial_id": trial_id})
        ledger.write_parquet_atomic(row, ledger.row_path(location, trial_id))
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    one_by_one = [store.read_parquet(ledger.row_path(location, t)) for t in ids]
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    together = ledger.read_rows(location, ids)
    together_s = time.perf_counter() - t0
    assert len(one_by_one) == len(together) == rows and all(r is not None for r in together.values())
    return {"write": rows / write_s, "serial": rows / serial_s, "together": rows / together_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    server = start_s3()
    try:
        results = {"local folder": measure(tempfile.mkdtemp(prefix="bench_store_"), args.rows),
                   "S3 (moto, loopback)": measure("s3://bench/runs", args.rows)}
    finally:
        server.terminate()
    print(f"{args.rows} trial rows; rows per second")
    print(f"{'where':<22} {'write':>8} {'read 1-by-1':>12} {'read together':>14} {'speed-up':>9}")
    for where, r in results.items():
        print(f"{where:<22} {r['write']:8.0f} {r['serial']:12.0f} {r['together']:14.0f} "
              f"{r['together'] / r['serial']:8.1f}x")


if __name__ == "__main__":
    main()
