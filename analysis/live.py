"""A sweep's state while it runs, read from what it writes, and `python -m analysis RUN --watch [SECONDS]`, which
rewrites the report with it until every planned trial has finished.

What is known without asking the driver: the plan (`sweep.json`: every trial id), each trial's row (rewritten at
every epoch, status `running` until its last; core.ledger) and the current driver run's cluster record (its start;
core.cluster_use). From these: jobs done / running / waiting, the running trials with their latest epoch, and the
finish time at this run's pace (core.pace). Nothing here takes the driver's lock or writes where the driver does
(only `reports/`), and every file is read whole (core.ledger.read_folder), so a row being replaced is read as its
old or its new version, never half of each.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from core import cluster_use
from core.ledger import FINISHED, job_key
from core.pace import clock, remaining_s

ENDED = FINISHED + ("error",)  # a row that will not change again in this run
UNFINISHED = ("running", "waiting")  # a job's state (and its report outcome) while the sweep runs
STALE_S = 300.0  # --watch rebuilds an unchanged sweep's report this often all the same (its clock, its times)


@dataclass(frozen=True)
class LiveTrial:
    trial_id: str
    job: str
    epoch: int
    val_acc: float | None
    updated_s: float  # since its row was last written


@dataclass(frozen=True)
class LiveStatus:
    as_of_utc: str
    total: int  # trials in the plan
    ended: int  # ok, stopped or error
    running: list[LiveTrial]
    jobs: dict[str, str]  # job key -> done, running or waiting
    elapsed_s: float | None  # since this driver run started (None: no record of it yet)
    remaining_s: float | None  # at this run's pace (None: too few trials finished in it to say)

    @property
    def counts(self) -> dict[str, int]:
        """Jobs per state."""
        return {state: sum(1 for s in self.jobs.values() if s == state) for state in ("done", "running", "waiting")}

    @property
    def waiting(self) -> int:
        return self.total - self.ended - len(self.running)

    @property
    def complete(self) -> bool:
        return self.ended >= self.total

    @property
    def finish_utc(self) -> str | None:
        if self.remaining_s is None:
            return None
        finish = _parse(self.as_of_utc) + timedelta(seconds=self.remaining_s)
        return finish.isoformat(timespec="minutes")

    def line(self) -> str:
        """One line for a terminal."""
        left = f", ~{clock(self.remaining_s)} left" if self.remaining_s else ""
        jobs = ", ".join(f"{n} {state}" for state, n in self.counts.items())
        return (f"{self.as_of_utc}: {self.ended}/{self.total} trials ended, {len(self.running)} running, "
                f"{self.waiting} waiting; jobs {jobs}{left}")


def _parse(utc: str) -> datetime:
    return datetime.fromisoformat(utc).astimezone(timezone.utc)


def live_status(manifest: dict, trials: pd.DataFrame, sweep_dir: str | os.PathLike,
                now: datetime | None = None) -> LiveStatus:
    """Where the sweep stands: its plan against its rows, and the pace of its current driver run."""
    now = now or datetime.now(timezone.utc)
    planned = list(manifest.get("trials") or [])
    rows = trials[trials["trial_id"].isin(planned)] if len(trials) else trials
    ended = rows[rows["status"].isin(ENDED)] if len(rows) else rows
    running_rows = rows[rows["status"] == "running"] if len(rows) else rows
    running = [LiveTrial(r.trial_id, job, int(r.epochs or 0), None if pd.isna(r.val_acc) else float(r.val_acc),
                         (now - _parse(r.finished_utc)).total_seconds())
               for r, job in zip(running_rows.itertuples(), job_key(running_rows) if len(running_rows) else [])]
    jobs = job_states(manifest, planned, rows)
    runs = cluster_use.read_all(str(sweep_dir))
    elapsed = remaining = None
    if runs:
        started = _parse(runs[-1].started_utc)
        elapsed = (now - started).total_seconds()
        this_run = int((ended["finished_utc"].map(_parse) >= started).sum()) if len(ended) else 0
        remaining = remaining_s(elapsed, this_run, len(planned) - len(ended))
    return LiveStatus(now.isoformat(timespec="seconds"), len(planned), len(ended), running, jobs, elapsed,
                      remaining)


def job_states(manifest: dict, planned: list[str], rows: pd.DataFrame) -> dict[str, str]:
    """Each job's state: done (every planned trial ended), running (some trial started) or waiting."""
    status = dict(zip(rows["trial_id"], rows["status"])) if len(rows) else {}
    seen: dict[str, list[str | None]] = {job["key"]: [] for job in manifest.get("jobs", [])}
    for trial_id, key in zip(planned, job_key(pd.DataFrame({"trial_id": planned}, dtype=object))):
        seen.setdefault(key, []).append(status.get(trial_id))
    return {key: "done" if states and all(s in ENDED for s in states) else
            "running" if any(s is not None for s in states) else "waiting" for key, states in seen.items()}


def watch(sweep_dir: str, every: float, build: Any) -> int:
    """Rebuild the report every `every` seconds (`build(live)`, analysis.report.build_report's partial) until
    every planned trial has ended; a report that fails to build is said in one line and tried again."""
    try:
        return _watch(sweep_dir, every, build)
    except KeyboardInterrupt:
        print("stopped watching (the sweep goes on)")
        return 0


def _watch(sweep_dir: str, every: float, build: Any) -> int:
    """The loop: a round whose rows and cluster record have not changed since the last report skips the rebuild
    (a report is seconds of work; an overnight trial writes its row once an epoch), up to STALE_S."""
    from core import store
    from core.results import ResultsError, load_manifest, load_trials

    last_stamp, last_built = None, 0.0
    while True:
        started = time.monotonic()
        status = None
        try:
            stamp = tuple(store.folder_stamp(store.join(sweep_dir, name)) for name in ("trials", "cluster"))
            if stamp != last_stamp or started - last_built >= STALE_S:
                manifest = load_manifest(sweep_dir)
                status = live_status(manifest, load_trials(sweep_dir, manifest), sweep_dir)
                build(status)
                print(status.line(), flush=True)
                last_stamp, last_built = stamp, started
        except (ResultsError, OSError) as exc:  # e.g. a network hiccup reading a bucket: the next round retries
            print(f"warning: report not rebuilt this time ({str(exc).splitlines()[0]}); retrying in {every:g} s",
                  flush=True)
        if status is not None and status.complete:
            return 0
        time.sleep(max(0.0, every - (time.monotonic() - started)))
