"""A sweep on a real single-node Slurm (scripts/slurm_single_node.sh, started and stopped here; root), measured:

- sbatch to the first trial running: `groupsweep slurm --submit` run, then the first trial's start (its row's
  started_utc); split into Slurm's part (submission to the job's start) and the job's own (its status check, Ray
  head, driver start-up, up to the trial). Each of --repeats submissions is cancelled once its first trial runs;
  the figures are medians.
- each job boundary of a chain of two-minute jobs (--stop-before 40) over a sweep of about three jobs' work (the
  Slurm tests' budget with --epochs per trial: two LSTM trials on real text, capped, one after the other): seconds
  from the warning signal to the job's end, from that end to the next job's start, and from there to its first
  trial running; completed epochs trained twice (an epoch in a trial's history when a job ended whose entry
  differs, or is gone, at the end); jobs used.

    python bench/slurm_chain.py [--repeats 3] [--chain 5] [--epochs 100] [--requeue]

With --requeue, the same sweep again as one job that requeues itself (`groupsweep slurm --requeue`).

Needs the course's text files beside the project (../shared/data/text) for the chain.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)
import pandas as pd

from core import ledger
from sweeps.interrupt import RESUME_HINT
from sweeps.cluster import slurm_local
from tests.clusters import rows  # each row file read whole, as the harness reads them
from trainables.trial import LOGICAL_GPUS_ENV

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GROUPSWEEP_SHARED_DATA", ROOT.parent / "shared" / "data")) / "text"
ONE_JOB = ["--gpus-per-node", "1", "--cpus-per-node", "1"]


def submit(env: dict, where: Path, job: list[str], sweep: list[str]) -> tuple[float, list[str]]:
    """(when the command started, the job ids it printed) of `groupsweep slurm JOB --submit -- SWEEP`."""
    where.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    done = subprocess.run([sys.executable, "-m", "groupsweep", "slurm", *job, "--submit", "--", *sweep], cwd=where,
                          env=os.environ | env | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"groupsweep slurm failed: {done.stdout}{done.stderr}")
    return t0, re.search(r"submitted: job (\d+(?:, \d+)*)", done.stdout)[1].split(", ")


def epoch_s(utc: str) -> float:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp()


def first_trial(env: dict, where: Path, repeat: int) -> dict[str, float]:
    """One submission of a Part 2 demo sweep until its first trial runs, then scancel."""
    sweep_dir = where / "runs" / "s"
    t0, (job,) = submit(env, where, ONE_JOB + ["--time", "10"],
                        ["--part", "2", "--groups", "1", "--budget", "smoke", "--gpus-per-trial", "1", "--storage",
                         str(where / "runs"), "--sweep-id", "s"])
    while (frame := rows(sweep_dir)).empty:
        time.sleep(0.2)
    started = min(map(epoch_s, frame["started_utc"]))
    job_start = epoch_s(slurm_local.job_info(env, job)["StartTime"] + "+00:00")
    subprocess.run(["scancel", job], env=os.environ | env, check=True)
    slurm_local.wait_ended(env, [job], timeout=120)
    figures = {"total": started - t0, "slurm": job_start - t0, "job": started - job_start}
    print(f"  submission {repeat + 1}: sbatch -> first trial running {figures['total']:.1f} s (Slurm "
          f"{figures['slurm']:.1f} s, the job {figures['job']:.1f} s)", flush=True)
    return figures


def budget(where: Path, epochs: int) -> Path:
    """The Slurm tests' budget with `epochs` per trial."""
    import yaml

    raw = yaml.safe_load((ROOT / "tests" / "budgets" / "slurm.yaml").read_text())
    raw["methods"]["recurrent"]["max_epochs"] = epochs
    path = where / "slurm_bench.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def logs(where: Path) -> str:
    """Every job's output, in job order (a requeued job's restarts are appended to its one file)."""
    files = sorted((where / "slurm" / "logs").glob("*.out"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))
    return "".join(f.read_text() for f in files)


def continued(env: dict, where: Path, epochs: int, how: list[str]) -> None:
    """A sweep of several two-minute jobs' work, continued `how` (--chain N or --requeue): each boundary from the
    warning to the next run's start and first trial; completed epochs trained twice."""
    storage = where / "runs"
    sweep_dir = storage / "s"
    where.mkdir(parents=True, exist_ok=True)
    t0, ids = submit(env, where, ONE_JOB + ["--time", "2", "--stop-before", "40", *how],
                     ["--part", "2", "--groups", "1", "--budget", str(budget(where, epochs)), "--data-root",
                      str(DATA), "--weights", "random", "--storage", str(storage), "--sweep-id", "s"])
    starts: set[float] = set()  # every trial start seen while the jobs run
    snapshots: list[dict[str, pd.DataFrame]] = []  # the histories each time a driver had stopped
    while any(slurm_local.job_info(env, job).get("JobState") not in slurm_local.ENDED for job in ids):
        frame = rows(sweep_dir)
        starts |= set(map(epoch_s, frame.get("started_utc", [])))
        if logs(where).count(RESUME_HINT) > len(snapshots):
            snapshots.append({p.stem: pd.read_parquet(p) for p in (sweep_dir / "history").glob("*.parquet")})
        time.sleep(0.3)
    text, final = logs(where), rows(sweep_dir)
    print(f"{' '.join(how)}, two-minute jobs, two {epochs}-epoch trials: {len(final)} rows, "
          f"{', '.join(sorted(set(final['status'])))}, epochs {sorted(set(final['epochs']))}; "
          f"{text.count('Ray runtime started')} run(s) of Ray in {len(ids)} job(s)", flush=True)
    runs = [epoch_s(t) for t in re.findall(r"^job \d+ on .*\(restart \d+\), (\S+Z)$", text, re.M)]
    for warned in re.findall(r"(\S+Z): time limit near \(USR1\)", text):
        stop = epoch_s(warned)
        start = min(t for t in runs if t > stop)
        first = min((t for t in starts if t >= start), default=float("nan"))
        print(f"  boundary at {warned}: warning -> next run's start {start - stop:.0f} s -> its first trial "
              f"running {first - stop:.0f} s", flush=True)
    retrained = 0
    for snapshot in snapshots:
        for trial_id, history in snapshot.items():
            kept = pd.read_parquet(ledger.history_path(sweep_dir, trial_id)).set_index("epoch")
            before = history.set_index("epoch")["items_per_s"]
            retrained += int((kept["items_per_s"].reindex(before.index) != before).sum())
    print(f"completed epochs trained twice: {retrained}")
    print(f"submitted {datetime.fromtimestamp(t0).isoformat(timespec='seconds')}; sweep finished, every trial ok "
          f"once: {(final['status'] == 'ok').all() and len(final) == 2}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chain", type=int, default=5, help="jobs in the chain (0: none)")
    parser.add_argument("--requeue", action="store_true", help="also the same sweep as one job that requeues itself")
    parser.add_argument("--epochs", type=int, default=100, help="per trial (the tests' budget has 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slurm-bench-") as folder:
        env = slurm_local.start(Path(folder) / "slurm") | {LOGICAL_GPUS_ENV: "1"}
        try:
            runs = [first_trial(env, Path(folder) / f"first-{i}", i) for i in range(args.repeats)]
            if runs:
                medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                print(f"sbatch -> first trial running: median {medians['total']:.1f} s of {args.repeats} (Slurm "
                      f"{medians['slurm']:.1f} s, the job {medians['job']:.1f} s)", flush=True)
            if args.chain:
                continued(env, Path(folder) / "chain", args.epochs, ["--chain", str(args.chain)])
            if args.requeue:
                continued(env, Path(folder) / "requeue", args.epochs, ["--requeue"])
        finally:
            slurm_local.stop(Path(folder) / "slurm")


if __name__ == "__main__":
    main()
