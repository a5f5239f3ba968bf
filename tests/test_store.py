"""Results on an object store: the store verbs on a local folder and on a real S3 API (moto's server on loopback),
a trial's ledger checkpoint on S3, and a whole sweep whose rows, histories, checkpoints, plan and reports live in a
bucket — with a trial that fails once and resumes from its checkpoint there."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from core.results import load_history, load_manifest, load_trials
from core.course import Job
from sweeps.runner import run_sweep
from tests.conftest import run_main, trial_spec
from tests.test_bad_input import assert_one_line_error
from core import store


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path) -> str:
    return str(tmp_path / "runs") if request.param == "local" else request.getfixturevalue("s3_bucket")


def test_store_verbs(location, tmp_path):
    assert store.read_text(store.join(location, "absent.txt")) is None
    assert store.list_files(store.join(location, "nothing"), ".parquet") == []
    store.remove_tree(store.join(location, "nothing"))  # absent: no error
    for name in ("b.parquet", "a.parquet", "c.txt"):
        store.write_text(name, store.join(location, "rows", name))
    assert [Path(p).name for p in store.list_files(store.join(location, "rows"), ".parquet")] == ["a.parquet",
                                                                                                  "b.parquet"]
    store.write_text("new", store.join(location, "rows", "a.parquet"))  # overwritten whole
    assert store.read_text(store.join(location, "rows", "a.parquet")) == "new"

    local = tmp_path / "ckpt"
    (local / "sub").mkdir(parents=True)
    (local / "state.bin").write_bytes(b"\x00\x01" * 1000)
    (local / "sub" / "more.json").write_text("{}")
    store.put_folder(local, store.join(location, "checkpoints", "t1", "epoch-0001"))
    assert store.list_folders(store.join(location, "checkpoints", "t1")) == ["epoch-0001"]
    back = store.get_folder(store.join(location, "checkpoints", "t1", "epoch-0001"), tmp_path / "back")
    assert (back / "state.bin").read_bytes() == b"\x00\x01" * 1000 and (back / "sub" / "more.json").exists()
    store.remove_tree(store.join(location, "checkpoints", "t1"))
    assert not store.exists(store.join(location, "checkpoints", "t1", "epoch-0001", "state.bin"))


def test_unsupported_locations_are_refused_in_one_line():
    for bad in ("ftp://host/runs", "s3://"):
        with pytest.raises(ValueError, match="expected a local folder or one of s3://bucket/prefix"):
            store.check_location(bad)


@pytest.mark.filterwarnings("ignore:`get_checkpoint` is meant")  # outside Tune: only the ledger is there
def test_ledger_checkpoint_on_s3_resumes_in_a_fresh_process_state(s3_bucket):
    """A trial saves two epochs to the bucket; a new Trial for the same id (the driver was restarted) finds the
    newest one, downloaded, with its history — and only the committed epoch is kept."""
    from trainables.checkpoints import Checkpoints
    from trainables.trial import Trial

    spec = trial_spec(store.join(s3_bucket, "s"))
    first, history = Checkpoints(spec), []
    for epoch in (1, 2):
        history.append({"epoch": epoch, "val_acc": 0.5 + epoch / 10})
        first.save(epoch, history, lambda folder, e=epoch: (folder / "weights.txt").write_text(f"epoch {e}"))
    assert store.list_folders(first.folder) == ["epoch-0002"]
    again = Trial(spec)
    with again.resume() as folder:
        assert (folder / "weights.txt").read_text() == "epoch 2"
    assert again.epochs_done == 2 and [h["epoch"] for h in again.history] == [1, 2]


def test_sweep_on_s3_with_a_retry_then_analysis_and_resume(s3_bucket, demo_root, make_options, monkeypatch,
                                                          tmp_path):
    """Both frameworks write to the bucket; the torch trial fails after epoch 1 and resumes from its checkpoint
    there; the analysis reads and writes the bucket; --resume then reruns nothing."""
    from analysis.__main__ import main as analysis_main
    from trainables.faults import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "p2-spam-gru-recurrent@1")  # fails once after epoch 1: resumes from S3
    monkeypatch.chdir(tmp_path)
    jobs = {Job(2, "spam", "gru", "recurrent", "torch"): [], Job(2, "questions", "rnn", "recurrent", ""): []}
    options = make_options(jobs, demo_root, storage=s3_bucket, max_failures=1)
    summary = run_sweep(options)
    assert summary.failed == {} and summary.statuses == {"ok": 2}
    assert summary.sweep_dir == f"{s3_bucket}/test"

    trials = load_trials(summary.sweep_dir)
    assert len(trials) == 2 and set(trials["status"]) == {"ok"} and list(trials["retries"]) == [0, 1]
    history = load_history(summary.sweep_dir)
    assert sorted(history.groupby("trial_id")["epoch"].apply(list).tolist()) == [[1, 2], [1, 2]]  # each epoch once
    assert sorted(load_manifest(summary.sweep_dir)["trials"]) == list(trials["trial_id"])
    assert store.list_folders(store.join(summary.sweep_dir, "checkpoints")) == []  # finished: none kept
    assert store.exists(store.join(summary.sweep_dir, "tune"))  # Tune's own experiment state is in the bucket too
    assert not (tmp_path / "runs").exists() and not Path(options.storage.split("://")[1]).exists()
    assert not any("/" in str(v) and str(v).startswith("/") for v in trials.drop(columns=["versions"]).iloc[0])

    assert analysis_main([summary.sweep_dir]) == 0
    assert "# Sweep test" in store.read_text(store.join(summary.sweep_dir, "reports", "report.md"))
    jobs_csv = pd.read_csv(io.StringIO(store.read_text(store.join(summary.sweep_dir, "reports", "jobs.csv"))))
    assert sorted(jobs_csv["dataset"]) == ["questions", "spam"] and jobs_csv["test_acc"].notna().all()
    assert jobs_csv["top5_test_acc"].notna().all()  # the trials' class scores were read back from the bucket

    before = {r.trial_id: r.finished_utc for r in trials.itertuples()}
    again = run_sweep(dataclasses.replace(options, resume=True))
    assert again.statuses == {"ok": 2}
    assert {r.trial_id: r.finished_utc for r in load_trials(again.sweep_dir).itertuples()} == before  # not rerun
    assert json.loads(store.read_text(store.join(again.sweep_dir, "sweep.json")))["sweep_id"] == "test"

    # --fresh's removal on this real sweep in the bucket: exactly the keys under <prefix>/test/ go
    from sweeps.storage import remove_sweep
    from tests.test_fresh import assert_canaries_survive, plant_canaries

    canaries = plant_canaries(s3_bucket.rsplit("/", 1)[0])  # around the storage s3://bucket/runs
    canaries[store.join(options.storage, "test2", "keep.txt")] = "a sweep whose name extends this one's"
    store.write_text(canaries[store.join(options.storage, "test2", "keep.txt")],
                     store.join(options.storage, "test2", "keep.txt"))
    assert remove_sweep(options.storage, "test") == ["attempts", "checkpoints", "cluster", "history", "predictions",
                                                     "reports", "sweep.json", "trials", "tune"]
    assert store.list_entries(summary.sweep_dir) == {}
    assert_canaries_survive(canaries)


def test_cli_refuses_a_storage_uri_it_cannot_write(tmp_path):
    result = run_main("--storage", "ftp://host/runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --storage: ftp://host/runs: expected a local folder or one of s3://bucket/prefix, gs://bucket/prefix")


def test_missing_bucket_is_one_line_before_any_trial(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPSWEEP_CACHE", str(tmp_path / "cache"))  # demo data is generated on this node
    result = run_main("--local", "--part", "2", "--groups", "1", "--storage", "s3://no-such-bucket/runs")
    assert_one_line_error(result, "--storage s3://no-such-bucket/runs: cannot write there", "no-such-bucket")
    assert not (tmp_path / "cache").exists()  # refused before the demo data was generated
    assert store.local_root("s3://no-such-bucket/runs") == tmp_path / "cache"  # where it would have gone


def test_a_damaged_row_file_is_named(location):
    from core.results import ResultsError

    store.write_text("not parquet", store.join(location, "s", "trials", "bad.parquet"))
    with pytest.raises(ResultsError, match=r"bad\.parquet: unreadable Parquet"):
        load_trials(store.join(location, "s"))
