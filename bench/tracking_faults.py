"""What a tracking server in trouble costs a sweep: the same sweep's wall time without --mlflow and with --mlflow
pointed at a healthy MLflow server, one killed by PID mid-sweep, a loopback socket that accepts and never answers,
and a server behind a proxy that freezes mid-sweep — side by side in one run, alternating the order — with the
warning lines each printed and its trials' outcome; then how long a closed port takes to be refused.

    python bench/tracking_faults.py [--rounds 2] [--ways plain,healthy,killed,silent,frozen]

The sweep: demo data, the smoke budget, 3 jobs (finetune and finetune_aug on animals with resnet18, a GRU on spam:
both frameworks). Times are each command's own wall time, start to exit (the server probe included). "Mid-sweep":
once the server holds a trial's first epoch. Every server runs on the sweep's own machine (2 cores here).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)

from sweeps.tracking.mlflow_log import experiment_name
from tests.servers import FreezingProxy, SilentServer, free_port, kill_tree, mlflow_server, until_tracked

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["--local", "--datasets", "animals,spam", "--models", "resnet18,gru", "--methods",
         "finetune,finetune_aug,recurrent", "--budget", "smoke", "--weights", "random"]
WAYS = ("plain", "healthy", "killed", "silent", "frozen")


def start(storage: Path, extra: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "sweeps" / "matrix.py"), *SWEEP, "--storage", str(storage),
                             "--sweep-id", "s", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.t0 = time.monotonic()
    return proc


def ended(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=1800)
    wall = time.monotonic() - proc.t0
    ok = [line for line in out.splitlines() if line.startswith("sweep finished")]
    warnings = [line for line in err.splitlines() if line.startswith("warning: --mlflow")]
    return {"wall": wall, "code": proc.returncode, "outcome": ok[-1].split(": ", 1)[-1] if ok else "?",
            "warnings": warnings}


def run_way(way: str, storage: Path) -> dict:
    """One sweep the given way."""
    with contextlib.ExitStack() as stack:
        if way == "plain":
            return ended(start(storage, []))
        if way == "silent":
            silent = stack.enter_context(SilentServer())
            return ended(start(storage, ["--mlflow", f"http://127.0.0.1:{silent.port}"]))
        uri = stack.enter_context(mlflow_server(storage))
        if way == "healthy":
            return ended(start(storage, ["--mlflow", uri]))
        if way == "killed":
            proc = start(storage, ["--mlflow", uri])
            until_tracked(uri, experiment_name("s"), proc)
            kill_tree(uri.pid)
            return ended(proc)
        proxy = stack.enter_context(FreezingProxy(("127.0.0.1", int(uri.rsplit(":", 1)[1]))))
        proc = start(storage, ["--mlflow", f"http://127.0.0.1:{proxy.port}"])
        until_tracked(uri, experiment_name("s"), proc)
        proxy.freeze()
        return ended(proc)


def refusal_seconds(storage: Path) -> tuple[float, str]:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "sweeps" / "matrix.py"), *SWEEP, "--storage", str(storage),
                           "--mlflow", f"http://127.0.0.1:{free_port()}"], cwd=ROOT, capture_output=True, text=True)
    return time.monotonic() - t0, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ways", default=",".join(WAYS))
    args = parser.parse_args()
    ways = args.ways.split(",")
    results: dict[str, list[dict]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory(prefix="tracking_faults_") as tmp:
        for round_ in range(args.rounds):
            for way in ways if round_ % 2 == 0 else ways[::-1]:
                storage = Path(tmp) / f"{way}-{round_}"
                storage.mkdir()
                results[way].append(run_way(way, storage))
                last = results[way][-1]
                print(f"round {round_ + 1} {way:<8} {last['wall']:6.1f} s  exit {last['code']}  {last['outcome']}  "
                      f"{len(last['warnings'])} warning line(s)", flush=True)
        refused, line = refusal_seconds(Path(tmp) / "closed")
    plain = statistics.median(r["wall"] for r in results.get("plain", [])) if "plain" in results else None
    print(f"\n{'way':<8} {'median s':>9} {'ratio':>6}  warning lines (one run)")
    for way, runs in results.items():
        median = statistics.median(r["wall"] for r in runs)
        ratio = f"{median / plain:.2f}x" if plain else "-"
        print(f"{way:<8} {median:9.1f} {ratio:>6}  {runs[-1]['warnings'][:1] or ['none']}")
    print(f"\nclosed port refused in {refused:.1f} s: {line}")


if __name__ == "__main__":
    main()
