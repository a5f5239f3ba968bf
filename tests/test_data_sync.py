"""Datasets from a bucket (moto's S3 server on loopback): the course's upload, the driver's checks from the
listing, one copy per node into its cache (`data_sync_s` > 0 once, 0 after), a damaged copy found and copied again,
and a local data root that a node does not hold refused in one line.

What this cannot prove: two machines. Here every "node" is this process's machine; the loopback-cluster test
(tests/test_cluster.py) gives each worker its own cache folder.
"""
from __future__ import annotations

import dataclasses

import pytest

from core.course import Job
from sweeps.runner import ConfigError, run_sweep
from core.results import load_trials
from tests.conftest import trial_spec
from core import store
from trainables.common import DataError
from trainables.data import upload
from trainables.data.sync import list_remote, remote_fingerprint
from core.plan import DataRef

JOBS = {Job(2, "spam", "gru", "recurrent"): [], Job(1, "caltech101", "resnet18", "features_svm"): []}


@pytest.fixture
def bucket_data(s3_bucket, demo_root, capsys) -> str:
    """The demo's spam and caltech101 uploaded the way a course uploads its data."""
    root = store.join(s3_bucket, "course-data")
    assert upload.main([str(demo_root), root, "--datasets", "spam,caltech101"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["spam", "caltech101"] and "MB/s), fingerprint " in lines[0]
    return root


def test_sweep_reads_a_bucket_through_one_copy_per_node(bucket_data, make_options, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPSWEEP_CACHE", str(tmp_path / "node-cache"))
    summary = run_sweep(make_options(JOBS, bucket_data, demo=False))
    assert summary.failed == {}
    rows = load_trials(summary.sweep_dir).sort_values("started_utc")
    for dataset, mine in rows.groupby("dataset"):
        expected = remote_fingerprint(list_remote(store.join(bucket_data, dataset)))
        assert set(mine["data_fingerprint"]) == {expected}
        synced = list(mine["data_sync_s"])
        assert synced[0] > 0 and all(s == 0 for s in synced[1:]), synced  # copied by its first trial only
        assert (tmp_path / "node-cache" / "data" / f"{dataset}-{expected}").is_dir()
    assert (rows["status"] == "ok").all()

    # a damaged copy (a file gone) is found by the next trial on the node and copied again
    spam = remote_fingerprint(list_remote(store.join(bucket_data, "spam")))
    copy = tmp_path / "node-cache" / "data" / f"spam-{spam}"
    (copy / "train.csv").unlink()
    again = run_sweep(make_options({Job(2, "spam", "gru", "recurrent"): []}, bucket_data, demo=False,
                                   sweep_id="again"))
    row = load_trials(again.sweep_dir).iloc[0]
    assert row["status"] == "ok" and row["data_sync_s"] > 0 and (copy / "train.csv").is_file()


def test_bucket_layout_is_checked_from_its_listing(s3_bucket, make_options, demo_root):
    root = store.join(s3_bucket, "bad")
    store.write_text("text,label\nhi,a\n", store.join(root, "spam", "train.csv"))  # no test.csv
    with pytest.raises(ConfigError, match=r"spam/test\.csv: missing file"):
        run_sweep(make_options({Job(2, "spam", "gru", "recurrent"): []}, root, demo=False))
    with pytest.raises(ConfigError, match="no dataset folder 'caltech101'"):
        run_sweep(make_options({Job(1, "caltech101", "resnet18", "features_svm"): []}, root, demo=False))


def test_a_node_without_the_drivers_data_fails_in_one_line(tmp_path, demo_root):
    """A local --data-root on a cluster of several machines: a trial whose node holds other data stops at once."""
    from trainables.data.resolve import dataset_folder

    data = DataRef(str(tmp_path / "absent" / "spam"), "text", {"kind": "text"}, "0123456789abcdef", verify=True)
    spec = trial_spec(tmp_path / "s", data=data)
    with pytest.raises(DataError, match=r"^node .*: dataset spam at .*absent/spam is not the driver's "
                                        r"\(no such folder, expected 0123456789abcdef\)"):
        dataset_folder(spec)
    spec = spec.replace(data=dataclasses.replace(data, location=str(demo_root / "spam")))
    with pytest.raises(DataError, match="is not the driver's \\(fingerprint "):
        dataset_folder(spec)
