"""Datasets on every node, without a shared filesystem: a `--data-root` in an object store (`s3://bucket/course-data`,
`gs://...`) is checked and fingerprinted by the driver from the store's listing, and each node copies a dataset
once into its own cache, keyed by that fingerprint, before its first trial reads it.

- The fingerprint is a digest of every object's relative path, size and modification time (pyarrow.fs lists no
  ETags; a rewritten object gets a new time), so a changed dataset gets a new cache entry and a stale one is
  never read.
- A node copies under a file lock shared by its trials, into a temporary folder that is renamed into place only
  when complete (a crashed copy is never used), with the list of files and sizes it holds written inside.
- Every trial checks its node's copy against that list before reading it (a stat per file, no reading), and
  copies again when something is missing or changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pyarrow.fs as pafs

from core import store
from trainables.cache import file_lock
from trainables.common import DataError, hidden

FILES = ".groupsweep-files.json"  # inside a node copy: relative path -> size, written before the rename


def list_remote(location: str) -> dict[str, tuple[int, int]]:
    """Every file under `location`: relative path -> (size, modification time in ns); {} when it is absent."""
    fs, root = store.resolve(location)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    prefix = root.rstrip("/") + "/"
    return {i.path[len(prefix):]: (i.size, i.mtime_ns or 0) for i in infos
            if i.type == pafs.FileType.File and i.path.startswith(prefix) and not hidden(i.path[len(prefix):])}


def remote_fingerprint(listing: dict[str, tuple[int, int]]) -> str:
    digest = hashlib.sha256()
    for rel, (size, mtime) in sorted(listing.items()):
        digest.update(f"{rel}\0{size}\0{mtime}\0".encode())
    return digest.hexdigest()[:16]


def copy_problem(local: Path) -> str | None:
    """Why a node copy cannot be used (missing, or a file missing or of another size than when copied)."""
    try:
        files = json.loads((local / FILES).read_text())
    except (OSError, ValueError):
        return f"{local}: no complete copy"
    for rel, size in files.items():
        try:
            if (local / rel).stat().st_size != size:
                return f"{local / rel}: {size} bytes when copied, {(local / rel).stat().st_size} now"
        except OSError:
            return f"{local / rel}: missing"
    return None


def node_copy(location: str, fingerprint: str, cache_root: Path) -> tuple[Path, float]:
    """This node's checked copy of the dataset at `location` (an object-store URI) and the seconds spent copying
    it now (0.0 when a good copy was already there)."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    local = cache_root / "data" / f"{name}-{fingerprint}"
    if copy_problem(local) is None:
        return local, 0.0
    with file_lock(local):
        if copy_problem(local) is None:  # another trial on this node copied it while we waited
            return local, 0.0
        t0 = time.perf_counter()
        listing = list_remote(location)
        if remote_fingerprint(listing) != fingerprint:
            raise DataError(f"{location}: changed since the sweep started (fingerprint {remote_fingerprint(listing)}, "
                            f"planned {fingerprint}); rerun the sweep to use the new data")
        staging = local.with_name(f".{local.name}.tmp-{os.getpid()}")
        try:
            store.get_folder(location, staging)
            (staging / FILES).write_text(json.dumps({rel: size for rel, (size, _) in listing.items()}))
            if local.exists():  # a damaged copy of exactly this dataset and fingerprint: replaced whole
                shutil.rmtree(local)
            os.replace(staging, local)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        problem = copy_problem(local)
        if problem:
            raise DataError(f"copy of {location} on this node is incomplete: {problem}")
        return local, time.perf_counter() - t0
