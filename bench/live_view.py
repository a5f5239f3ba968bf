"""What watching a sweep costs it: the same sweep's wall time alone and with each part of the live view running
beside it — `python -m analysis RUN --watch SECONDS` rewriting the report, a TensorBoard server reading the trials'
event files (`python -m analysis tensorboard`), `--mlflow` logging every epoch to a real MLflow tracking server
(SQLite) on this machine — and with all three, side by side in one run, alternating the order.

    python bench/live_view.py [--rounds 2] [--every 5] [--ways alone,watch,tensorboard,mlflow,all]

The sweep: demo data, the smoke budget, 3 jobs (finetune and finetune_aug on animals with resnet18, a GRU on spam).
Every process of the live view runs on the sweep's own machine here (2 cores): on a cluster they would share the
head node only, so this is the worst case. `--every 5` is twelve times the default refresh (60 s).
"""
from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)

from sweeps.cluster.processes import end_tree
from tests.servers import free_port, mlflow_server

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["--local", "--datasets", "animals,spam", "--models", "resnet18,gru", "--methods",
         "finetune,finetune_aug,recurrent", "--budget", "smoke", "--weights", "random"]


def sweep_seconds(storage: Path, extra: list[str]) -> float:
    """The sweep's own figure ("sweep finished in N s"), which leaves out the interpreter's start."""
    done = subprocess.run([sys.executable, str(ROOT / "sweeps" / "matrix.py"), *SWEEP, "--storage", str(storage),
                           "--sweep-id", "s", *extra], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    found = re.search(r"sweep finished in (\d+)s", done.stdout)
    if done.returncode or not found:
        sys.exit(f"error: sweep failed: {(done.stdout + done.stderr).strip().splitlines()[-3:]}")
    return float(found.group(1))


PARTS = ("watch", "tensorboard", "mlflow")
WAYS = {"alone": (), "watch": ("watch",), "tensorboard": ("tensorboard",), "mlflow": ("mlflow",), "all": PARTS}


def viewed_seconds(storage: Path, parts: tuple[str, ...], every: float) -> float:
    """The sweep with these parts of the live view beside it."""
    run = storage / "s"
    (run / "tune").mkdir(parents=True)
    commands = {"watch": ["-m", "analysis", str(run), "--watch", str(every)],
                "tensorboard": ["-m", "analysis", "tensorboard", str(run), "--port", str(free_port())]}
    with contextlib.ExitStack() as stack:
        extra = ["--mlflow", stack.enter_context(mlflow_server(storage))] if "mlflow" in parts else []
        for part in parts:
            if part in commands:
                proc = subprocess.Popen([sys.executable, *commands[part]], cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                stack.callback(end_tree, proc.pid)
        time.sleep(3 if parts else 0)
        return sweep_seconds(storage, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="sweeps per way, alternating the order")
    parser.add_argument("--every", type=float, default=5.0, help="--watch's refresh in seconds")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"which of {', '.join(WAYS)} (alone is always run)")
    args = parser.parse_args()
    ways = ["alone"] + [w for w in args.ways.split(",") if w in WAYS and w != "alone"]
    times: dict[str, list[float]] = {way: [] for way in ways}
    for i in range(args.rounds):
        for way in (ways if i % 2 == 0 else ways[::-1]):
            seconds = viewed_seconds(Path(tempfile.mkdtemp(prefix="live_view_")), WAYS[way], args.every)
            times[way].append(seconds)
            print(f"round {i + 1}: {way:<12} {seconds:.0f} s", flush=True)
    alone = statistics.median(times["alone"])
    print(f"sweep wall time, median of {args.rounds} (--watch every {args.every:g} s):")
    for way in ways:
        median = statistics.median(times[way])
        print(f"  {way:<12} {median:5.0f} s  {median / alone:.2f}x")


if __name__ == "__main__":
    main()
