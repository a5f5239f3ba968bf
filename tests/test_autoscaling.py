"""The autoscaling cluster of sweeps.cluster.autoscaling (cluster.yaml's own worker types through Ray's fake multi-node
provider, autoscaler v2) and what a course on AWS meets on it: scaling up from no worker, scaling down after the
idle timeout, spot workers reclaimed mid-trial, and a stopped driver's standing request released.

From cluster.yaml, lowered for this 2-core machine: max_workers 8 -> 2 and idle_timeout_minutes 10 -> 0.25 (the
same gpu_spot shape: 4 CPUs and 1 logical GPU, 4 trial slots at 0.25 GPU). The tests share one cluster: the first
starts from no worker, the last waits for the workers to leave after the idle timeout. What one machine cannot
show: how long an EC2 instance takes to start (a fake node joins in seconds), AWS's spot notices, and nodes with
their own disks and clocks — every "node" here shares this machine's filesystem, clock and network.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core import cluster_use
from core.results import load_trials
from sweeps.cluster import autoscaling
from tests.clusters import epochs_of, rows, running_at, wait_for
from tests.conftest import ROOT, SHARED_DATA, own_cpus

BUDGET = ROOT / "tests" / "budgets" / "cluster.yaml"
EPOCHS = 30  # a sentiment trial of that budget
LOWERED = {"max_workers": 2, "idle_timeout_minutes": 0.25}


def test_the_local_cluster_is_cluster_yaml_with_two_numbers_lowered():
    cluster = yaml.safe_load(autoscaling.CLUSTER_YAML.read_text())
    config, lowered = autoscaling.local_config(cluster, "127.0.0.1:1", **LOWERED)
    assert (lowered.declared_max_workers, lowered.declared_idle_timeout_minutes) == (8, 10.0)
    assert config["max_workers"] == 2 and config["idle_timeout_minutes"] == 0.25
    assert config["upscaling_speed"] == cluster["upscaling_speed"]
    for name, spec in cluster["available_node_types"].items():
        if name == cluster["head_node_type"]:
            assert config["available_node_types"][autoscaling.FAKE_HEAD_TYPE]["resources"] == spec["resources"]
            continue
        local = config["available_node_types"][name]
        assert local["resources"] == spec["resources"] and local["min_workers"] == spec["min_workers"]
        assert local["max_workers"] == min(spec["max_workers"], 2)
    assert config["available_node_types"]["gpu_spot"]["max_workers"] == 2  # spot is what scales
    assert cluster["available_node_types"]["gpu_spot"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    with pytest.raises(autoscaling.AutoscaleError, match="expected 1..8"):
        autoscaling.local_config(cluster, "127.0.0.1:1", max_workers=9)
    with pytest.raises(autoscaling.AutoscaleError, match="at most 10"):
        autoscaling.local_config(cluster, "127.0.0.1:1", idle_timeout_minutes=11)


def test_the_cluster_record_gives_joins_peak_time_to_full_and_utilisation():
    """A run seen in five samples: a worker (4 slots at 1 CPU + 0.25 GPU) joins at 10 s, a second at 20 s, both
    full at 30 s, the first leaves at 50 s. Slot-seconds: 4x10 + 8x10 + 8x10 + 4x10 = 240, busy 0 + 4x10 + 8x10
    + 4x10 = 160."""
    head, a, b = ("h", 0.0, 0.0), ("a", 4.0, 1.0), ("b", 4.0, 1.0)
    use = cluster_use.ClusterUse("2026-12-02T00:00:00+00:00", 1.0, 0.25, 8, (
        cluster_use.Sample(0.0, 0, 8, (head,)), cluster_use.Sample(10.0, 0, 8, (head, a)),
        cluster_use.Sample(20.0, 4, 4, (head, a, b)), cluster_use.Sample(30.0, 8, 0, (head, a, b)),
        cluster_use.Sample(40.0, 4, 0, (head, b)), cluster_use.Sample(50.0, 0, 0, (head,))))
    use = cluster_use.ClusterUse.from_json(use.to_json())  # the file's round trip
    spans = {s.node_id: (s.joined, s.left) for s in use.spans()}
    assert spans == {"h": (0.0, None), "a": (10.0, 40.0), "b": (20.0, 50.0)}
    assert use.peak_workers() == 2 and use.time_to_full() == 30.0
    assert use.utilisation() == pytest.approx(160 / 240)
    assert use.render() == ("cluster: peak 2 worker node(s), every slot busy after 30 s, slot utilisation 67% "
                            "(3 node(s) seen)")


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.shutdown()  # an earlier test's local Ray would only take CPUs the workers need
    with own_cpus():
        autoscaling.up(**LOWERED)
        yield autoscaling.driver_env()
        mark = autoscaling.cluster_mark()
        client = [p for p in autoscaling.processes.cluster_processes(mark) if "client.server" in " ".join(p.cmdline())]
        autoscaling.down()
    assert autoscaling.processes.cluster_processes(mark) == []  # ours ended, by PID
    assert client and not any(autoscaling.processes.alive(p) for p in client)  # the Ray Client server too


def driver(storage: Path, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--address", autoscaling.driver_env()["RAY_ADDRESS"],
            "--storage", str(storage), "--sweep-id", "s", "--weights", "random", *args]


def test_scales_up_from_zero(cluster, tmp_path):
    """8 demo features_svm trials at 1 CPU + 0.25 GPU, submitted with no worker up: the autoscaler starts the
    node type's maximum (2), every row is ok, and the driver's cluster record and the report say so."""
    assert autoscaling.workers() == 0
    done = subprocess.run(driver(tmp_path, "--datasets", "animals,faces", "--models", "resnet18,alexnet",
                                 "--methods", "features_svm", "--budget", "smoke", "--gpus-per-trial", "0.25"),
                          capture_output=True, text=True, timeout=600, env=dict(os.environ) | cluster)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trials = load_trials(tmp_path / "s")
    assert len(trials) == 8 and set(trials["status"]) == {"ok"}
    assert trials["node_id"].nunique() == 2 and (trials["gpus"] == 0.25).all()
    [use] = cluster_use.read_all(str(tmp_path / "s"))
    assert use.peak_workers() == 2 and use.time_to_full() is not None and 0 < use.utilisation() <= 1
    assert "cluster: peak 2 worker node(s), every slot busy after" in done.stdout
    assert " elapsed, ~" in done.stdout and " left" in done.stdout  # the progress lines' remaining time
    assert autoscaling.requested_bundles() == 0  # the up-front request was released
    from analysis.__main__ import main as analysis_main

    assert analysis_main([str(tmp_path / "s")]) == 0
    page = (tmp_path / "s" / "reports" / "index.html").read_text()
    assert "Cluster, driver run of" in page and "peak 2 worker node(s)" in page
    assert "busy (4 trials each; 1 wave of 8 trials)" in page and "on spot" in page  # the plan's, on this cluster
    print(f"time to full {use.time_to_full():.0f} s, utilisation {use.utilisation():.0%}")


@pytest.mark.skipif(not (SHARED_DATA / "text" / "sentiment").is_dir(), reason=f"real data not at {SHARED_DATA}")
def test_two_spot_workers_reclaimed_mid_trial_lose_nothing(cluster, tmp_path):
    """Two 30-epoch trials, one per worker (1 GPU each), --max-failures 0: both workers are killed by PID in the
    same minute once each trial has checkpointed, as a spot reclaim ends an instance. The autoscaler starts
    replacements, each trial continues from its checkpoint (every epoch trained once), its row counts one lost
    node and no retry, and the sweep finishes although no failure was allowed."""
    proc = subprocess.Popen(driver(tmp_path, "--datasets", "sentiment", "--models", "gru,lstm", "--methods",
                                   "recurrent", "--budget", str(BUDGET), "--data-root", str(SHARED_DATA / "text"),
                                   "--gpus-per-trial", "1", "--max-failures", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ) | cluster)
    try:
        def both_checkpointed():
            found = [running_at(tmp_path / "s", "sentiment", 2, cell=m) for m in ("gru", "lstm")]
            return found if all(r is not None for r in found) else None

        victims = {r["node_id"] for r in wait_for(both_checkpointed, "both trials checkpointed", timeout=300)}
        assert len(victims) == 2
        for node in victims:
            autoscaling.kill_node(node)
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    final = rows(tmp_path / "s")
    assert list(final["status"]) == ["ok", "ok"] and list(final["node_losses"]) == [1, 1]
    assert list(final["retries"]) == [0, 0] and not set(final["node_id"]) & victims
    for trial_id in final["trial_id"]:
        assert epochs_of(tmp_path / "s", trial_id) == list(range(1, EPOCHS + 1))  # each epoch once, none lost


def test_an_interrupted_driver_releases_its_request_and_idle_workers_leave(cluster, tmp_path):
    """Ctrl-C while the up-front request stands: the driver stops cleanly and the request is gone (a request stays
    until replaced: one left behind would keep workers up all night); then every worker leaves after the idle
    timeout."""
    proc = subprocess.Popen(driver(tmp_path, "--datasets", "animals,faces", "--models", "resnet18,alexnet",
                                   "--methods", "features_svm", "--budget", "smoke", "--gpus-per-trial", "0.25"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ) | cluster)
    try:
        wait_for(lambda: autoscaling.requested_bundles() or None, "the driver's up-front request", timeout=180)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "interrupted" in out.lower(), out[-2000:]
    assert autoscaling.requested_bundles() == 0
    idle_s = autoscaling.wait_workers(0, timeout=180)
    print(f"workers gone {idle_s:.0f} s after the driver stopped")
