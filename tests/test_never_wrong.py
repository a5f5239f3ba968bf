"""A result is right or refused, never quietly wrong (#25): each situation a course meets — odd image formats, classes
too small for the splits, strangers in the results folder, a storage that fills up, a lock in the way, damaged
weights, typos — through the real CLI, with the exact outcome and nothing else in the storage changed.

What one machine cannot show: the storage here is a tmpfs on the driver's own machine, which the trials share; on a
cluster each node's writes fail on its own, and a bucket's refusals come as the store's error text, not an errno."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, TINY


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time: what a refused command must leave as it was."""
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def small_disk(tmp_path):
    """A 96 MB tmpfs of this test's own (the suite runs as root, as the loopback cluster's sshd needs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); run the suite as root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros into one file until the disk has no byte left; returns the file (remove it to free the disk)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:  # unbuffered: nothing left to fail at close
        for size in (1 << 20, 4096, 1):
            try:
                while handle.write(b"\0" * size):
                    pass
            except OSError:
                continue
    return filler


def ok_rows(trials: Path) -> dict[str, int]:
    out = {}
    for path in trials.glob("*.parquet"):
        try:
            if pd.read_parquet(path)["status"].iloc[0] == "ok":
                out[path.name] = path.stat().st_mtime_ns
        except Exception:  # noqa: BLE001 - a row being replaced: read it next time
            continue
    return out


def test_a_full_disk_mid_sweep_is_a_clean_stop_and_resume_finishes(small_disk, demo_root):
    """The storage fills while trials run: one `error:` line naming the path and ENOSPC, exit 75, the lock
    released, every finished row intact; once space is back, --resume runs the rest to the end."""
    storage = small_disk / "runs"
    args = [sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--local", "--part", "2", "--budget", str(TINY),
            "--data-root", str(demo_root), "--weights", "random", "--storage", str(storage), "--sweep-id", "full"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trials = storage / "full" / "trials"
    deadline = time.time() + 300
    while not ok_rows(trials):
        assert proc.poll() is None and time.time() < deadline, "the sweep ended before a trial finished"
        time.sleep(0.2)
    filler = fill(small_disk)
    kept = ok_rows(trials)
    out, err = proc.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 75, out + err
    assert "Traceback" not in err and [line for line in lines if line.startswith("error:")] == lines[-1:], err
    assert lines[-1].startswith(f"error: the storage refused a write: {storage}/") and \
        "no space left on device (ENOSPC); the sweep stopped and its finished trials are kept: free space (or make " \
        "the storage writable) and rerun with --resume" in lines[-1], lines[-1]
    assert not (storage / ".full.lock").exists()
    assert {name: mtime for name, mtime in ok_rows(trials).items() if name in kept} == kept
    assert len(kept) < 8, "every trial finished before the disk filled: nothing was stopped"

    filler.unlink()
    again = subprocess.run([*args, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "8/8 jobs done" in again.stdout, again.stdout
    assert {name: mtime for name, mtime in ok_rows(trials).items() if name in kept} == kept
