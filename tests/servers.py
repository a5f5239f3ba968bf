"""Servers the tests (and the benchmarks) start on loopback, and end by PID: a free port, waiting for a URL to
answer, a real MLflow tracking server with a SQLite backend store, and servers in trouble: one that accepts and
never answers, a proxy that freezes."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from sweeps.cluster.processes import end_tree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(url: str, what: str, timeout: float = 90) -> None:
    """Return once `url` answers; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2)
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not answer on {url} within {timeout:.0f} s")


class ServerUri(str):
    """A server's URI, and the PID of the process serving it (a test may kill it mid-sweep)."""

    pid: int


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[ServerUri]:
    """A real MLflow tracking server on loopback, its SQLite store and artifacts under `folder`; yields its URI."""
    port = free_port()
    with open(folder / "mlflow.log", "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
                                 f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
                                 str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_url(f"http://127.0.0.1:{port}/health", "mlflow server")
            uri = ServerUri(f"http://127.0.0.1:{port}")
            uri.pid = proc.pid
            yield uri
        finally:
            end_tree(proc.pid)


def kill_tree(pid: int) -> None:
    """SIGKILL a server and its workers: it dies without a goodbye."""
    import psutil

    root = psutil.Process(pid)
    for proc in root.children(recursive=True) + [root]:
        proc.kill()


def until_tracked(uri: str, experiment: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until the MLflow server at `uri` holds a trial's run with a point of its curve in `experiment` (read past any
    proxy), while `proc` (the sweep) runs: the sweep is under way and tracked."""
    from mlflow.tracking import MlflowClient

    client, deadline = MlflowClient(uri), time.time() + timeout
    while True:
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError("the sweep ended (or took too long) before a trial was tracked")
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id], "tags.kind = 'trial'") if found else []
        if any(run.data.metrics for run in runs):
            return
        time.sleep(0.3)


class SilentServer:
    """A loopback TCP server that accepts every connection and never answers (a stalled proxy, a half-dead load
    balancer): what a client sees is a connect that succeeds and a read that times out. `with` ends it."""

    def __init__(self) -> None:
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.listener.accept()[0])

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


class FreezingProxy(SilentServer):
    """A loopback TCP proxy to `upstream` (host, port) that forwards both ways until `freeze()`; from then on it
    forwards nothing, on open connections and new ones alike, and answers nothing (a proxy that stops mid-sweep
    while the server behind it lives on)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        import threading

        self.upstream = upstream
        self.frozen = threading.Event()
        super().__init__()

    def freeze(self) -> None:
        self.frozen.set()

    def _accept(self) -> None:
        import threading

        with contextlib.suppress(OSError):
            while True:
                client = self.listener.accept()[0]
                self.held.append(client)
                if self.frozen.is_set():
                    continue
                server = socket.create_connection(self.upstream)
                self.held.append(server)
                for source, target in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        import threading

        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.frozen.is_set():
                    threading.Event().wait()  # held for good: nothing passes again
                target.sendall(data)
