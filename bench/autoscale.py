"""Scale from zero on the autoscaling cluster (sweeps.cluster.autoscaling: cluster.yaml's worker types, Ray's fake
multi-node provider): time until every slot runs a trial, and the share of slot-seconds that ran one, with the
driver's up-front request for its first wave and without it (workers follow Tune's waiting trials alone), side by
side in one run, each on a fresh cluster with no worker up.

    python bench/autoscale.py [--max-workers 4] [--rounds 2]

Each sweep: 4 demo datasets x 2 backbones x features_svm (smoke budget: 16 trials) at 1 CPU + 0.25 GPU, which
fills --max-workers 4 workers of cluster.yaml's gpu_spot shape (4 CPUs, 1 GPU: 4 slots each) exactly. A fake node
starts in seconds where an EC2 instance takes minutes: the figures compare the two ways of asking, not AWS.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)

from core import cluster_use
from sweeps.cluster import autoscaling

ROOT = Path(__file__).resolve().parent.parent


def one_sweep(upfront: bool, max_workers: int, storage: Path) -> cluster_use.ClusterUse:
    autoscaling.up(max_workers=max_workers)
    try:
        env = dict(os.environ) | autoscaling.driver_env()
        command = [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--address", env["RAY_ADDRESS"],
                   "--datasets", "animals,faces,places,household", "--models", "resnet18,alexnet", "--methods",
                   "features_svm", "--budget", "smoke", "--gpus-per-trial", "0.25", "--weights", "random",
                   "--storage", str(storage), "--sweep-id", "s"] + ([] if upfront else ["--no-upfront-request"])
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        if done.returncode:
            sys.exit(f"error: sweep failed: {(done.stdout + done.stderr).strip().splitlines()[-1]}")
        [use] = cluster_use.read_all(str(storage / "s"))
        return use
    finally:
        autoscaling.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="sweeps per way, alternating")
    args = parser.parse_args()
    results: dict[bool, list[cluster_use.ClusterUse]] = {True: [], False: []}
    for i in range(args.rounds):
        for upfront in ((True, False) if i % 2 == 0 else (False, True)):
            results[upfront].append(one_sweep(upfront, args.max_workers, Path(tempfile.mkdtemp(prefix="autoscale_"))))
    print(f"16 demo trials (1 CPU + 0.25 GPU) from zero workers, up to {args.max_workers} workers of cluster.yaml's "
          f"gpu_spot shape, {args.rounds} sweep(s) each; medians")
    print(f"{'':<24} {'time to full s':>14} {'utilisation':>11} {'peak workers':>12}")
    medians = {}
    for upfront, label in ((True, "up-front request"), (False, "Tune's demand alone")):
        uses = results[upfront]
        full = statistics.median(u.time_to_full() or float("nan") for u in uses)
        used = statistics.median(u.utilisation() or 0.0 for u in uses)
        medians[upfront] = (full, used)
        each = ", ".join("never" if u.time_to_full() is None else f"{u.time_to_full():.1f}" for u in uses)
        print(f"{label:<24} {full:14.1f} {used:11.0%} {max(u.peak_workers() for u in uses):12d}   (each: {each} s)")
    for upfront, label in ((True, "up-front request"), (False, "Tune's demand alone")):
        for use in results[upfront]:
            joins = sorted(span.joined for span in use.spans() if use.slots(span.cpus, span.gpus))
            print(f"{label}: workers joined at {', '.join(f'{t:.0f}' for t in joins)} s")
    print(f"ratio (demand alone / up-front): time to full {medians[False][0] / medians[True][0]:.2f}x, "
          f"utilisation {medians[True][1] / medians[False][1]:.2f}x in favour of up-front")


if __name__ == "__main__":
    main()
