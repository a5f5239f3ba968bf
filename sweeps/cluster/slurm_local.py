"""A real Slurm on this one machine (scripts/slurm_single_node.sh) and what a test or a bench asks of it: start it in a
folder of its own, read a job's state as `scontrol` shows it, wait for jobs to end, stop it (its daemons only, by
PID). `groupsweep slurm` itself needs none of this: on a cluster, the site runs Slurm."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm_single_node.sh"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path) -> dict[str, str]:
    """Start it (installing Debian's packages when missing; root); returns the environment its users need."""
    ports = {"SLURMCTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port())}
    done = subprocess.run([str(SCRIPT), "start", str(folder)], env=os.environ | ports, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} start {folder}: {(done.stderr or done.stdout).strip()}")
    return {"SLURM_CONF": str(folder / "slurm.conf")}


def stop(folder: Path) -> None:
    subprocess.run([str(SCRIPT), "stop", str(folder)], timeout=60)


def job_info(env: dict[str, str], job_id: str) -> dict[str, str]:
    """`scontrol show job` as fields (JobState, ExitCode, RunTime, StartTime, EndTime ...)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=os.environ | env, capture_output=True,
                         text=True, timeout=30).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def wait_ended(env: dict[str, str], job_ids: list[str], timeout: float) -> dict[str, dict[str, str]]:
    """Each job's fields once every one of them has ended."""
    deadline = time.time() + timeout
    while True:
        info = {job: job_info(env, job) for job in job_ids}
        if all(i.get("JobState") in ENDED for i in info.values()):
            return info
        if time.time() > deadline:
            raise TimeoutError(f"jobs {', '.join(job_ids)} still running after {timeout:.0f} s: "
                               f"{ {j: i.get('JobState') for j, i in info.items()} }")
        time.sleep(0.5)
