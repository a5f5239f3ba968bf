"""Where results may live on a cluster: node-local folders are refused once nodes are other machines."""
from __future__ import annotations

import socket
from pathlib import Path

from sweeps.storage import filesystem_type, storage_problem

MOUNTS = "overlay / overlay rw 0 0\nserver:/export /mnt/shared nfs4 rw 0 0\ntmpfs /mnt/shared/tmp tmpfs rw 0 0\n"


def test_filesystem_type_takes_the_longest_mount_point(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert filesystem_type(Path("/mnt/shared/runs"), str(mounts)) == "nfs4"
    assert filesystem_type(Path("/mnt/shared/tmp/x"), str(mounts)) == "tmpfs"
    assert filesystem_type(Path("/work/runs"), str(mounts)) == "overlay"


def test_local_folder_is_refused_only_when_nodes_are_other_machines(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    here = socket.gethostname()
    assert storage_problem(Path("/work/runs"), [here, here], mounts=str(mounts)) is None  # loopback cluster
    problem = storage_problem(Path("/work/runs"), [here, "gpu-worker-1"], mounts=str(mounts))
    assert problem.startswith("--storage /work/runs: on this machine's own overlay filesystem")
    assert "gpu-worker-1" in problem and "--shared-storage" in problem and "\n" not in problem
    assert storage_problem(Path("/mnt/shared/runs"), [here, "gpu-worker-1"], mounts=str(mounts)) is None
    assert storage_problem(Path("/work/runs"), ["gpu-worker-1"], vouched=True, mounts=str(mounts)) is None


def test_local_data_root_is_checked_per_trial_only_on_a_cluster_of_several_machines(tmp_path, make_options):
    """What `connect` decides for --data-root: no check on one machine or for a bucket; on a cluster with other
    machines, each trial checks its node's copy (the check itself: tests/test_data_sync.py)."""
    from sweeps.launch import data_needs_check

    here = socket.gethostname()
    local = make_options({}, tmp_path / "data", demo=False)
    assert not data_needs_check(local, [here, here])
    assert data_needs_check(local, [here, "gpu-worker-1"])
    assert not data_needs_check(make_options({}, "s3://bucket/course-data", demo=False), [here, "gpu-worker-1"])
