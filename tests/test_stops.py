"""Hard stops: SIGTERM ends a sweep as cleanly as Ctrl-C, and what it leaves behind resumes without rerunning a
finished trial."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tests.conftest import ROOT, TINY


def start_sweep(storage: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--local", "--part", "2",
                             "--groups", "1,2,3,4", "--budget", str(TINY), "--storage", str(storage), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(trials: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while len(list(trials.glob("*.parquet"))) < n:
        assert proc.poll() is None and time.time() < deadline, "the sweep ended before writing a row"
        time.sleep(0.2)


def test_sigterm_mid_sweep_stops_cleanly_and_resume_reruns_nothing_finished(tmp_path):
    """What `timeout`, `kill`, Slurm and Kubernetes send: trials stop, rows stay, exit 143 with one line (not Ray's
    C++ stack dump), and --resume runs only what had not finished."""
    storage = tmp_path / "runs"
    proc = start_sweep(storage)
    trials = storage / "tiny-demo-P2G1_P2G2_P2G3_P2G4" / "trials"
    wait_for_rows(trials, 1, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "interrupted; finished trials are kept: rerun with --resume" in err.splitlines()[-1]
    assert "SIGTERM received" not in err and "PC: @" not in err and "Traceback" not in err, err
    status = {p.name: pd.read_parquet(p)["status"].iloc[0] for p in trials.glob("*.parquet")}
    kept = {name: (trials / name).stat().st_mtime_ns for name, s in status.items() if s == "ok"}
    # stopped mid-way: some trials finished, the rest never started or were stopped mid-run (their row says running)
    assert 1 <= len(kept) < 4 and set(status.values()) <= {"ok", "running"}, status

    again = start_sweep(storage, "--resume")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err
    assert f"4 trials ({len(kept)} already finished)" in out and "4/4 cells done" in out, out
    assert {p.name: p.stat().st_mtime_ns for p in trials.glob("*.parquet") if p.name in kept} == kept
