"""A sweep's state while it runs, read from what it writes, and `python -m analysis RUN --watch [SECONDS]`, which
rewrites the report with it until every planned trial has finished, or until no driver has held the sweep for a
while (its driver killed, its machine gone): then the page says "stopped", since when, and how to continue.

What is known without asking the driver: the plan (`sweep.json`: every trial id), each trial's row (rewritten at
every epoch, status `running` until its last; core.ledger) and the current driver run's cluster record (its start;
core.cluster_use). From these: jobs done / running / waiting, the running trials with their latest epoch, and the
finish time at this run's pace (core.pace). Nothing here takes the driver's lock or writes where the driver does
(only `reports/`), and every file is read whole (core.ledger.read_folder), so a row being replaced is read as its
old or its new version, never half of each. Whether a driver holds the sweep comes from its lock (sweeps.lock): on
this host, whether the holder's pid runs; from another host, whether its heartbeat moves.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from core import cluster_use
from core.ledger import FINISHED, job_key
from core.pace import clock, remaining_s

ENDED = FINISHED + ("error",)  # a row that will not change again in this run
UNFINISHED = ("running", "waiting")  # a job's state (and its report outcome) while the sweep runs
STALE_S = 300.0  # --watch rebuilds an unchanged sweep's report this often all the same (its clock, its times)
STOPPED_ROUNDS, STOPPED_MIN_S = 3, 10.0  # --watch ends once no driver held the sweep this many rounds (and seconds)


@dataclass(frozen=True)
class DriverState:
    """Whether a driver holds the sweep now, and if not, since when and how to continue it."""

    alive: bool
    holder: str  # whose lock it is ("host h, pid p, started ..."), or "" when no lock is left
    since_utc: str | None  # no driver: when one was last seen (the lock's or the rows' last write)
    resume: str  # the command that continues the sweep

    def line(self) -> str:
        if self.alive:
            return f"driver: {self.holder}"
        since = f" since {self.since_utc[11:16]} UTC" if self.since_utc else ""
        return f"stopped: no driver{since}; continue with `{self.resume}`"


class DriverWatch:
    """A sweep's driver as its lock shows it, over the rounds of a watch: a lock on this host is alive while its
    pid runs; one from another host while its heartbeat moves (watched for sweeps.lock.STALE_BEATS beats, no clocks
    compared); no lock, no driver."""

    def __init__(self) -> None:
        self.beats: dict[str, tuple[int, float]] = {}  # lock token -> (its beat, when it was first seen)

    def state(self, sweep_dir: str | os.PathLike, manifest: dict, trials: pd.DataFrame) -> DriverState:
        from core import store
        from sweeps.lock import STALE_BEATS, Holder, lock_location, pid_alive

        storage = str(sweep_dir).rstrip("/").rsplit("/", 1)[0]
        location = lock_location(storage, manifest.get("sweep_id") or str(sweep_dir).rstrip("/").rsplit("/", 1)[-1])
        resume = manifest.get("command") or "the sweep's own command with --resume"
        try:
            holder = Holder.parse(store.read_text(location) or "null")
        except (ValueError, TypeError, OSError):
            holder = None
        if holder is not None:
            if holder.runs_here():
                alive = pid_alive(holder.pid)
            else:
                beat, seen = self.beats.get(holder.token, (None, None))
                if beat != holder.beat:
                    self.beats[holder.token] = beat, seen = holder.beat, time.monotonic()
                alive = time.monotonic() - seen < STALE_BEATS * holder.heartbeat_s
            if alive:
                return DriverState(True, holder.describe(), None, resume)
        written = [t for t in (store.modified_utc(location), _last_row(trials)) if t]
        return DriverState(False, holder.describe() if holder else "", max(written) if written else None, resume)


def _last_row(trials: pd.DataFrame) -> str | None:
    """When the newest row was written (UTC, ISO 8601), or None without rows."""
    if not len(trials) or not trials["finished_utc"].notna().any():
        return None
    return max(_parse(t) for t in trials["finished_utc"].dropna()).isoformat(timespec="seconds")


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
    driver: DriverState | None = field(default=None)  # None: not looked at

    @property
    def stopped(self) -> bool:
        """Unfinished, and no driver holds the sweep."""
        return not self.complete and self.driver is not None and not self.driver.alive

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
        jobs = ", ".join(f"{n} {state}" for state, n in self.counts.items())
        if self.stopped:
            return f"{self.as_of_utc}: {self.ended}/{self.total} trials ended; jobs {jobs}; {self.driver.line()}"
        left = f", ~{clock(self.remaining_s)} left" if self.remaining_s else ""
        return (f"{self.as_of_utc}: {self.ended}/{self.total} trials ended, {len(self.running)} running, "
                f"{self.waiting} waiting; jobs {jobs}{left}")


def _parse(utc: str) -> datetime:
    return datetime.fromisoformat(utc).astimezone(timezone.utc)


def live_status(manifest: dict, trials: pd.DataFrame, sweep_dir: str | os.PathLike,
                now: datetime | None = None, driver: DriverState | None = None) -> LiveStatus:
    """Where the sweep stands: its plan against its rows, the pace of its current driver run, and (given) whether
    a driver holds it."""
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
                      remaining, driver)


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
    every planned trial has ended (exit 0), or no driver has held the sweep for STOPPED_ROUNDS rounds (exit 1);
    a report that fails to build is said in one line and tried again."""
    try:
        return _watch(sweep_dir, every, build)
    except KeyboardInterrupt:
        print("stopped watching (the sweep goes on)")
        return 0


def _watch(sweep_dir: str, every: float, build: Any) -> int:
    """The loop: a round whose rows, cluster record and driver have not changed since the last report skips the
    rebuild (a report is seconds of work; an overnight trial writes its row once an epoch), up to STALE_S."""
    from core import store
    from core.results import ResultsError, load_manifest, load_trials

    drivers = DriverWatch()
    last_files = last_stamp = trials = None
    last_built, stopped_since, status = 0.0, None, None
    while True:
        started = time.monotonic()
        stale = started - last_built >= STALE_S
        try:
            manifest = load_manifest(sweep_dir)
            files = tuple(store.folder_stamp(store.join(sweep_dir, name)) for name in ("trials", "cluster"))
            if trials is None or files != last_files or stale:  # rows read only when some changed
                trials, last_files = load_trials(sweep_dir, manifest), files
            driver = drivers.state(sweep_dir, manifest, trials)
            stamp = files + (driver.alive,)
            if stamp != last_stamp or stale:
                status = live_status(manifest, trials, sweep_dir, driver=driver)
                build(status)
                print(status.line(), flush=True)
                last_stamp, last_built = stamp, started
        except (ResultsError, OSError) as exc:  # e.g. a network hiccup reading a bucket: the next round retries
            print(f"warning: report not rebuilt this time ({str(exc).splitlines()[0]}); retrying in {every:g} s",
                  flush=True)
        if status is not None and status.complete:
            return 0
        if status is not None and status.stopped:
            stopped_since = stopped_since or started
            if started - stopped_since >= max(STOPPED_ROUNDS * every, STOPPED_MIN_S):
                print(f"no driver has held the sweep for {started - stopped_since:.0f} s: stopped watching; "
                      f"continue the sweep with `{status.driver.resume}`", flush=True)
                return 1
        else:
            stopped_since = None
        time.sleep(max(0.0, every - (time.monotonic() - started)))
