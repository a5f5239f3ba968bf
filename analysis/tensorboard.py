"""`python -m analysis tensorboard RUN`: TensorBoard over a sweep's trials, running or finished, local or in a bucket.

The driver writes one TensorBoard run per trial into `<sweep>/tune/<trial id>` (sweeps.tracking.tensorboard). A
local sweep is read in place (`tensorboard --logdir RUN/tune` is the same thing). TensorBoard cannot read S3 without an extra
filesystem plugin (tensorflow-io), so a bucket's event files are mirrored into a local folder first, and again every
`--every` seconds while TensorBoard runs; the bucket holds what Tune has uploaded from the driver so far (it syncs
its driver's files at each checkpoint and at least every 5 minutes), so a bucket sweep's view lags by that much.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import store
from core.argtypes import number

EVENTS = "events.out.tfevents"


def event_files(sweep_dir: str) -> dict[str, dict[str, int]]:
    """Trial id -> {the location of each of its event files under `<sweep>/tune`: its size}."""
    tune = store.join(sweep_dir, "tune")
    found = {}
    for trial in store.list_folders(tune):
        listed = store.folder_stamp(store.join(tune, trial))  # (name, size, modification time) of each file
        found[trial] = {store.join(tune, trial, name): size for name, size, _ in listed if name.startswith(EVENTS)}
    return {trial: files for trial, files in found.items() if files}


def mirror(sweep_dir: str, local: Path) -> int:
    """Copy a bucket sweep's event files into `local/<trial id>/`: only those that are new or have grown (the
    listing's sizes say which; nothing else is downloaded), each written whole under a temporary name first, so
    TensorBoard never reads half a file; returns how many."""
    copied = 0
    for trial, files in event_files(sweep_dir).items():
        for location, size in files.items():
            target = local / trial / Path(location).name
            if target.exists() and target.stat().st_size >= size:
                continue
            data = store.read_bytes(location)
            if data is None:  # gone since the listing
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            partial.replace(target)
            copied += 1
    return copied


def logdir(sweep_dir: str) -> Path:
    """Where TensorBoard reads this sweep: its own `tune/` folder, or the local mirror of a bucket sweep."""
    if not store.is_uri(sweep_dir):
        return Path(sweep_dir) / "tune"
    return store.local_root(sweep_dir) / "tensorboard" / store.check_location(sweep_dir).replace("://", "/")


def serve(sweep_dir: str, host: str, port: int, every: float) -> int:
    """Run TensorBoard on the sweep until it exits (Ctrl-C), re-mirroring a bucket every `every` seconds."""
    folder = logdir(sweep_dir)
    remote = store.is_uri(sweep_dir)
    if remote:
        print(f"mirroring {sweep_dir}/tune's event files into {folder} ({mirror(sweep_dir, folder)} files)")
    elif not folder.is_dir():
        print(f"error: {folder}: no such folder (is {sweep_dir} a sweep that has started?)", file=sys.stderr)
        return 2
    problem = bind_problem(host, port)
    if problem:
        print(f"error: --host {host} --port {port}: {problem}; pick another --port", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(folder), "--host", host, "--port", str(port)]
    print(f"TensorBoard: http://{host}:{port}/  (one run per trial; HParams: searched parameters vs val_acc)",
          flush=True)
    server = subprocess.Popen(command, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
    ended = False  # by us: Ctrl-C or SIGTERM

    def end(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, end)  # a SIGTERM ends TensorBoard too (the finally below)
    try:
        while server.poll() is None:
            time.sleep(every if remote else 1.0)
            if remote and server.poll() is None:
                mirror(sweep_dir, folder)
    except KeyboardInterrupt:
        ended = True
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    if not ended and server.returncode != 0:  # it could not serve (a port taken between the check and its bind)
        print(f"error: TensorBoard exited with {server.returncode} (its own lines above say why)", file=sys.stderr)
        return 1
    return 0


def bind_problem(host: str, port: int) -> str | None:
    """Why TensorBoard could not listen on host:port (taken, not this machine's address), or None: checked by
    binding it for a moment, before TensorBoard prints its address and its log."""
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TensorBoard's server binds
            probe.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


DESCRIPTION = "TensorBoard over a sweep's trials (curves per epoch, HParams)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", help="a sweep folder: <storage>/<sweep-id> (a path or s3://bucket/...)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=number(int, 1, high=65535), default=6006, help="default 6006")
    parser.add_argument("--every", type=number(float, 0.0, above=True), default=60.0,
                        help="seconds between two mirrorings of a bucket sweep's event files (default 60)")


def run(args: argparse.Namespace) -> int:
    return serve(args.results_dir, args.host, args.port, args.every)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis tensorboard", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
