"""Time from `ray up cluster.local.yaml` to a ready loopback cluster (head + two logical-GPU workers joined),
then `python -m sweeps.cluster.loopback down` and the time until none of the cluster's processes is left (other Ray
processes on the machine are not touched). Needs root (sshd on 127.0.0.x).

    python bench/cluster_up.py [--repeats 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401  (puts the project on sys.path)

from sweeps.cluster import loopback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    ups, downs = [], []
    for i in range(args.repeats):
        ups.append(loopback.up())
        nodes = loopback.nodes()
        t0 = time.time()
        loopback.down()
        downs.append(time.time() - t0)
        print(f"run {i + 1}: ready {ups[-1]:.1f} s after ray up started ({len(nodes)} nodes: "
              f"{', '.join(sorted(n['ip'] for n in nodes))}); down to none of its processes {downs[-1]:.1f} s")
    print(f"\nloopback cluster, {args.repeats} runs: ray up -> ready median {statistics.median(ups):.1f} s "
          f"(min {min(ups):.1f}, max {max(ups):.1f}); down -> clean median {statistics.median(downs):.1f} s")


if __name__ == "__main__":
    main()
