"""Ending processes by PID: a local Ray cluster's, and only them: those whose command line names the cluster's own temp
dir (each daemon and `ray start` carries it), and their descendants (workers retitle themselves `ray::...` and lose
their arguments) — never `ray stop`, which ends every Ray process on the machine, and never this process or its
ancestors (a driver may end its own cluster), used by sweeps.cluster.loopback and sweeps.cluster.autoscaling; and a
server a command started (`end_tree`: TensorBoard, MLflow, their workers)."""
from __future__ import annotations

import contextlib
import os
import re


def cluster_processes(mark: re.Pattern) -> list:
    """The live processes (psutil.Process) whose command line matches `mark`, and their descendants."""
    import psutil

    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            command = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] != psutil.STATUS_ZOMBIE and mark.search(command):
                found |= {p.pid: p for p in [proc, *proc.children(recursive=True)]}
        except psutil.Error:
            continue  # ended while we looked
    return [p for pid, p in sorted(found.items()) if pid not in spared and alive(p)]


def alive(proc) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_processes(mark: re.Pattern, grace: float = 5) -> int:
    """SIGTERM the matching processes, SIGKILL what is left after `grace` seconds; again for any started meanwhile
    (an autoscaler may be starting a worker). Returns how many were ended."""
    ended = 0
    for _ in range(5):
        procs = cluster_processes(mark)
        if not procs:
            return ended
        end_all(procs, grace)
        ended += len(procs)
    return ended


def end_all(procs: list, grace: float) -> None:
    """SIGTERM each of `procs` (psutil.Process), SIGKILL those left after `grace` seconds, and reap them."""
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, left = psutil.wait_procs(procs, timeout=grace)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)


def end_tree(pid: int, grace: float = 15) -> None:
    """End a process this program started, and everything it started in turn (a server's workers), by PID:
    SIGTERM, then SIGKILL what is left after `grace` seconds."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = root.children(recursive=True) + [root]
    except psutil.Error:
        return  # already gone
    end_all(family, grace)
