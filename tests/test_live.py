"""Watching a sweep while it runs: the report `--watch` rewrites, TensorBoard over the trials, the MLflow runs.

One real sweep (the tiny budget: four trials in three jobs, both frameworks) runs with `--mlflow` against a real
MLflow tracking server that the module starts on loopback (SQLite backend store), while
`python -m analysis RUN --watch 1` rewrites its report; the page is read as a browser would, every 0.3 s, and
afterwards a real TensorBoard server reads the sweep. Each view is compared with the sweep's rows and histories.

What one machine cannot show: a watcher on another machine reading a bucket mid-sweep (it would rely on the
store's whole-object writes, as the local one relies on rename). A tracking server in trouble (killed, silent,
behind a frozen proxy) is tests/test_side_channels.py's.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from core.results import load_histories, load_manifest, load_trials
from sweeps.cluster.processes import end_tree
from tests.conftest import ROOT, TINY
from tests.servers import free_port, mlflow_server, wait_for_url

pytestmark = pytest.mark.sweep

LIVE = re.compile(r'<section id="live" data-ended="(\d+)" data-total="(\d+)" data-running="(\d+)">')


@pytest.fixture(scope="module")
def watched(demo_root, tmp_path_factory):
    """The sweep, run to its end with --mlflow while --watch rewrote its report; the pages read meanwhile."""
    root = tmp_path_factory.mktemp("live")
    run = root / "runs" / "live"
    with mlflow_server(root) as uri:
        sweep = subprocess.Popen(
            [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--local", "--budget", str(TINY), "--weights",
             "random", "--data-root", str(demo_root), "--datasets", "animals,spam", "--models", "resnet18,gru",
             "--methods", "finetune,finetune_aug,recurrent", "--storage", str(root / "runs"), "--sweep-id", "live",
             "--mlflow", uri], cwd=ROOT, stdout=(root / "sweep.log").open("w"), stderr=subprocess.STDOUT)
        watcher = subprocess.Popen([sys.executable, "-m", "analysis", str(run), "--watch", "1"], cwd=ROOT,
                                   stdout=(root / "watch.log").open("w"), stderr=subprocess.STDOUT)
        pages = []
        page = run / "reports" / "index.html"
        while sweep.poll() is None:
            if page.exists():
                pages.append(page.read_text())
            time.sleep(0.3)
        try:
            watcher.wait(timeout=120)
        finally:
            end_tree(watcher.pid)
        yield SimpleNamespace(run=run, uri=uri, pages=pages, out=(root / "sweep.log").read_text(), watcher=watcher,
                              watched_out=(root / "watch.log").read_text(),
                              final=page.read_text())


def test_the_report_fills_in_while_the_sweep_runs(watched):
    assert watched.watcher.returncode == 0, watched.watched_out  # it ended by itself, with the sweep
    assert "4 ok" in watched.out, watched.out
    seen = []
    for page in watched.pages:  # every page read mid-sweep is whole: written aside, then renamed over the last
        assert page.rstrip().endswith("</html>"), page[-200:]
        ended, total, running = map(int, LIVE.search(page).groups())
        assert total == 4 and ended + running <= total
        seen.append(ended)
    unfinished = [n for n in seen if n < 4]
    assert len(unfinished) >= 2 and max(unfinished) > min(unfinished), seen  # read twice, the count growing
    assert seen == sorted(seen)
    ended, total, running = map(int, LIVE.search(watched.final).groups())
    assert (ended, total, running) == (4, 4, 0)
    assert 'http-equiv="refresh"' not in watched.final  # a finished sweep's page stops reloading
    assert 'alt="parallel coordinates of finetune' in watched.final  # mode and lr were searched


def get_json(url: str, body: dict | None = None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_tensorboard_serves_each_trials_curves_and_hparams(watched):
    trials = load_trials(watched.run)
    histories = load_histories(watched.run, list(trials["trial_id"]))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "analysis", "tensorboard", str(watched.run), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(base + "/data/runs", "tensorboard")
        deadline = time.time() + 60
        while set(get_json(base + "/data/runs")) != set(trials["trial_id"]) and time.time() < deadline:
            time.sleep(1)  # TensorBoard loads the event files in the background
        assert set(get_json(base + "/data/runs")) == set(trials["trial_id"])  # one run per trial, named by its id
        for trial_id, history in histories.items():
            points = get_json(f"{base}/data/plugin/scalars/scalars?run={trial_id}&tag=val_acc")
            assert [p[1] for p in points] == list(history["epoch"])
            np.testing.assert_allclose([p[2] for p in points], history["val_acc"], rtol=1e-6)  # stored as float32
        groups = get_json(base + "/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN"], "colParams": [],
            "startIndex": 0, "sliceSize": 100})["sessionGroups"]
    finally:
        end_tree(server.pid)
    by_trial = {g["name"]: g for g in groups}
    assert set(by_trial) == set(trials["trial_id"])
    for row in trials.itertuples():
        group = by_trial[row.trial_id]
        assert group["hparams"]["method"] == row.method
        val = [m["value"] for m in group["metricValues"] if m["name"]["tag"] == "val_acc"]
        assert val == pytest.approx([row.val_acc], rel=1e-6)
        if row.method == "finetune":
            assert group["hparams"]["mode"] == row.param_mode
            assert group["hparams"]["lr"] == pytest.approx(row.param_lr)


def trial_runs(uri: str, sweep_id: str) -> tuple[object, list, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(f"groupsweep/{sweep_id}")
    runs = client.search_runs([experiment.experiment_id])
    return client, [r for r in runs if r.data.tags.get("kind") == "trial"], \
        [r for r in runs if r.data.tags.get("kind") == "sweep"]


def test_mlflow_holds_one_run_per_trial_equal_to_its_row(watched):
    trials = load_trials(watched.run).set_index("trial_id")
    histories = load_histories(watched.run, list(trials.index))
    client, runs, sweeps = trial_runs(watched.uri, "live")
    assert len(sweeps) == 1 and sweeps[0].info.status == "FINISHED"
    assert sorted(r.info.run_name for r in runs) == sorted(trials.index)
    for run in runs:
        row = trials.loc[run.info.run_name]
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert tags["mlflow.parentRunId"] == sweeps[0].info.run_id
        assert (tags["status"], tags["method"], run.info.status) == (row["status"], row["method"], "FINISHED")
        assert tags["job"] == run.info.run_name.rsplit("-", 2)[0] and tags["node"] == row["node_ip"]
        for name in ("val_acc", "test_acc", "test_macro_f1", "epochs"):
            assert metrics[name] == pytest.approx(row[name]), name
        for name in [c.removeprefix("param_") for c in trials.columns if c.startswith("param_")]:
            value = row[f"param_{name}"]
            if value is None or value != value:  # another method's parameter
                assert name not in params
            elif isinstance(value, float):
                assert float(params[name]) == pytest.approx(value)
            else:
                assert params[name] == str(value)
        curve = client.get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in curve] == list(histories[run.info.run_name]["epoch"])


def test_a_new_driver_continues_the_sweeps_and_trials_runs(watched):
    """What --resume's driver (and the replay) does: the same sweep run and trial runs found again by their tags,
    and epochs already logged not logged twice."""
    from sweeps.tracking.mlflow_log import MlflowWriter, TrialFacts

    client, runs, sweeps = trial_runs(watched.uri, "live")
    again = MlflowWriter(watched.uri, str(watched.run), "live")
    again.open()
    assert again.parent == sweeps[0].info.run_id
    run = runs[0]
    config = json.loads((watched.run / "tune" / run.info.run_name / "params.json").read_text())
    facts = TrialFacts.from_config(config["trial"])  # what a Tune trial carries: its config
    before = client.get_metric_history(run.info.run_id, "val_acc")
    assert again.trial_run(facts) == run.info.run_id
    again.log_epochs(facts, [(before[-1].step, {"val_acc": 0.0})])
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_acc")] == \
        [(m.step, m.value) for m in before]
    assert len(trial_runs(watched.uri, "live")[1]) == len(runs)
    assert load_manifest(watched.run)["sweep_id"] == "live"


def test_replaying_the_rows_into_the_server_that_saw_them_live_changes_nothing(watched):
    from sweeps.tracking.mlflow_log import replay

    client, runs, _ = trial_runs(watched.uri, "live")
    curves = {r.info.run_name: client.get_metric_history(r.info.run_id, "val_acc") for r in runs}
    assert replay(str(watched.run), watched.uri) == {"ended": 4, "running": 0}
    client, again, sweeps = trial_runs(watched.uri, "live")
    assert sorted(r.info.run_id for r in again) == sorted(r.info.run_id for r in runs)
    assert all(r.info.status == "FINISHED" for r in again + sweeps)
    for run in again:
        assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_acc")] == \
            [(m.step, m.value) for m in curves[run.info.run_name]]


def test_a_bucket_sweeps_event_files_are_mirrored_for_tensorboard(watched, s3_bucket, tmp_path):
    """TensorBoard cannot read S3: `analysis tensorboard` mirrors a bucket sweep's event files into a local folder,
    copying only what is new or has grown (the driver's uploads append to a trial's file)."""
    from analysis.tensorboard import mirror
    from core import store

    sweep = store.join(s3_bucket, "live")
    local = {}
    for events in sorted(watched.run.glob("tune/*/events.out.tfevents*")):
        local[events.parent.name] = events.read_bytes()
        store.write_bytes(events.read_bytes(), store.join(sweep, "tune", events.parent.name, events.name))
        store.write_text("{}", store.join(sweep, "tune", events.parent.name, "result.json"))  # not an event file
    target = tmp_path / "mirror"
    assert mirror(sweep, target) == len(local) == 4
    assert {p.parent.name: p.read_bytes() for p in target.glob("*/*")} == local
    assert mirror(sweep, target) == 0  # nothing new
    grown = next(iter(local))
    [remote] = [f for f in store.list_files(store.join(sweep, "tune", grown)) if "tfevents" in f]
    store.write_bytes(local[grown] + b"more", remote)
    assert mirror(sweep, target) == 1
    assert next(target.glob(f"{grown}/*")).read_bytes() == local[grown] + b"more"
