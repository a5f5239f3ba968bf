"""On-disk caches shared by every trial of a sweep and by later sweeps (decoded images, backbone features).

An entry's name is a digest of everything that determines its bytes (dataset fingerprint, sizes, caps, model,
weights...), so a stale entry can never be read. Entries are built once: concurrent trials asking for the same
entry wait on a file lock while the first builds it, then read it. Writes are atomic (temp file + rename).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")


def cache_key(**facts: Any) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call `write(binary_file)` on a temp file next to `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached(path: Path, build: Callable[[], T], save: Callable[[T, Any], None], load: Callable[[Path], T],
           enabled: bool = True) -> tuple[T, bool]:
    """(value, was_cached): read `path`, or build it under a lock and store it. `enabled=False` always builds."""
    if not enabled:
        return build(), False
    if path.exists():
        return load(path), True
    with file_lock(path):
        if path.exists():  # another trial built it while we waited
            return load(path), True
        value = build()
        atomic_write(path, lambda handle: save(value, handle))
        return value, False
