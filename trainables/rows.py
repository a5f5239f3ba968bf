"""A trial's row and history as it runs: what it has measured so far, where it ran, when, with which libraries, and
writing them to the ledger (core.ledger: one schema, written whole). Behind trainables.trial.Trial: method code
reports through the Trial, never here."""
from __future__ import annotations

import contextlib
import json
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from core import ledger
from core.plan import TrialSpec
from trainables.common import DataError

_VERSIONED = ("ray", "torch", "torchvision", "tensorflow", "tensorflow-cpu", "keras", "scikit-learn", "numpy",
              "pandas", "pyarrow", "pillow")


def library_versions() -> str:
    """JSON of the versions of every installed library a trial may use (no imports needed)."""
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return json.dumps(versions, sort_keys=True)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def spec_row(spec: TrialSpec) -> dict[str, Any]:
    """The part of a trial's row known before it runs: identity, param_* and data/code provenance."""
    job = spec.job
    part1 = job.part == 1
    row = {"sweep_id": spec.sweep_id, "part": job.part, "dataset": job.dataset,
           "model": job.model if part1 else None, "cell": None if part1 else job.model,
           "method": job.method, "framework": spec.framework, "trial_id": spec.trial_id,
           "seed": spec.seed, "git_sha": spec.git_sha, "data_fingerprint": spec.data.fingerprint,
           "cpus": spec.cpus, "gpus": spec.gpus,  # what the trial reserved: its cost
           "search": spec.search,
           **{k: v for k, v in spec.data.counts.items() if k != "n_classes"},  # the files' sizes
           **(spec.data.held_out or {})}  # the seed and fraction of a test split held out here
    return row | {f"param_{k}": v for k, v in spec.params.items()}


def node() -> dict[str, str | None]:
    """Which Ray node ran the trial (id and address), for cluster runs and their tests."""
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():  # get_runtime_context() would start a Ray outside a trial
            return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}
    return {"node_id": None, "node_ip": None}


class TrialRecord:
    """The row and history of one trial so far: values (metrics, cost, facts), device, per-epoch history."""

    def __init__(self, spec: TrialSpec):
        self.spec = spec
        self.started, self.started_utc = time.time(), utc_now()
        self.device = "cpu"
        self.values: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    def write_row(self, status: str, error: str | None = None) -> None:
        values = dict(self.values, status=status, error=error, device=self.device, started_utc=self.started_utc,
                      finished_utc=utc_now(), wall_s=time.time() - self.started, versions=library_versions(),
                      **node())
        ledger.write_parquet_atomic(ledger.make_row({**spec_row(self.spec), **values}, self.spec.param_types),
                                    ledger.row_path(self.spec.results_dir, self.spec.trial_id))

    def write_history(self) -> None:
        ledger.write_parquet_atomic(ledger.history_table(self.history, self.spec.trial_id),
                                    ledger.history_path(self.spec.results_dir, self.spec.trial_id))

    def check_validated(self) -> None:
        """No row is ok without a validation accuracy: selection reads nothing else (a trial whose validation split
        came out empty would otherwise be an ok row that can never be chosen, or worse, be judged on test)."""
        val = self.values.get("val_acc")
        if val is None or val != val:
            raise DataError(f"dataset {self.spec.job.dataset}: no validation accuracy (validation items: "
                            f"{self.values.get('n_val', 0)}); every class needs a training, a validation and a test "
                            f"item: lower the budget's caps or add data")
