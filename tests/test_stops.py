"""Hard stops: SIGTERM ends a sweep as cleanly as Ctrl-C, and what it leaves behind resumes without rerunning a
finished trial; one driver per sweep (a lock with a heartbeat, on a folder and on S3)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps.lock import DriverLock, LockHeld, lock_location
from tests.clusters import rows
from tests.conftest import ROOT, TINY, run_cli, run_main
from tests.test_bad_input import assert_one_line_error
from core import store


def start_sweep(storage: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--local", "--part", "2",
                             "--budget", str(TINY), "--storage", str(storage), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_finished(sweep_dir: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until n trials finished: a running trial's row is rewritten each epoch (`running` until its last), so a row
    file alone is not a finished trial."""
    deadline = time.time() + timeout
    while (frame := rows(sweep_dir)).empty or int((frame["status"] == "ok").sum()) < n:
        assert proc.poll() is None and time.time() < deadline, f"the sweep ended before {n} trial(s) finished"
        time.sleep(0.2)


@pytest.mark.sweep
def test_sigterm_mid_sweep_stops_cleanly_and_resume_reruns_nothing_finished(tmp_path):
    """What `timeout`, `kill`, Slurm and Kubernetes send: trials stop, rows stay, exit 143 with one line (not Ray's
    C++ stack dump), and --resume runs only what had not finished. While the first driver runs, a second one on
    the same sweep is refused, naming it."""
    storage = tmp_path / "runs"
    proc = start_sweep(storage)
    trials = storage / "tiny-demo-part2" / "trials"
    wait_for_finished(trials.parent, 1, proc)  # so SIGTERM leaves a finished trial to keep
    second = start_sweep(storage, "--resume")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 2 and err.count("\n") == 1, out + err
    assert err.startswith("error: sweep tiny-demo-part2 is being run by another driver (host ") and \
        f"pid {proc.pid}, started " in err, err
    assert proc.poll() is None, "the first driver finished before the second was refused: lengthen the sweep"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "interrupted; finished trials are kept: rerun with --resume" in err.splitlines()[-1]
    assert "SIGTERM received" not in err and "PC: @" not in err and "Traceback" not in err, err
    status = {p.name: pd.read_parquet(p)["status"].iloc[0] for p in trials.glob("*.parquet")}
    kept = {name: (trials / name).stat().st_mtime_ns for name, s in status.items() if s == "ok"}
    # stopped mid-way: some trials finished, the rest never started or were stopped mid-run (their row says running)
    assert 1 <= len(kept) < 8 and set(status.values()) <= {"ok", "running"}, status

    again = start_sweep(storage, "--resume")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err
    assert f"8 trials ({len(kept)} already finished)" in out and "8/8 jobs done" in out, out
    assert {p.name: p.stat().st_mtime_ns for p in trials.glob("*.parquet") if p.name in kept} == kept


@pytest.fixture(params=["folder", "s3"])
def storage(request, tmp_path):
    """Where the lock lives: a folder, or a real S3 API (moto's server on loopback) holding it as an object."""
    return str(tmp_path / "runs") if request.param == "folder" else request.getfixturevalue("s3_bucket")


def plant(storage: str, **holder) -> None:
    """A lock as another driver would have left it."""
    base = dict(sweep_id="s", host=socket.gethostname(), pid=os.getpid(), started_utc="2026-11-27 00:00:00 UTC",
                token="theirs", beat=0)
    store.write_text(json.dumps(base | holder), lock_location(storage, "s"))


def test_a_live_driver_on_this_host_keeps_its_sweep(storage):
    plant(storage)  # this test's own pid: alive
    with pytest.raises(LockHeld, match=rf"sweep s is being run by another driver \(host {socket.gethostname()}, "
                                       rf"pid {os.getpid()}, started 2026-11-27 00:00:00 UTC; lock .*s.lock\)"):
        DriverLock(storage, "s").acquire()


def test_a_dead_drivers_lock_is_taken_over_and_released_after(storage, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    plant(storage, pid=int(dead.stdout))
    with DriverLock(storage, "s") as lock:
        assert lock.read().token == lock.me.token
    assert "taking over the lock of a driver that no longer runs" in capsys.readouterr().out
    assert store.read_text(lock_location(storage, "s")) is None


def test_another_hosts_lock_is_judged_by_its_heartbeat_not_its_clock(storage):
    """Elsewhere, a lock whose heartbeat moves is held; one whose heartbeat stands still is stale (what a single
    machine cannot show: two hosts taking over one stale lock in the same instant, see sweeps.lock)."""
    plant(storage, host="elsewhere", pid=1)
    stop = threading.Event()

    def beat():
        n = 0
        while not stop.wait(0.1):
            n += 1
            plant(storage, host="elsewhere", pid=1, beat=n)

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        with pytest.raises(LockHeld, match="host elsewhere, pid 1"):
            DriverLock(storage, "s", heartbeat_s=0.3).acquire()
    finally:
        stop.set()
        beating.join()
    with DriverLock(storage, "s", heartbeat_s=0.3) as lock:  # the heartbeat stopped: stale after three beats
        time.sleep(0.8)
        assert lock.read().beat >= 1 and lock.read().host == socket.gethostname()


def analysis_main(*args: str) -> subprocess.CompletedProcess:
    """`python -m analysis ARGS` as its entry point runs it (exit code, what it printed), in this process."""
    import contextlib
    import io

    from analysis.__main__ import entry

    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        saved, sys.argv = sys.argv, ["analysis", *args]
        try:
            entry()
        except SystemExit as exc:
            code = exc.code or 0
        finally:
            sys.argv = saved
    return subprocess.CompletedProcess(["analysis", *args], code, out.getvalue(), err.getvalue())


@pytest.mark.sweep
def test_resume_refuses_another_plan_and_names_damaged_files(tmp_path):
    """--resume with other options than the stored plan refuses, naming the fields; a damaged row file is named,
    removed and its trial rerun; a damaged sweep.json is named by --resume and by the analysis."""
    storage = tmp_path / "runs"
    args = ("--local", "--part", "2", "--groups", "1", "--budget", str(TINY), "--storage", str(storage))
    assert run_cli(*args).returncode == 0
    sweep = storage / "tiny-demo-P2G1"
    plan = sweep / "sweep.json"

    # refusals end before Ray starts: the commands' own main() in this process (run_main), not a child's
    assert_one_line_error(run_main(*args, "--resume", "--weights", "imagenet"),
                          f"{plan}: --resume with another weights random -> imagenet than the stored plan")
    other = ("--local", "--part", "2", "--groups", "2", "--budget", str(TINY), "--storage", str(storage))
    assert_one_line_error(run_main(*other, "--resume", "--sweep-id", "tiny-demo-P2G1", "--seed", "3"),
                          "another seed 0 -> 3; groups 1 (P2G1) -> 1 (P2G2); jobs 2 (p2-sentiment-lstm-recurrent,",
                          "--fresh to start over, or --sweep-id NAME")

    row = sorted((sweep / "trials").glob("*.parquet"))[0]
    row.write_bytes(b"PAR1 damaged")
    assert_one_line_error(analysis_main(str(sweep)), f"{row}: unreadable Parquet")
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0 and "2 trials (1 already finished)" in resumed.stdout, resumed.stderr
    assert f"warning: {row}: unreadable Parquet" in resumed.stderr and "removed, its trial runs again" in \
        resumed.stderr
    assert pd.read_parquet(row)["status"].iloc[0] == "ok"

    plan.write_text('{"sweep_id": "tiny-demo-P2G1", "jobs": [')
    assert_one_line_error(run_main(*args, "--resume"), f"{plan}: damaged, not a sweep plan (JSONDecodeError")
    assert_one_line_error(analysis_main(str(sweep)), f"{plan}: not valid JSON")
