"""A command's GPU utilisation: runs it with `nvidia-smi` sampled in the background and prints a one-line summary
(mean, median, p90 utilisation, peak memory) when it ends, e.g. a sweep whose trials share the card:

    python bench/gpu_util.py [--every-ms 500] [--csv samples.csv] -- python sweeps/matrix.py --local ...

Exits with the command's status.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import GpuSampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every-ms", type=int, default=500, help="sampling interval")
    parser.add_argument("--csv", help="also write the samples (utilisation %%, memory MiB) here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    t0 = time.perf_counter()
    with GpuSampler(args.every_ms) as sampler:
        status = subprocess.call(command)
    print(f"{sampler.summary()}; {time.perf_counter() - t0:.0f} s: {' '.join(command)[:200]}")
    if args.csv:
        with open(args.csv, "w") as out:
            out.write("utilization_pct,memory_mib\n")
            out.writelines(f"{u},{m}\n" for u, m in sampler.samples)
    sys.exit(status)


if __name__ == "__main__":
    main()
