"""Concise per-trial progress for the driver, and the driver's half of the row bookkeeping.

Trials write their own rows. The driver only closes gaps a trial cannot close itself: a trial stopped early by the
scheduler is marked `stopped`, and a trial that died without writing a row (killed process, out of memory) gets an
`error` row from Tune's error record.
"""
from __future__ import annotations

import functools
import sys
import time
from typing import Callable

from ray import tune

from core import ledger, store
from core.pace import clock, remaining_s
from core.plan import TrialSpec
from sweeps.interrupt import refusal_in
from trainables.rows import spec_row


SKIPPED = {"skipped_images": "files (not images, or unreadable)", "skipped_rows": "rows (empty text or label)"}


def _count(value) -> str:
    return "?" if value is None or value != value else f"{value:.0f}"


def _fmt(value) -> str:
    return "  -  " if value is None or value != value else f"{value:.3f}"


def eta(elapsed: float, done: int, total: int) -> str:
    """Elapsed time, and once a few trials have finished, the time left at the pace so far (core.pace)."""
    left = remaining_s(elapsed, done, total - done)
    return f"{clock(elapsed):>7} elapsed" + (f", ~{clock(left)} left" if left else "")


def refusal_guarded(handler: Callable) -> Callable:
    """A callback whose writes the storage refuses hands the refusal to the sweep's stop (sweeps.interrupt), which
    ends the run cleanly, instead of raising inside Tune (a TuneError and hundreds of lines of traceback)."""
    @functools.wraps(handler)
    def guarded(self: "SweepProgress", *args, **kwargs) -> None:
        try:
            handler(self, *args, **kwargs)
        except Exception as exc:
            refusal = store.write_refusal(exc, self.results_dir) or store.refuses_writes(self.results_dir)
            if refusal is None:
                raise
            self.on_refused(refusal)
    return guarded


def trial_refusal(trial) -> store.WriteFailed | None:
    """The storage refusal a trial failed with (trainables.trial.run_trial raises it), read from Tune's record."""
    try:
        text = str(trial.get_error())
    except Exception:  # noqa: BLE001 - no record: not a refusal we can name
        return None
    return refusal_in(text)


class SweepProgress(tune.Callback):
    def __init__(self, total: int, results_dir: str, schema, on_refused: Callable[[Exception], None] = lambda e: None):
        self.total = total
        self.results_dir = results_dir
        self.schema = schema  # the sweep's row schema: only its own rows are read back (core.ledger.misfit)
        self.on_refused = on_refused  # a write the storage refused (full, read-only): stop the sweep
        self.done = 0
        self.t0 = time.time()
        self.warned: set[str] = set()  # datasets whose skipped files were shown

    def _line(self, trial, status: str) -> None:
        spec = TrialSpec.from_config(trial.config["trial"])
        row = ledger.read_row(self.results_dir, spec.trial_id, self.schema) or {}
        self.done += 1
        job = spec.job
        what = f"p{job.part} {job.dataset:<11} {job.model:<12} {job.method:<12}"
        detail = row.get("error") if status == "error" else (
            f"val {_fmt(row.get('val_acc'))} test {_fmt(row.get('test_acc'))} ({row.get('epochs') or 0:.0f} ep, "
            f"{_count(row.get('n_train'))} train / {_count(row.get('n_test'))} test)")
        print(f"[{self.done:>4}/{self.total}] {status:<7} {what} #{spec.sample:<2} {detail}  "
              f"{eta(time.time() - self.t0, self.done, self.total)}", flush=True)
        self._warn_skipped(job.dataset, row)

    def _warn_skipped(self, dataset: str, row: dict) -> None:
        """Once per dataset: what its trials' data reading left out (the rows count it, per trial)."""
        for column, what in SKIPPED.items():
            count = row.get(column)
            if count and count == count and dataset not in self.warned:
                self.warned.add(dataset)
                print(f"warning: {dataset}: {count:.0f} {what} skipped; first: {row.get('skipped_first')} "
                      f"(rows: {column})", file=sys.stderr, flush=True)

    @refusal_guarded
    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        spec = TrialSpec.from_config(trial.config["trial"])
        row = ledger.read_row(self.results_dir, spec.trial_id, self.schema)
        if row is not None and row["status"] == "running":  # the scheduler stopped it before the last epoch
            row["status"] = "stopped"
            ledger.write_parquet_atomic(ledger.make_row(row, spec.param_types),
                                        ledger.row_path(self.results_dir, spec.trial_id))
        # finished or stopped for good: its resume checkpoint only takes disk (a VGG16 one is half a gigabyte)
        store.remove_tree(ledger.checkpoint_path(self.results_dir, spec.trial_id))
        # a trial that used up --max-failures ends without running (trainables.faults), its error row kept
        status = row["status"] if row is not None and row["status"] in ("stopped", "error") else "ok"
        self._line(trial, status)

    @refusal_guarded
    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        refusal = trial_refusal(trial)  # a retry would meet the same full disk: stop now
        if refusal is not None:
            self.on_refused(refusal)

    @refusal_guarded
    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        refusal = trial_refusal(trial)
        if refusal is not None:  # not the trial's fault: no error row; --resume reruns it
            self.on_refused(refusal)
            return
        spec = TrialSpec.from_config(trial.config["trial"])
        row = ledger.read_row(self.results_dir, spec.trial_id, self.schema)
        if row is None or row["status"] != "error":  # died before it could write its own error row
            base = row if row is not None else spec_row(spec)
            row = dict(base, status="error", error=_last_error_line(trial))
            ledger.write_parquet_atomic(ledger.make_row(row, spec.param_types),
                                        ledger.row_path(self.results_dir, spec.trial_id))
        self._line(trial, "error")


def _last_error_line(trial) -> str:
    """The last non-empty line of Tune's error record for a trial (the exception itself)."""
    try:
        text = trial.get_error()
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        return lines[-1][:500] if lines else "trial failed without an error message"
    except Exception as exc:  # the record itself may be missing when the worker died hard
        return f"trial process died ({type(exc).__name__})"
