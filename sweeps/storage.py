"""The results location and the sweep folders in it: what a sweep id may be, what `--fresh` may delete, and
whether every node of a cluster writes to the same place.

A sweep lives in `<storage>/<sweep-id>/`, and that folder is all a sweep ever deletes: the id is one safe name (so
the folder is never the storage root, above it or below another sweep), and `--fresh` removes the folder only
when its `sweep.json` says it is this sweep's and it holds nothing but a sweep's own entries, each removed by its
exact path.

Trials write their own rows, histories and checkpoints under the sweep folder, so on a cluster whose nodes are
different machines that folder must be shared storage (NFS and friends); a node-local path would scatter the
results over the workers' disks and the driver would see none of them. This module tells the two apart and
refuses the second with a clear message. Object-store URIs (s3://, gs://) are shared by nature.
"""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from core import store

# a letter or digit first: hidden names are the harness's own (a sweep's lock is `.<sweep-id>.lock`, sweeps.lock)
SWEEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SWEEP_ID_RULE = ("one name of 1-100 letters, digits, '-', '_' or '.', starting with a letter or digit (no '/' or "
                 "spaces)")
# What a sweep writes into its folder (runner, trial, Tune's storage_path name, analysis): --fresh removes these
SWEEP_ENTRIES = ("sweep.json", "trials", "history", "predictions", "checkpoints", "attempts", "tune", "reports",
                 "splits", "cluster")


class ForeignFolder(ValueError):
    """A folder `--fresh` will not delete, because it is not (only) this sweep's; the message says what was found."""


def check_sweep_id(text: str) -> str:
    """The id when it is one safe folder name; ValueError saying what is allowed otherwise."""
    if not SWEEP_ID.fullmatch(text):
        raise ValueError(f"{text!r}: a sweep id is {SWEEP_ID_RULE}")
    return text


def remove_sweep(storage: Path | str, sweep_id: str) -> list[str]:
    """Delete `<storage>/<sweep_id>/` when it is this sweep's own folder; returns the entries removed.

    Refuses (ForeignFolder) a folder without this sweep's `sweep.json`, one holding anything else, and a symbolic
    link; each entry is removed by its exact path, then the emptied folder itself (never recursively)."""
    sweep_dir = store.join(storage, check_sweep_id(sweep_id))
    if not store.is_uri(sweep_dir) and Path(sweep_dir).is_symlink():
        raise ForeignFolder(f"--fresh: {sweep_dir} is a symbolic link; it removes only a sweep's own real folder")
    entries = store.list_entries(sweep_dir)
    if not entries:
        store.remove_empty_folder(sweep_dir)
        return []
    foreign = sorted(name for name, kind in entries.items() if name not in SWEEP_ENTRIES or kind == "link"
                     or (kind == "file") != (name == "sweep.json"))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ForeignFolder(f"--fresh: {sweep_dir} holds {shown}, which a sweep does not write; not deleting it "
                            f"(remove it yourself, or use another --sweep-id)")
    owner = _manifest_id(store.join(sweep_dir, "sweep.json"))
    if owner != sweep_id:
        found = "no sweep.json" if owner is None else f"the sweep.json of sweep {owner!r}"
        raise ForeignFolder(f"--fresh: {sweep_dir} holds {found}, not sweep {sweep_id!r}'s; not deleting it")
    for name in sorted(entries):
        if entries[name] == "folder":
            store.remove_tree(store.join(sweep_dir, name))
        else:
            store.remove_file(store.join(sweep_dir, name))
    store.remove_empty_folder(sweep_dir)
    return sorted(entries)


def _manifest_id(location: str) -> str | None:
    """The sweep id a sweep.json names; None when it is missing or not a sweep's plan."""
    try:
        manifest = json.loads(store.read_text(location) or "null")
    except ValueError:
        return None
    return manifest.get("sweep_id") if isinstance(manifest, dict) else None

# Filesystem types (as /proc/mounts names them) whose files every node that mounts them sees.
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "ceph", "glusterfs", "gpfs", "beegfs", "9p",
                       "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.ceph-fuse", "fuse.glusterfs",
                       "fuse.mountpoint-s3", "efs")


def filesystem_type(path: Path, mounts: str = "/proc/mounts") -> str:
    """The type of the filesystem holding `path` (longest matching mount point), or "unknown"."""
    path = path.resolve()
    best, kind = "", "unknown"
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return kind
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = path == Path(point) or Path(point) in path.parents
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def other_hosts(node_hosts: list[str]) -> list[str]:
    """Hosts of cluster nodes that are not the driver's machine (loopback clusters have none)."""
    here = {socket.gethostname(), socket.getfqdn()}
    return sorted({h for h in node_hosts if h not in here})


def storage_problem(storage: Path | str, node_hosts: list[str], vouched: bool = False,
                    mounts: str = "/proc/mounts") -> str | None:
    """Why `storage` cannot hold a sweep whose trials run on `node_hosts`, or None when it can."""
    remote = other_hosts(node_hosts)
    if not remote or vouched or store.is_uri(storage):  # every node reaches an object store
        return None
    kind = filesystem_type(Path(storage), mounts)
    if kind in NETWORK_FILESYSTEMS:
        return None
    return (f"--storage {storage}: on this machine's own {kind} filesystem, but trials also run on "
            f"{', '.join(remote[:3])}{' ...' if len(remote) > 3 else ''}; their results would stay on those nodes. "
            f"Use a folder every node mounts (NFS, ...) or pass --shared-storage if this one is")
