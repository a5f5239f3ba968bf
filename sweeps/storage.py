"""Is the results folder one that every node of the cluster writes to? Trials write their own rows, histories
and checkpoints under the sweep folder, so on a cluster whose nodes are different machines that folder must be
shared storage (NFS and friends); a node-local path would scatter the results over the workers' disks and the
driver would see none of them. This module tells the two apart and refuses the second with a clear message.
Object-store URIs (s3://, gs://) are shared by nature.
"""
from __future__ import annotations

import socket
from pathlib import Path

from trainables import store

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
