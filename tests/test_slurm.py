"""Sweeps as Slurm jobs on a real Slurm (scripts/slurm_single_node.sh: Debian's slurmctld, slurmd and munge, this
machine the controller and the one compute node, two logical GPUs), launched as a teaching assistant would:
`groupsweep slurm ... --submit -- RUN_OPTIONS`. Needs root (the script installs and starts the daemons; .ci/run does
the same); the daemons are this module's, ended by PID after.

What one node cannot prove: separate machines (`srun` starting Ray workers on other nodes, the head's address
reached over a real network, a node lost mid-job), a shared filesystem's semantics (every job here reads and writes
one local disk, so what a cluster's NFS or Lustre does between nodes is not exercised), and a site's own Slurm
(cgroups, accounting, preemption, a busy scheduler's delays)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core import ledger
from sweeps.cluster import slurm_local
from tests.clusters import rows, wait_for
from tests.conftest import ROOT, SHARED_DATA, TINY, own_cpus
from trainables.trial import LOGICAL_GPUS_ENV

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="a single-node Slurm installs and starts its daemons: needs root"),
]
SLURM_BUDGET = ROOT / "tests" / "budgets" / "slurm.yaml"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """The environment of a user of this module's Slurm: its config, and logical GPUs for the trials."""
    folder = tmp_path_factory.mktemp("slurm")
    with own_cpus():
        try:
            yield slurm_local.start(folder) | {LOGICAL_GPUS_ENV: "1"}
        finally:
            slurm_local.stop(folder)


def submit(slurm: dict, where: Path, job: list[str], sweep: list[str]) -> list[str]:
    """`groupsweep slurm JOB --submit -- SWEEP` in `where` (a TA's course folder); the job ids it printed."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "groupsweep", "slurm", *job, "--submit", "--", *sweep], cwd=where,
                          env=os.environ | slurm | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return re.search(r"submitted: job (\d+(?:, \d+)*)", done.stdout)[1].split(", ")


def log(where: Path, job_id: str) -> str:
    return next((where / "slurm" / "logs").glob(f"*-{job_id}.out")).read_text()


def job_processes(job_id: str) -> set[int]:
    """Every process under this job's slurmstepd processes (its batch shell, srun steps, Ray and its workers)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout.splitlines()
    parents, roots = {}, set()
    for line in table:
        pid, ppid, *args = line.split(None, 2)
        parents[int(pid)] = int(ppid)
        if args and args[0].startswith(f"slurmstepd: [{job_id}."):
            roots.add(int(pid))
    found = set(roots)
    while True:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        if not more:
            return found
        found |= more


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:  # ended meanwhile
        return ""


@pytest.mark.sweep
def test_two_sweeps_at_once_on_one_node_both_finish_on_the_gpus_slurm_gave(slurm, tmp_path):
    """Two TAs' sweeps submitted together share the node (one CPU and one GPU each): each job's own Ray (ports, temp
    dir, token) never meets the other's, both finish with every row ok, and each trial ran on the GPU Slurm gave its
    job (the rows' gpu_ids against the CUDA_VISIBLE_DEVICES the job's log shows). Not shown: real GPUs (these are
    logical: Slurm hands out device ids, the trials compute on the CPU), nor two jobs' Ray clusters on different
    nodes reaching each other's ports over a network."""
    job = ["--gpus-per-node", "1", "--cpus-per-node", "1", "--time", "10"]
    sweep = ["--part", "2", "--groups", "4", "--budget", str(TINY), "--gpus-per-trial", "1"]
    first = submit(slurm, tmp_path / "ta1", job, sweep + ["--storage", str(tmp_path / "ta1" / "runs")])[0]
    second = submit(slurm, tmp_path / "ta2", job, sweep + ["--storage", str(tmp_path / "ta2" / "runs")])[0]
    info = slurm_local.wait_ended(slurm, [first, second], timeout=400)
    assert info[first]["JobState"] == info[second]["JobState"] == "COMPLETED", info
    assert info[second]["StartTime"] < info[first]["EndTime"], "the jobs did not run at the same time"
    gpus = set()
    for ta, job_id in (("ta1", first), ("ta2", second)):
        text = log(tmp_path / ta, job_id)
        given = re.search(r"\(GPUs (\S+)\)", text)[1]
        frame = rows(tmp_path / ta / "runs" / "tiny-demo-P2G4")
        assert len(frame) == 2 and (frame["status"] == "ok").all(), text
        assert set(frame["gpu_ids"]) == {given}, (given, frame["gpu_ids"].tolist())
        gpus.add(given)
    assert gpus == {"0", "1"}, gpus  # one GPU each, not the same one


def sbatch(slurm: dict, where: Path, script: Path, *options: str) -> str:
    """`sbatch OPTIONS SCRIPT` in `where`, as a TA resubmits a written script; the job id."""
    done = subprocess.run(["sbatch", "--parsable", *options, str(script)], cwd=where, env=os.environ | slurm,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


@pytest.mark.sweep
@pytest.mark.skipif(not (SHARED_DATA / "text" / "sentiment").is_dir(), reason=f"real data not at {SHARED_DATA}")
def test_a_job_ended_by_its_time_limit_is_continued_by_the_next_without_rerunning_anything(slurm, tmp_path):
    """A two-minute job over a sweep longer than that (two 60-epoch trials one after the other): Slurm's warning
    before the limit stops its trials, and the job chained after it (the same script, submitted with a longer limit
    so that it ends the sweep on a loaded machine too) resumes them from their last checkpoint and finishes: every
    trial ok once — no finished trial rerun, no completed epoch trained twice (an epoch's history entry, items per
    second included, is the same at the end as when the first job stopped). A third job finds the sweep finished
    and ends before starting Ray. (Three two-minute jobs in a row over one sweep: bench/slurm_chain.py.) Not shown:
    a next job on other nodes than the one before, which reads the checkpoints through a shared filesystem (here
    the same local disk)."""
    job = ["--gpus-per-node", "1", "--cpus-per-node", "1", "--time", "2", "--stop-before", "40"]
    storage = tmp_path / "runs"
    sweep = ["--part", "2", "--groups", "1", "--budget", str(SLURM_BUDGET), "--data-root", str(SHARED_DATA / "text"),
             "--weights", "random", "--storage", str(storage), "--sweep-id", "chain"]
    first = submit(slurm, tmp_path, job, sweep)[0]
    script = tmp_path / "slurm" / "chain.sbatch"
    second = sbatch(slurm, tmp_path, script, "--time=10", f"--dependency=afterany:{first}")
    spare = sbatch(slurm, tmp_path, script, f"--dependency=afterany:{second}")
    sweep_dir = storage / "chain"
    info = slurm_local.wait_ended(slurm, [first], timeout=300)
    at_stop = {p.stem: pd.read_parquet(p) for p in (sweep_dir / "history").glob("*.parquet")}
    stopped = rows(sweep_dir)
    done_at = {t: f for t, f, s in zip(stopped["trial_id"], stopped["finished_utc"], stopped["status"])
               if s == "ok"} if len(stopped) else {}
    info |= slurm_local.wait_ended(slurm, [second, spare], timeout=600)
    logs = {j: log(tmp_path, j) for j in (first, second, spare)}

    assert "time limit near (USR1): stopping the sweep" in logs[first] and info[first]["ExitCode"] == "143:0", \
        logs[first][-2000:]
    assert any(len(history) for history in at_stop.values()), "the first job stopped before any epoch"
    assert "sweep finished in" in logs[second] and info[second]["JobState"] == "COMPLETED", logs[second][-2000:]
    assert "; finished" in logs[spare] and "Ray runtime started" not in logs[spare], logs[spare]
    assert info[spare]["RunTime"] <= "00:00:20", info[spare]
    final = rows(sweep_dir)
    assert len(final) == 2 and (final["status"] == "ok").all() and (final["epochs"] == 60).all(), final
    assert final["error"].isna().all(), final["error"]  # (`retries` counts each job that resumed a trial)
    for trial_id, history in at_stop.items():
        kept = pd.read_parquet(ledger.history_path(sweep_dir, trial_id)).set_index("epoch")
        before = history.set_index("epoch")
        assert before["items_per_s"].equals(kept.loc[before.index, "items_per_s"]), \
            f"{trial_id}: an epoch its history showed when the first job ended was trained again"
    # a trial finished in the first job kept its row: finished once, never rerun
    assert {t: f for t, f in zip(final["trial_id"], final["finished_utc"]) if t in done_at} == done_at


@pytest.mark.sweep
def test_scancel_leaves_no_process_of_the_job(slurm, tmp_path):
    """`scancel` while trials run: Slurm's SIGTERM reaches the batch shell, which stops the driver and ends the job's
    Ray by PID; nothing of the job — its Ray head, raylet, workers, driver — is left on the node. Not shown: the
    worker nodes' `ray start` (a one-node job has none), ended the same way through their `srun` steps."""
    job = ["--gpus-per-node", "1", "--cpus-per-node", "1", "--time", "10"]
    sweep = ["--part", "2", "--budget", str(TINY), "--storage", str(tmp_path / "runs"), "--sweep-id", "cancelled"]
    job_id = submit(slurm, tmp_path, job, sweep)[0]
    trials = tmp_path / "runs" / "cancelled" / "trials"
    wait_for(lambda: True if trials.is_dir() and any(trials.glob("*.parquet")) else None, "the job's first trial row",
             timeout=240)
    processes = job_processes(job_id)
    assert "raylet" in " ".join(command_line(pid) for pid in processes), "the job's Ray is not under its slurmstepd"
    subprocess.run(["scancel", job_id], env=os.environ | slurm, check=True, timeout=30)
    slurm_local.wait_ended(slurm, [job_id], timeout=120)
    left = wait_for(lambda: None if {p for p in processes if os.path.exists(f"/proc/{p}")} else True,
                    "the job's processes to end", timeout=60)
    assert left
    assert "SIGTERM (scancel, or the time limit): stopping the sweep" in log(tmp_path, job_id)
