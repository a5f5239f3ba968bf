"""Where results live: a local folder or an object-store URI (`s3://bucket/prefix`, `gs://...`), behind the few
verbs the harness needs — write a file whole, read it, list a folder, remove a tree, copy a folder in or out.

Locations are plain strings (`pathlib` would fold `s3://` into `s3:/`). Both kinds go through `pyarrow.fs`, the
layer Ray Tune itself uses for `storage_path`, so the credentials and endpoint settings that reach Tune (the usual
`AWS_*` variables, `AWS_ENDPOINT_URL` for S3-compatible servers) reach our rows too. A write is all-or-nothing
in both: a temporary file renamed into place locally, a single object upload on a store (an object appears only
when its upload completes), so readers never see half a row.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import posixpath
import shutil
from pathlib import Path

import pyarrow.fs as pafs

SCHEMES = ("s3", "gs")  # stores pyarrow.fs opens from a URI


def is_uri(location: str | os.PathLike) -> bool:
    return "://" in str(location)


def check_location(location: str) -> str:
    """The location as given when pyarrow can open it; ValueError naming what is supported otherwise."""
    if is_uri(location):
        scheme, _, rest = str(location).partition("://")
        if scheme not in SCHEMES or not rest.strip("/"):
            kinds = ", ".join(f"{s}://bucket/prefix" for s in SCHEMES)
            raise ValueError(f"{location}: expected a local folder or one of {kinds}")
    return str(location)


def join(location: str | os.PathLike, *parts: str) -> str:
    if is_uri(location):
        return posixpath.join(str(location).rstrip("/"), *parts)
    return str(Path(location).joinpath(*parts))


@functools.lru_cache(maxsize=8)
def _store(root: str) -> pafs.FileSystem:
    return pafs.FileSystem.from_uri(root)[0]


def resolve(location: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it); one filesystem object per bucket and process."""
    location = str(location)
    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location).absolute())
    scheme, rest = location.split("://", 1)
    bucket = rest.split("/", 1)[0]
    return _store(f"{scheme}://{bucket}"), rest.rstrip("/")


# What a storage that takes no more writes says (errno): the sweep stops cleanly and --resume finishes it later
REFUSALS = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
            errno.EDQUOT: "disk quota exceeded"}


class WriteFailed(OSError):
    """The storage refused a write: full, read-only, over quota, or a bucket that refuses it. Not a fault of the
    trial or of its data: the sweep stops the way SIGTERM stops it, and `--resume` finishes it once the storage
    takes writes again. The message names the location and the reason (with its errno name)."""

    def __init__(self, location: str | os.PathLike, reason: str):
        super().__init__(f"{location}: {reason}")
        self.location, self.reason = str(location), reason

    def __reduce__(self):  # crosses process boundaries (a trial's failure, pickled by Ray) whole
        return WriteFailed, (self.location, self.reason)


def errno_reason(code: int) -> str:
    return f"{REFUSALS.get(code) or os.strerror(code)} ({errno.errorcode.get(code, code)})"


def write_refusal(exc: BaseException | None, where: str | os.PathLike | None = None) -> WriteFailed | None:
    """The WriteFailed behind an exception (its cause / context chain included): a WriteFailed itself, or an
    OSError whose errno says the storage refuses writes; None for any other failure."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, WriteFailed):  # a clean copy: Ray's RayTaskError(WriteFailed) prints a traceback
            return WriteFailed(exc.location, exc.reason)
        if isinstance(exc, OSError) and exc.errno in REFUSALS:
            return WriteFailed(exc.filename or where or "the storage", errno_reason(exc.errno))
        exc = exc.__cause__ or exc.__context__
    return None


def refuses_writes(location: str | os.PathLike) -> WriteFailed | None:
    """A local folder's filesystem that takes no more writes now (read-only, or not one block free), as the
    WriteFailed to report; None when it takes writes, or for a store (whose refusals come as errors)."""
    if is_uri(location):
        return None
    path = Path(location).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return WriteFailed(location, errno_reason(errno.EROFS))
    if stats.f_bavail == 0:
        return WriteFailed(location, errno_reason(errno.ENOSPC))
    return None


def write_bytes(data: bytes, location: str | os.PathLike) -> str:
    """Write a file whole; WriteFailed when the storage refuses it (full, read-only, a bucket refusing writes)."""
    fs, path = resolve(location)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.{os.getpid()}.tmp"
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            refusal = write_refusal(exc, location)
            if refusal is None:
                raise
            raise WriteFailed(location, refusal.reason) from None
        finally:
            with contextlib.suppress(OSError):
                if os.path.exists(tmp):
                    os.unlink(tmp)
    else:
        try:
            with fs.open_output_stream(path) as out:
                out.write(data)
        except OSError as exc:  # pyarrow says why in text only (AccessDenied, NoSuchBucket, QuotaExceeded ...)
            raise WriteFailed(location, f"the store refused the write ({str(exc).strip().splitlines()[0][:200]})")
    return str(location)


def read_bytes(location: str | os.PathLike) -> bytes | None:
    """The file's bytes, or None when there is no such file."""
    fs, path = resolve(location)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError:  # what pyarrow raises for a missing file or object (a missing bucket too)
        return None


def exists(location: str | os.PathLike) -> bool:
    fs, path = resolve(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_folder(location: str | os.PathLike) -> bool:
    fs, path = resolve(location)
    return fs.get_file_info(path).type == pafs.FileType.Directory


def list_files(folder: str | os.PathLike, suffix: str = "") -> list[str]:
    """Locations of the files directly in `folder` whose names end in `suffix`, sorted; [] when it is absent."""
    fs, path = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix)
                   and not i.base_name.startswith("."))
    return [join(folder, name) for name in names]


def folder_stamp(folder: str | os.PathLike) -> tuple:
    """What changes when a file directly in `folder` is written, added or removed: each one's name, size and
    modification time (an object store's too)."""
    fs, path = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return tuple(sorted((i.base_name, i.size, i.mtime_ns) for i in infos if i.type == pafs.FileType.File))


def modified_utc(location: str | os.PathLike) -> str | None:
    """When the file at `location` was last written (UTC, ISO 8601 to the second), or None when there is none."""
    from datetime import datetime, timezone

    fs, path = resolve(location)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File or info.mtime is None:
        return None
    return info.mtime.astimezone(timezone.utc).isoformat(timespec="seconds") if info.mtime.tzinfo else \
        datetime.fromtimestamp(info.mtime_ns / 1e9, timezone.utc).isoformat(timespec="seconds")


def list_folders(folder: str | os.PathLike) -> list[str]:
    fs, path = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def list_entries(folder: str | os.PathLike) -> dict[str, str]:
    """Everything directly in `folder`, hidden names included: name -> "file", "folder" or "link" (a symbolic
    link, local folders only; never followed). {} when the folder is absent."""
    if not is_uri(folder):
        try:
            with os.scandir(folder) as entries:
                return {e.name: "link" if e.is_symlink() else "folder" if e.is_dir() else "file" for e in entries}
        except FileNotFoundError:
            return {}
    fs, path = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return {i.base_name: "folder" if i.type == pafs.FileType.Directory else "file" for i in infos}


def remove_tree(location: str | os.PathLike) -> None:
    """Delete a folder and everything under it; nothing to do when it is absent. Callers pass the exact folder
    they created: on a store that is the keys under `<location>/`, locally a real folder (a symbolic link is
    refused, and links inside are removed, never followed)."""
    if not is_uri(location):
        if os.path.lexists(location):
            shutil.rmtree(location)  # raises OSError on a symbolic link instead of deleting its target
        return
    fs, path = resolve(location)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


def remove_empty_folder(location: str | os.PathLike) -> None:
    """Delete a folder that holds nothing (OSError when it still holds something); absent: nothing to do."""
    if not is_uri(location):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(location)
        return
    fs, path = resolve(location)
    if list_entries(location):
        raise OSError(f"{location}: not empty")
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)  # only the folder's own marker is left


def remove_file(location: str | os.PathLike) -> None:
    fs, path = resolve(location)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def put_folder(local: Path, location: str | os.PathLike) -> None:
    """Copy a local folder's files to `location` (which must not hold older files of the same names)."""
    fs, path = resolve(location)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(str(local.absolute()), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def get_folder(location: str | os.PathLike, local: Path) -> Path:
    """Copy a folder from `location` into the local folder `local`; returns `local`."""
    fs, path = resolve(location)
    local.mkdir(parents=True, exist_ok=True)
    pafs.copy_files(path, str(local.absolute()), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
    return local


def write_text(text: str, location: str | os.PathLike) -> str:
    return write_bytes(text.encode(), location)


def read_text(location: str | os.PathLike) -> str | None:
    data = read_bytes(location)
    return None if data is None else data.decode()


def read_parquets(locations: list[str]) -> list:
    """Many small files at once: frames (None where missing) in the order given."""
    return [None if table is None else table.to_pandas() for table in read_tables(locations)]


def read_tables(locations: list[str]) -> list:
    """Many small files at once: Arrow tables with the schema each file was written with (None where missing), in
    the order given. On a store each read is a round trip, so they overlap in threads (bench/store_io.py: 1.4x on a
    loopback S3 server whose own Python is the limit; more where each request waits on the network)."""
    if len(locations) < 2 or not is_uri(locations[0]):
        return [read_table(location) for location in locations]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(read_table, locations))


def write_parquet(table, location: str | os.PathLike) -> str:
    """Write an Arrow table (or a pandas frame, without its index) as one Parquet file, whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return write_bytes(buffer.getvalue(), location)


class UnreadableFile(ValueError):
    """A file that exists but does not parse; the message names it."""


def read_parquet(location: str | os.PathLike):
    """The frame stored at `location`, or None when there is no such file."""
    table = read_table(location)
    return None if table is None else table.to_pandas()


def read_table(location: str | os.PathLike):
    """The Arrow table stored at `location` (read whole first: a file replaced meanwhile is never seen torn), or
    None when there is no such file."""
    import pyarrow.parquet as pq

    data = read_bytes(location)
    if data is None:
        return None
    try:
        return pq.read_table(io.BytesIO(data))
    except Exception as exc:  # files are written whole, so this is outside damage
        raise UnreadableFile(f"{location}: unreadable Parquet ({type(exc).__name__}: {exc})") from None


def local_root(location: str | os.PathLike) -> Path:
    """A real folder on this node for what must be local (feature caches, generated demo data): the storage folder
    itself when it is local, else GROUPSWEEP_CACHE or ~/.cache/groupsweep."""
    if not is_uri(location):
        return Path(location)
    return Path(os.environ.get("GROUPSWEEP_CACHE", "~/.cache/groupsweep")).expanduser()
