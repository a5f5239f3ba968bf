"""A real cluster on this machine (cluster.local.yaml: `ray up` over SSH to 127.0.0.x, a head and two workers
with logical GPUs) and the faults a long sweep meets on one: trials spread over both workers, data copied to each
worker once, the driver killed with SIGKILL and rerun with --resume, and a GPU trial on a node whose framework sees
no GPU. (A worker killed mid-trial is tests/test_autoscaling.py's: two at once, with --max-failures 0.)

The set-up needs root (it installs and starts sshd on loopback; .ci/run does the same). The cluster is this
module's: `loopback.down` ends its processes only (found by its nodes' temp dirs), which the last test checks.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from core.results import load_manifest, load_trials
from sweeps.cluster import loopback
from tests.clusters import epochs_of, ledger_still, rows, running_at, wait_for
from tests.conftest import ROOT, SHARED_DATA, own_cpus
from core import ledger
from trainables.trial import LOGICAL_GPUS_ENV

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the loopback cluster installs and starts sshd: needs root"),
    pytest.mark.skipif(not (SHARED_DATA / "text" / "sentiment").is_dir(), reason=f"real data not at {SHARED_DATA}"),
]
BUDGET = ROOT / "tests" / "budgets" / "cluster.yaml"
EPOCHS = 30  # a sentiment trial of that budget


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.shutdown()  # an earlier test's local Ray would only take CPUs the workers need
    with own_cpus():
        ready_s = loopback.up()
        print(f"loopback cluster ready {ready_s:.1f} s after ray up started")
        yield loopback.nodes()
        loopback.down()


def driver(storage: Path, datasets: str, *extra: str, logical_gpus: bool = True) -> list[str]:
    """The command line of a sweep driver on the loopback cluster, one gru job per dataset."""
    return [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--address", loopback.HEAD, "--datasets", datasets,
            "--models", "gru", "--methods", "recurrent", "--budget", str(BUDGET), "--data-root",
            str(SHARED_DATA / "text"), "--weights", "random", "--storage", str(storage), "--sweep-id", "s",
            "--gpus-per-trial", "1", *extra]


def env(logical_gpus: bool = True) -> dict[str, str]:
    base = {k: v for k, v in loopback.cluster_env().items() if k != LOGICAL_GPUS_ENV}
    return base | ({LOGICAL_GPUS_ENV: "1"} if logical_gpus else {})


def test_cluster_is_a_head_and_two_gpu_workers(cluster):
    ips = sorted(n["ip"] for n in cluster)
    assert ips == ["127.0.0.10", "127.0.0.2", "127.0.0.3"]
    assert sorted(n["gpus"] for n in cluster) == [0, 1, 1]


def test_all_groups_runs_on_both_workers_writing_to_s3(cluster, s3_bucket, tmp_path):
    """`all_groups.py` for one Part 2 group (sentiment and questions, lstm) against the cluster, results in a
    bucket: the trials ran side by side on the two GPU workers and wrote their rows, plan and report there."""
    command = [sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--address", loopback.HEAD, "--part", "2",
               "--groups", "2", "--budget", str(BUDGET), "--data-root", str(SHARED_DATA / "text"), "--weights",
               "random", "--storage", s3_bucket, "--sweep-id", "s", "--gpus-per-trial", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    frame = load_trials(f"{s3_bucket}/s")
    assert list(frame["dataset"]) == ["questions", "sentiment"] and list(frame["status"]) == ["ok", "ok"]
    assert set(frame["node_ip"]) == {"127.0.0.2", "127.0.0.3"}  # one GPU each: the two trials ran side by side
    assert "jobs" in load_manifest(f"{s3_bucket}/s") and not (tmp_path / "runs").exists()


def test_driver_sigkill_then_resume(cluster, tmp_path):
    sweep_dir = tmp_path / "s"
    proc = subprocess.Popen(driver(tmp_path, "sentiment,questions"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env())

    def one_finished_one_running():
        frame = rows(sweep_dir)
        finished = not frame.empty and bool((frame["status"] == "ok").any())
        return True if finished and running_at(sweep_dir, "sentiment", 2) is not None else None

    wait_for(one_finished_one_running, "one finished and one checkpointed trial")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_for(lambda: ledger_still(sweep_dir, 3.0), "the dead driver's trials to stop writing")
    before = rows(sweep_dir).set_index("dataset")
    assert before.loc["questions", "status"] == "ok" and before.loc["sentiment", "status"] == "running"
    killed_at = int(before.loc["sentiment", "epochs"])
    finished_file = Path(ledger.row_path(sweep_dir, before.loc["questions", "trial_id"]))
    finished_mtime = finished_file.stat().st_mtime_ns
    running_id = before.loc["sentiment", "trial_id"]
    state = Path(ledger.checkpoint_path(sweep_dir, running_id)) / "latest.json"  # the committed checkpoint
    checkpointed = json.loads(state.read_text())["epoch"]
    trained_before = pd.read_parquet(ledger.history_path(sweep_dir, running_id)).head(killed_at)  # what it showed

    done = subprocess.run(driver(tmp_path, "sentiment,questions", "--resume"), capture_output=True, text=True,
                          timeout=600, env=env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "(1 already finished)" in done.stdout
    after = rows(sweep_dir).set_index("dataset")
    assert len(after) == 2 and set(after["status"]) == {"ok"}  # one row per trial, no duplicates
    assert finished_file.stat().st_mtime_ns == finished_mtime  # the finished trial was not rerun
    resumed = after.loc["sentiment"]
    assert resumed["retries"] == 1
    assert epochs_of(sweep_dir, resumed["trial_id"]) == list(range(1, EPOCHS + 1))
    history = pd.read_parquet(ledger.history_path(sweep_dir, resumed["trial_id"]))
    # an epoch's checkpoint is committed before its history and row show it: the kill may fall in between (the
    # checkpoint one epoch ahead), and no epoch the history showed was trained again
    assert checkpointed - 1 <= killed_at <= checkpointed and killed_at >= 2
    pd.testing.assert_frame_equal(history.head(killed_at)[trained_before.columns], trained_before)


def test_gpu_trial_that_sees_no_gpu_fails_fast(cluster, tmp_path):
    t0 = time.time()
    done = subprocess.run(driver(tmp_path, "questions", "--max-failures", "0"), capture_output=True, text=True,
                          timeout=600, env=env(logical_gpus=False))
    assert done.returncode == 1
    row = rows(tmp_path / "s").iloc[0]
    assert row["status"] == "error" and row["error"].startswith("GPUUnavailable: trial asked for 1 GPU")
    assert "tensorflow sees no CUDA device" in row["error"]
    assert time.time() - t0 < 120


def test_bucket_data_reaches_each_worker_once(cluster, s3_bucket, demo_root, tmp_path):
    """One Part 1 and one Part 2 group with data and results only in the bucket: each worker (its own
    GROUPSWEEP_CACHE, cluster.local.yaml) copies each dataset it needs once — data_sync_s > 0 on its first trial of
    that dataset, 0 after — every row of a dataset carries the bucket's fingerprint; then both workers' copies of
    spam are damaged, and the next spam trial finds that and copies again. The driver's data folder is never given
    to the trials. What this cannot prove: separate disks — both caches are folders of this one machine."""
    import shutil

    from core import store
    from trainables.data import upload
    from trainables.data.sync import list_remote, remote_fingerprint

    data = store.join(s3_bucket, "course-data")
    assert upload.main([str(demo_root), data, "--datasets", "caltech101,sentiment,spam"]) == 0
    caches = [Path(f"/tmp/groupsweep-node-{ip}") for ip in loopback.WORKERS]
    for cache in caches:
        shutil.rmtree(cache / "data", ignore_errors=True)  # this test's own datasets, copied anew
    command = [sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--address", loopback.HEAD, "--groups",
               "P1G19,P2G1", "--budget", str(BUDGET), "--data-root", data, "--weights", "random", "--storage",
               s3_bucket, "--sweep-id", "data", "--gpus-per-trial", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    frame = load_trials(f"{s3_bucket}/data").sort_values("started_utc")
    assert set(frame["status"]) == {"ok"} and set(frame["node_ip"]) == set(loopback.WORKERS)
    for (node, dataset), mine in frame.groupby(["node_ip", "dataset"]):
        synced = list(mine["data_sync_s"])
        assert synced[0] > 0 and all(s == 0 for s in synced[1:]), (node, dataset, synced)
    for dataset, mine in frame.groupby("dataset"):
        assert set(mine["data_fingerprint"]) == {remote_fingerprint(list_remote(store.join(data, dataset)))}
    spam = remote_fingerprint(list_remote(store.join(data, "spam")))
    copies = [cache / "data" / f"spam-{spam}" for cache in caches]
    good = next(c for c in copies if c.is_dir())  # spam's one trial ran on one worker: give the other its copy
    for copy in copies:
        if copy != good:
            shutil.copytree(good, copy)
    for copy in copies:  # then damage both, so whichever worker runs spam next finds a damaged copy
        (copy / "train.csv").write_text("text,label\ndamaged,x\n")
    spam_only = [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--address", loopback.HEAD, "--datasets", "spam",
                 "--models", "lstm", "--methods", "recurrent", *command[command.index("--budget"):]]
    again = subprocess.run([*spam_only[:spam_only.index("--sweep-id") + 1], "again", "--gpus-per-trial", "1"],
                           capture_output=True, text=True, timeout=600, env=env(), cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    rows = load_trials(f"{s3_bucket}/again")
    first_spam = rows[rows["dataset"] == "spam"].sort_values("started_utc").groupby("node_ip").head(1)
    assert (first_spam["data_sync_s"] > 0).all() and (rows["status"] == "ok").all()  # recopied, no wrong rows


CANARY = """
import pathlib, sys, time, ray
ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
f = ray.remote(lambda: 1)
print("canary up", ray.get(f.remote()), flush=True)
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.2)
print("canary still up", ray.get(f.remote()), flush=True)
"""


def test_down_ends_this_clusters_processes_and_no_other(cluster, tmp_path):
    """Last in the module: a local Ray of another user on the same machine (a local sweep) outlives
    `python -m sweeps.cluster.loopback down` and still runs tasks; none of the cluster's processes is left. A cluster of
    real machines would show the same only on its own nodes: here every node and the canary share one kernel."""
    go = tmp_path / "go"
    canary = subprocess.Popen([sys.executable, "-c", CANARY, str(go)], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL)
    try:
        assert canary.stdout.readline().strip() == "canary up 1"
        assert loopback.cluster_processes()
        loopback.down()
        assert loopback.cluster_processes() == []
        with pytest.raises(ConnectionRefusedError):  # the head's GCS port is closed
            socket.create_connection(("127.0.0.10", 6379), timeout=5)
        go.touch()
        out, _ = canary.communicate(timeout=120)
    finally:
        canary.kill()
    assert canary.returncode == 0 and out.strip() == "canary still up 1"
