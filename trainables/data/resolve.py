"""Where a trial finds its dataset on its node, and how it reads it: a bucket's copy in the node's cache (made once
per node), or the local folder — checked against the driver's fingerprint when the sweep asked (a local --data-root
on a cluster of several machines) — and the layout, with the sweep's held-out test split when the driver made one
(its manifest in the sweep's folder)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from core import store
from core.plan import TrialSpec
from trainables.common import DataError
from trainables.data.kinds import data_fingerprint
from trainables.data.layout import Layout


def dataset_folder(spec: TrialSpec) -> tuple[Path, float | None]:
    """(the dataset's folder on this node, seconds a bucket copy took here: 0 when it was there, None for a
    folder); DataError in one line when this node's folder is not the driver's."""
    data = spec.data
    if store.is_uri(data.location):
        from trainables.data.sync import node_copy

        cache = Path(os.environ.get("GROUPSWEEP_CACHE", "~/.cache/groupsweep")).expanduser()
        return node_copy(data.location, data.fingerprint, cache)
    if data.verify:
        here = data_fingerprint(data.location, data.kind) if Path(data.location).exists() else None
        if here != data.fingerprint:
            from trainables.rows import node

            found = "no such folder" if here is None else f"fingerprint {here}"
            where = node()["node_ip"] or socket.gethostname()
            raise DataError(f"node {where}: dataset {spec.job.dataset} at {data.location} is not the driver's "
                            f"({found}, expected {data.fingerprint}); copy it to every node or use a bucket: "
                            f"--data-root s3://...")
    return Path(data.location), None


def trial_layout(spec: TrialSpec) -> Layout:
    """How the trial's dataset is read: the spec's layout, plus the held-out split's members from its manifest."""
    manifest, split = None, spec.data.split
    if split:
        text = store.read_text(split)
        if text is None:
            raise DataError(f"{split}: the sweep's split manifest is missing; rerun with --fresh")
        manifest = json.loads(text)
    return Layout.from_spec(spec.data.layout, manifest)
