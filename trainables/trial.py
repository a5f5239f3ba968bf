"""The single Ray Tune entry point, and the narrow context method code runs in.

`run_trial(config)` is what Tune runs, one process per trial (`session=PLAIN` runs one outside Tune): it counts the
attempt, checks the GPU it was given, finds the dataset on its node (trainables.data.resolve), looks up the method's
family in METHODS and calls its
`run(dataset_dir, trial)`; whatever happens, the trial leaves a row. Method code sees only `Trial`: what it may read
(its spec, hyperparameters, seed, job, CPUs, the dataset's layout, the history so far) and the few things it
reports (timed phases, facts for its row, the device it ran on, epochs or a single result, its class scores, and
resuming from a checkpoint). Rows and histories (trainables.rows), checkpoints (trainables.checkpoints) and the
fault tests' hooks (trainables.faults) are behind it.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from core import ledger, store
from core.plan import Job, TrialSpec
from core.registry import METHODS
from trainables.checkpoints import Checkpoints
from trainables.common import seed_everything
from trainables.data.layout import Layout
from trainables.data.resolve import dataset_folder, trial_layout
from trainables.faults import Attempts, count_attempt, inject_fault
from trainables.rows import TrialRecord, one_line

# set on clusters whose GPUs are logical only (the loopback test cluster advertises --num-gpus=1 without CUDA)
LOGICAL_GPUS_ENV = "GROUPSWEEP_LOGICAL_GPUS"


class Session(Protocol):
    """Where a trial reports: Tune's session, or none (a trial run by hand, bench/trial_overhead.py's baseline)."""

    def report(self, metrics: dict[str, Any], checkpoint: Path | None) -> None: ...

    def restored(self) -> Any:
        """The checkpoint Tune restored this trial from (a `ray.tune.Checkpoint`), or None."""


class TuneSession:
    def report(self, metrics: dict[str, Any], checkpoint: Path | None) -> None:
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint) if checkpoint else None)

    def restored(self) -> Any:
        from ray import tune

        return tune.get_checkpoint()


class NoSession:
    def report(self, metrics: dict[str, Any], checkpoint: Path | None) -> None:
        pass  # the row, history and the ledger's checkpoint already hold everything

    def restored(self) -> Any:
        return None  # a rerun resumes from the ledger's checkpoint alone


TUNE, PLAIN = TuneSession(), NoSession()


class Trial:
    """What a method family's `run(dataset_dir, trial)` sees of its trial."""

    def __init__(self, spec: TrialSpec, session: Session = TUNE):
        self.spec = spec
        self._session = session
        self._record = TrialRecord(spec)
        self._checkpoints = Checkpoints(spec)

    # -- what method code reads -------------------------------------------------------------------------------
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
    def cpus(self) -> int:
        return max(1, int(self.spec.cpus))

    @functools.cached_property
    def layout(self) -> Layout:
        """How this dataset's files are read (the sweep's held-out test split included)."""
        return trial_layout(self.spec)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The epochs reported so far (a resumed trial's included), oldest first; a copy."""
        return [dict(h) for h in self._record.history]

    @property
    def epochs_done(self) -> int:
        """Epochs already trained: 0, or the epoch of the checkpoint resume() restored."""
        return int(self._record.values.get("epochs") or 0)

    def elapsed(self, phase: str) -> float:
        """Seconds spent in a phase so far (see phase())."""
        return float(self._record.values.get(f"{phase}_s", 0.0))

    # -- what method code reports -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase (import, extract, fit, eval, write); repeated phases add up in the row's `<name>_s`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._record.values[f"{name}_s"] = self.elapsed(name) + time.perf_counter() - t0

    def record(self, **facts: Any) -> None:
        """Facts for the row (sizes used, skipped files, vocabulary...): columns core.ledger declares."""
        self._record.values.update(facts)

    def use_device(self, device: str) -> None:
        """Where the trial's work ran (`cpu`, `cuda:<name>`), for its row."""
        self._record.device = device

    def write_predictions(self, splits: dict[str, tuple]) -> None:
        """The final weights' class scores per split ({"val": (labels, scores), ...}), before the row says ok."""
        ledger.write_predictions(self.spec.results_dir, self.trial_id, splits)

    def report_epoch(self, epoch: int, metrics: dict[str, Any], final: bool,
                     save: Callable[[Path], None] | None = None) -> None:
        """Record one finished epoch: history, row (status ok when `final`), then Tune report + checkpoint.

        A checkpoint is saved every `checkpoint_every` epochs of the budget, never after the last epoch (nothing left
        to resume), and committed before the history and row show the epoch: a trial stopped anywhere in between (a
        Slurm job's time limit) never trains an epoch its history shows again. The row is written before
        `tune.report` because a scheduler may stop the trial at that report.
        """
        record = self._record
        record.values.update(metrics, epochs=epoch)
        if final:
            record.check_validated()
        record.history.append({"epoch": epoch, **metrics})
        every = self.spec.checkpoint_every
        folder = None
        if save is not None and not final and every and epoch % every == 0:
            with self.phase("write"):
                folder = self._checkpoints.save(epoch, record.history, save)
        with self.phase("write"):
            record.write_history()
            record.write_row("ok" if final else "running")
        tune_metrics = {k: v for k, v in record.values.items() if isinstance(v, (int, float))}
        self._session.report(tune_metrics, folder)  # Tune copies the checkpoint now
        if folder is not None and self._checkpoints.staged:
            shutil.rmtree(folder, ignore_errors=True)  # the local staging copy
        if final:
            self._checkpoints.drop()  # finished: nothing left to resume
        earlier = sum(int(record.values.get(k) or 0) for k in ("retries", "node_losses"))  # this trial's starts before
        inject_fault(self.spec, epoch, earlier)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Record a trial that reports once (no epochs)."""
        self.report_epoch(1, metrics, final=True)

    @contextlib.contextmanager
    def resume(self) -> Iterator[Path | None]:
        """The folder of the newest checkpoint when this trial ran before (its history and epochs_done restored),
        else None."""
        with self._checkpoints.newest(self._session.restored()) as newest:
            if newest is None:
                yield None
                return
            folder, state = newest
            self._record.history = state["history"]
            last = {k: v for k, v in state["history"][-1].items() if k != "epoch"}
            self._record.values.update(last, epochs=state["epoch"])
            yield folder

    # -- the entry point's ------------------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """The error row (run_trial's, whatever the method raised)."""
        self._record.write_row("error", one_line(exc))

    def give_up(self, attempts: Attempts) -> None:
        """End a trial that has used up --max-failures, keeping the error row its last failure wrote (one that
        died without writing any gets one now)."""
        row = ledger.read_row(self.spec.results_dir, self.trial_id)
        if row is None or row.get("status") != "error":
            self._record.write_row("error", f"TrialProcessDied: the trial's process died on a node that stayed up "
                                            f"{attempts.failures_this_run} time(s) (--max-failures "
                                            f"{self.spec.max_failures})")


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


def assigned_gpus(spec: TrialSpec) -> str | None:
    """The GPU ids Ray gave this trial (as the node's scheduler numbers them: under Slurm, its CUDA_VISIBLE_DEVICES
    for the job), comma-separated; None for a CPU trial or outside Ray."""
    import ray

    if not spec.gpus or not ray.is_initialized():
        return None
    return ",".join(map(str, ray.get_gpu_ids()))


def release_gpu_memory() -> None:
    """Hand cached CUDA blocks back before the process ends (one process per trial, but Ray may keep it a while)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def current_node() -> str:
    """The Ray node this process runs on ("" outside Ray)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def load_method(name: str, framework: str) -> Callable[[Path, Trial], None]:
    module_name, _, func = METHODS.get(name).trainable(framework).partition(":")
    return getattr(importlib.import_module(module_name), func)


def storage_refusal(spec: TrialSpec, exc: BaseException) -> store.WriteFailed | None:
    """The storage's refusal behind a trial's failure: an errno that says so anywhere in the exception's chain, or
    else a results / cache folder that takes no writes now (a library that hides the errno: torch's own writer says
    only "enforce fail"). An errno without a file (a framework saving a checkpoint) names the sweep's folder."""
    folders = [spec.results_dir] + ([spec.cache_dir] if spec.cache_dir else [])
    return store.write_refusal(exc, spec.results_dir) or next(filter(None, map(store.refuses_writes, folders)), None)


def run_trial(config: dict[str, Any], session: Session = TUNE) -> None:
    """Ray Tune's function trainable (Tune passes only `config`): run one trial of any method, leaving a row
    whatever happens."""
    trial = Trial(TrialSpec.from_config(config["trial"]), session)
    try:
        attempts = count_attempt(trial.spec, config.get("run", ""), current_node())
        trial.record(retries=attempts.retries, node_losses=attempts.node_losses)
        if attempts.failures_this_run > trial.spec.max_failures:
            trial.give_up(attempts)
            return
        seed_everything(trial.seed)
        check_gpu(trial.spec)
        trial.record(gpu_ids=assigned_gpus(trial.spec))
        with trial.phase("import"):  # the method's libraries (torch, TensorFlow, scikit-learn) on first use
            run = load_method(trial.job.method, trial.spec.framework)
        folder, sync_s = dataset_folder(trial.spec)
        if sync_s is not None:
            trial.record(data_sync_s=sync_s)  # a bucket's copy on this node: 0 when it was there
        run(folder, trial)
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
