"""The single Ray Tune entry point and the per-trial context every method family reports through.

`run_trial(config)` is what Tune runs, one process per trial. It looks up the method's family in METHODS and calls
its `run(dataset_dir, trial)`. The `Trial` object carries the trial's identity, hyperparameters and budget, and owns
all bookkeeping: phase timers, per-epoch history, checkpoints, the Parquet row, and the error row on failure.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator


from core import ledger, store
from trainables.common import DataError, seed_everything
from trainables.data.kinds import data_fingerprint
from trainables.data.layout import Layout
from core.plan import Job, TrialSpec
from core.registry import METHODS

FAULT_ENV = "GROUPSWEEP_INJECT_FAULT"  # "<trial id substring>@<epoch>": fail once after that epoch (chaos tests)
# set on clusters whose GPUs are logical only (the loopback test cluster advertises --num-gpus=1 without CUDA)
LOGICAL_GPUS_ENV = "GROUPSWEEP_LOGICAL_GPUS"
EPOCH_FOLDER = re.compile(r"epoch-\d{4,}")  # a checkpoint folder this module names (see _save_checkpoint)
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


@dataclass
class Trial:
    """Everything one trial knows about itself; built from the `trial` entry of the Tune config."""

    spec: TrialSpec
    started: float = field(default_factory=time.time)
    started_utc: str = field(default_factory=utc_now)
    device: str = "cpu"
    values: dict[str, Any] = field(default_factory=dict)  # metrics and cost so far
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trial_id(self) -> str:
        return self.spec.trial_id

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def job(self) -> Job:
        return self.spec.job

    @property
    def results_dir(self) -> str:
        return self.spec.results_dir

    @property
    def cpus(self) -> int:
        return max(1, int(self.spec.cpus))

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase (extract, fit); repeated phases add up."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            key = f"{name}_s"
            self.values[key] = self.values.get(key, 0.0) + time.perf_counter() - t0

    # -- rows -------------------------------------------------------------------------------------------------
    def write_row(self, status: str, error: str | None = None) -> None:
        values = dict(self.values, status=status, error=error, device=self.device, started_utc=self.started_utc,
                      finished_utc=utc_now(), wall_s=time.time() - self.started, versions=library_versions(),
                      **_node())
        ledger.write_parquet_atomic(ledger.make_row({**spec_row(self.spec), **values}, self.spec.param_types),
                                    ledger.row_path(self.results_dir, self.trial_id))

    def write_predictions(self, splits: dict[str, tuple]) -> None:
        """The final weights' class scores per split ({"val": (labels, scores), ...}), before the row says ok."""
        ledger.write_predictions(self.results_dir, self.trial_id, splits)

    def _write_history(self) -> None:
        ledger.write_parquet_atomic(ledger.history_table(self.history, self.trial_id),
                                    ledger.history_path(self.results_dir, self.trial_id))

    # -- reporting --------------------------------------------------------------------------------------------
    def report_epoch(self, epoch: int, metrics: dict[str, Any], final: bool,
                     save: Callable[[Path], None] | None = None) -> None:
        """Record one finished epoch: history, row (status ok when `final`), then Tune report + checkpoint.

        The row is written before `tune.report` because a scheduler may stop the trial at that report. A checkpoint
        is saved every `checkpoint_every` epochs of the budget, never after the last epoch (nothing left to resume).
        """
        self.values.update(metrics, epochs=epoch)
        if final:
            self._check_validated()
        self.history.append({"epoch": epoch, **metrics})
        with self.phase("write"):
            self._write_history()
            self.write_row("ok" if final else "running")
        tune_metrics = {k: v for k, v in self.values.items() if isinstance(v, (int, float))}
        every = self.spec.checkpoint_every
        if save is None or final or not every or epoch % every:
            self._tune_report(tune_metrics)
        else:
            with self.phase("write"):
                folder = self._save_checkpoint(epoch, save)
            self._tune_report(tune_metrics, folder)  # Tune copies the checkpoint now
            if store.is_uri(self.checkpoint_dir):
                shutil.rmtree(folder, ignore_errors=True)  # the local staging copy
        if final:
            store.remove_tree(self.checkpoint_dir)  # finished: nothing left to resume
        self._maybe_inject_fault(epoch)

    def _check_validated(self) -> None:
        """No row is ok without a validation accuracy: selection reads nothing else (a trial whose validation split
        came out empty would otherwise be an ok row that can never be chosen, or worse, be judged on test)."""
        val = self.values.get("val_acc")
        if val is None or val != val:
            raise DataError(f"dataset {self.job.dataset}: no validation accuracy (validation items: "
                            f"{self.values.get('n_val', 0)}); every class needs a training, a validation and a test "
                            f"item: lower the budget's caps or add data")

    @property
    def in_tune(self) -> bool:
        """False for a trial run in a plain loop (bench/trial_overhead.py's baseline): no Tune session to report to."""
        return self.spec.tune

    def _tune_report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None:
        if not self.in_tune:
            return
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint) if checkpoint else None)

    def _maybe_inject_fault(self, epoch: int) -> None:
        """Fail the first attempt after a chosen epoch, when GROUPSWEEP_INJECT_FAULT asks for it (fault tests)."""
        target, _, at = os.environ.get(FAULT_ENV, "").partition("@")
        if target and target in self.trial_id and at.isdigit() and int(at) == epoch and self.values["retries"] == 0:
            raise RuntimeError(f"injected fault after epoch {epoch} ({FAULT_ENV})")

    def count_attempt(self) -> None:
        """Record this start of the trial; `retries` in the row is the number of earlier starts."""
        location = store.join(self.results_dir, "attempts", self.trial_id)
        earlier = int(store.read_text(location) or 0)
        store.write_text(str(earlier + 1), location)
        self.values["retries"] = earlier

    def data_folder(self) -> Path:
        """The dataset on this node: a bucket's copy in the node's cache (made once per node, `data_sync_s` the
        seconds it took here, 0 when it was there), or the local folder, checked against the driver's
        fingerprint when the sweep asked (a local --data-root on a cluster of several machines)."""
        data = self.spec.data
        if store.is_uri(data.location):
            from trainables.data.sync import node_copy

            cache = Path(os.environ.get("GROUPSWEEP_CACHE", "~/.cache/groupsweep")).expanduser()
            folder, self.values["data_sync_s"] = node_copy(data.location, data.fingerprint, cache)
            return folder
        if data.verify:
            here = data_fingerprint(data.location, data.kind) if Path(data.location).exists() else None
            if here != data.fingerprint:
                found = "no such folder" if here is None else f"fingerprint {here}"
                node = _node()["node_ip"] or socket.gethostname()
                raise DataError(f"node {node}: dataset {self.job.dataset} at {data.location} is not the driver's "
                                f"({found}, expected {data.fingerprint}); copy it to every node or use a bucket: "
                                f"--data-root s3://...")
        return Path(data.location)

    @functools.cached_property
    def layout(self) -> Layout:
        """How this dataset's files are read (trainables.data.layout): the spec's layout, plus the sweep's held-out
        test split when the driver made one (its manifest in the sweep's folder)."""
        manifest, split = None, self.spec.data.split
        if split:
            text = store.read_text(split)
            if text is None:
                raise DataError(f"{split}: the sweep's split manifest is missing; rerun with --fresh")
            manifest = json.loads(text)
        return Layout.from_spec(self.spec.data.layout, manifest)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Record a trial that reports once (no epochs)."""
        self.report_epoch(1, metrics, final=True)

    # -- checkpoints ------------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> str:
        """The trial's checkpoints in the results folder: the sweep's own ledger, so a rerun with --resume
        continues a trial whose driver died (Tune's restore state lags by minutes). It holds one folder per saved
        epoch and `latest.json` naming the complete one; Tune gets a copy of each as its checkpoint."""
        return ledger.checkpoint_path(self.results_dir, self.trial_id)

    def _save_checkpoint(self, epoch: int, save: Callable[[Path], None]) -> Path:
        """Save into the epoch's folder (staged on local disk first when the results are on a store), then point
        `latest.json` at it — the commit — and drop older epochs. Returns the local folder Tune should copy."""
        version = f"epoch-{epoch:04d}"
        target = store.join(self.checkpoint_dir, version)
        local = Path(tempfile.mkdtemp(prefix=f"{self.trial_id}-")) if store.is_uri(target) else Path(target)
        shutil.rmtree(local, ignore_errors=True)  # a half-written folder of an attempt that died
        local.mkdir(parents=True)
        save(local)
        (local / "trial_state.json").write_text(json.dumps({"history": self.history, "epoch": epoch}))
        if store.is_uri(target):
            store.put_folder(local, target)
        pointer = json.dumps({"epoch": epoch, "folder": version})
        store.write_text(pointer, store.join(self.checkpoint_dir, "latest.json"))
        for old in store.list_folders(self.checkpoint_dir):
            if EPOCH_FOLDER.fullmatch(old) and old != version:  # only the epochs this trial saved
                store.remove_tree(store.join(self.checkpoint_dir, old))
        return local

    def _ledger_checkpoint(self, stack: contextlib.ExitStack) -> Path | None:
        """A local folder holding the ledger's latest checkpoint (fetched when the results are on a store)."""
        pointer = store.read_text(store.join(self.checkpoint_dir, "latest.json"))
        if pointer is None:
            return None
        folder = store.join(self.checkpoint_dir, json.loads(pointer)["folder"])
        if not store.is_uri(folder):
            return Path(folder)
        local = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{self.trial_id}-")))
        return store.get_folder(folder, local)

    @contextlib.contextmanager
    def resume(self) -> Iterator[Path | None]:
        """The folder of the newest checkpoint (Tune's on a retry, else the ledger's after a driver restart) when
        this trial ran before, else None; restores the history."""
        candidates = []
        checkpoint = None
        if self.in_tune:
            from ray import tune

            checkpoint = tune.get_checkpoint()
        with contextlib.ExitStack() as stack:
            if checkpoint is not None:
                candidates.append(Path(stack.enter_context(checkpoint.as_directory())))
            ledger = self._ledger_checkpoint(stack)
            if ledger is not None:
                candidates.append(ledger)
            if not candidates:
                yield None
                return
            states = {folder: json.loads((folder / "trial_state.json").read_text()) for folder in candidates}
            folder, state = max(states.items(), key=lambda item: item[1]["epoch"])
            self.history = state["history"]
            self.values.update({k: v for k, v in self.history[-1].items() if k != "epoch"}, epochs=state["epoch"])
            yield folder

    def fail(self, exc: BaseException) -> None:
        self.write_row("error", one_line(exc))


def spec_row(spec: TrialSpec) -> dict[str, Any]:
    """The part of a trial's row known before it runs: identity, param_* and data/code provenance."""
    job = spec.job
    part1 = job.part == 1
    row = {"sweep_id": spec.sweep_id, "part": job.part, "dataset": job.dataset,
           "model": job.model if part1 else None, "cell": None if part1 else job.model,
           "method": job.method, "framework": spec.framework, "trial_id": spec.trial_id,
           "seed": spec.seed, "git_sha": spec.git_sha, "data_fingerprint": spec.data.fingerprint,
           "cpus": spec.cpus, "gpus": spec.gpus,  # what the trial reserved: its cost
           **{k: v for k, v in spec.data.counts.items() if k != "n_classes"},  # the files' sizes
           **(spec.data.held_out or {})}  # the seed and fraction of a test split held out here
    return row | {f"param_{k}": v for k, v in spec.params.items()}


def _node() -> dict[str, str | None]:
    """Which Ray node ran the trial (id and address), for cluster runs and their tests."""
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():  # get_runtime_context() would start a Ray outside a trial
            return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}
    return {"node_id": None, "node_ip": None}


class GPUUnavailable(RuntimeError):
    """A trial was given a GPU by Ray but its framework cannot see any CUDA device."""


def visible_gpus(framework: str) -> int:
    if framework == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    import torch

    return torch.cuda.device_count()


def check_gpu(spec: TrialSpec) -> None:
    """Fail at start, not hours later on the CPU, when a trial that asked for a GPU cannot use one."""
    if not spec.gpus or os.environ.get(LOGICAL_GPUS_ENV):
        return
    if visible_gpus(spec.framework) == 0:
        import ray

        assigned = ray.get_gpu_ids() if ray.is_initialized() else []  # get_gpu_ids() would start a Ray
        raise GPUUnavailable(
            f"trial asked for {spec.gpus:g} GPU and Ray assigned {assigned or 'none'}, but "
            f"{spec.framework} sees no CUDA device (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r});"
            f" install the GPU build on this node (make venv EXTRA=gpu) or run with --gpus-per-trial 0")


def release_gpu_memory() -> None:
    """Hand cached CUDA blocks back before the process ends (one process per trial, but Ray may keep it a while)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def load_method(name: str, framework: str) -> Callable[[Path, Trial], None]:
    module_name, _, func = METHODS.get(name).trainable(framework).partition(":")
    return getattr(importlib.import_module(module_name), func)


def storage_refusal(spec: TrialSpec, exc: BaseException) -> store.WriteFailed | None:
    """The storage's refusal behind a trial's failure: an errno that says so anywhere in the exception's chain, or
    else a results / cache folder that takes no writes now (a library that hides the errno: torch's own writer says
    only "enforce fail")."""
    return (store.write_refusal(exc) or store.refuses_writes(spec.results_dir)
            or store.refuses_writes(spec.cache_dir))


def run_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: run one trial of any method, leaving a row whatever happens."""
    trial = Trial(TrialSpec.from_config(config["trial"]))
    try:
        trial.count_attempt()
        seed_everything(trial.seed)
        check_gpu(trial.spec)
        with trial.phase("import"):  # the method's libraries (torch, TensorFlow, scikit-learn) on first use
            run = load_method(trial.job.method, trial.spec.framework)
        run(trial.data_folder(), trial)
    except Exception as exc:  # every failure must leave an error row; Tune then sees it too
        refusal = storage_refusal(trial.spec, exc)
        if refusal is not None:  # not the trial's fault: no error row (none could be written); the driver stops
            raise refusal from None  # the sweep, and --resume reruns this trial from its checkpoint
        with contextlib.suppress(Exception):
            trial.fail(exc)
        raise
    finally:
        release_gpu_memory()
        sys.stdout.flush()
