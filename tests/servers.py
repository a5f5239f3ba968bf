"""Servers the tests (and the benchmarks) start on loopback, and end by PID: a free port, waiting for a URL to
answer, and a real MLflow tracking server with a SQLite backend store."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from sweeps.processes import end_tree


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


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real MLflow tracking server on loopback, its SQLite store and artifacts under `folder`; yields its URI."""
    port = free_port()
    with open(folder / "mlflow.log", "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
                                 f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
                                 str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_url(f"http://127.0.0.1:{port}/health", "mlflow server")
            yield f"http://127.0.0.1:{port}"
        finally:
            end_tree(proc.pid)
