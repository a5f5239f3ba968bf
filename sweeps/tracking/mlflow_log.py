"""`--mlflow URI` (or $MLFLOW_TRACKING_URI): every trial of the sweep as an MLflow run, through MLflow's own client,
sent off the driver's loop (sweeps.tracking.sidechannel) so that a tracking server that dies or stalls never costs
a trial.

One experiment per sweep (named `groupsweep/<sweep id>`), one parent run for the sweep and one run per trial nested
under it (MLflow's `mlflow.parentRunId` tag). A trial's run holds its searched parameters and its job's facts
(params), its per-epoch curves (step = epoch) and, when it ends, its row's final metrics and status (core.ledger:
the row is the truth, MLflow a view of it). Runs are found again by their tags, so `--resume` continues the sweep's
run and a resumed trial's run (logging only the epochs it had not logged) instead of making second ones; and so
does the backfill (`groupsweep mlflow RUN`), which replays a sweep's rows into MLflow after the fact —
what a server that was away missed. Every run carries a note saying so: a run left RUNNING after its sweep ended
is one whose server stopped answering.

Before any trial the server is probed (the experiment and the sweep's run, with MLflow's HTTP timeouts and retries
lowered): a server that refuses is refused in one line; one that does not answer in PROBE_S seconds gets one
warning and no more calls. Ray Tune ships `MLflowLoggerCallback`, but it calls the server on the driver's loop,
keeps its runs in memory (a resumed driver makes second runs) and logs Tune's whole config as parameters.
"""
from __future__ import annotations

import math
import os
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ray import tune

from core import ledger, store
from core.ledger import CURVES  # logged every epoch
from core.plan import TrialSpec
from sweeps.tracking.sidechannel import GRACE_S, STOP_GRACE_S, Sender, first_line

FINAL = tuple(ledger.METRICS) + ("wall_s", "fit_s", "eval_s", "items_per_s", "retries", "node_losses")  # a row's
PROBE_S = 8.0  # the start's probe waits this long for an answer
# MLflow's client retries a failed request 7 times with backoff and waits 120 s for each answer (minutes per call);
# the sender bounds the rest (sweeps.tracking.sidechannel), so each call may take ~11 s at most. A user's own
# settings win.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}
NOTE = "mlflow.note.content"  # the run's description in MLflow's UI


class TrackingUnavailable(RuntimeError):
    """The tracking server refused the sweep (closed port, unknown host, an error answer)."""


def experiment_name(sweep_id: str) -> str:
    return f"groupsweep/{sweep_id}"


def backfill_command(sweep_dir: str, uri: str) -> str:
    return f"groupsweep mlflow {shlex.quote(str(sweep_dir))} --mlflow {shlex.quote(uri)}"


def note(sweep_dir: str, uri: str) -> str:
    return (f"Logged by groupsweep while the sweep ran; the sweep's rows are its record. A run still RUNNING after "
            f"its sweep ended lost its tracking server; replay the rows with `{backfill_command(sweep_dir, uri)}`.")


def _numbers(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, float]:
    return {k: float(values[k]) for k in names if isinstance(values.get(k), (int, float))
            and not isinstance(values.get(k), bool) and not math.isnan(values[k])}


@dataclass(frozen=True)
class TrialFacts:
    """What a trial's run is named, tagged and parameterised by: from a live trial's spec or from its row."""

    trial_id: str
    sweep_id: str
    job: str
    method: str
    params: dict[str, Any] = field(hash=False)  # the job's facts and the searched configuration

    @classmethod
    def from_config(cls, config: dict) -> "TrialFacts":
        spec = TrialSpec.from_config(config)
        job = spec.job
        params = {"dataset": job.dataset, "model": job.model, "method": job.method, "sample": spec.sample,
                  "seed": spec.seed} | spec.params
        return cls(spec.trial_id, spec.sweep_id, job.key, job.method, params)

    @classmethod
    def from_row(cls, row: dict) -> "TrialFacts":
        job, sample, _ = str(row["trial_id"]).rsplit("-", 2)
        searched = {k.removeprefix("param_"): v for k, v in row.items()
                    if k.startswith("param_") and v is not None and v == v}  # NaN: another method's parameter
        params = {"dataset": row["dataset"], "model": row["model"], "method": row["method"],
                  "sample": int(sample) if sample.isdigit() else sample, "seed": row["seed"]} | searched
        return cls(row["trial_id"], row["sweep_id"], job, row["method"], params)


class MlflowWriter:
    """The calls that put a sweep into MLflow, made in order by one caller: the live callback's sender thread, or
    the backfill. Each is safe to repeat (runs found by tags, epochs logged once), so a call tried again after a
    failure does not log twice."""

    def __init__(self, uri: str, sweep_dir: str, sweep_id: str, schema: Any = None):
        from mlflow.tracking import MlflowClient

        for name, value in HTTP_LIMITS.items():
            os.environ.setdefault(name, value)
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # our progress lines say enough
        self.client = MlflowClient(tracking_uri=uri)
        self.uri, self.sweep_dir, self.sweep_id, self.schema = uri, str(sweep_dir), sweep_id, schema
        self.experiment = self.parent = ""
        self.groups: dict[str, str] = {}  # job key -> its groups (sweep.json)
        self.earlier: dict[str, str] = {}  # trial id -> run id, of the runs on the server before this writer
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.logged: dict[str, int] = {}  # trial id -> last epoch logged

    def open(self) -> None:
        """The sweep's experiment and run (an earlier driver's, or new), and the trial runs it holds already: the
        start's probe, a few calls."""
        found = self.client.get_experiment_by_name(experiment_name(self.sweep_id))
        self.experiment = found.experiment_id if found is not None else \
            self.client.create_experiment(experiment_name(self.sweep_id))
        sweeps = self._search("tags.kind = 'sweep'")
        if sweeps:
            self.parent = sweeps[0].info.run_id
            self.client.update_run(self.parent, status="RUNNING")
        else:
            self.parent = self._create(self.sweep_id, {"sweep_id": self.sweep_id, "kind": "sweep"})
        self.earlier = {run.data.tags.get("trial_id"): run.info.run_id for run in self._search("tags.kind = 'trial'")}

    def _search(self, query: str) -> list:
        """Every run of the sweep's experiment that `query` matches, page by page."""
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment], filter_string=query, max_results=1000,
                                           page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def _create(self, name: str, tags: dict[str, str]) -> str:
        return self.client.create_run(self.experiment, run_name=name,
                                      tags=tags | {NOTE: note(self.sweep_dir, self.uri)}).info.run_id

    def describe(self) -> None:
        """The sweep's run tagged with its plan's facts (sweep.json, written after the probe)."""
        from mlflow.entities import RunTag

        plan = ledger.parse_plan(store.read_text(store.join(self.sweep_dir, "sweep.json")) or "{}")
        self.groups = {job["key"]: " ".join(job.get("groups", [])) for job in plan.get("jobs", [])}
        self.client.log_batch(self.parent, tags=[RunTag(key, str(plan.get(key)))
                                                 for key in ("budget", "weights", "seed", "data_root")])

    def trial_run(self, facts: TrialFacts) -> str:
        """The trial's run, found (an earlier driver's: set running again, its curve's last epoch read) or made,
        with its params and tags, the first time this writer meets it."""
        if facts.trial_id in self.runs:
            return self.runs[facts.trial_id]
        from mlflow.entities import Param, RunTag

        tags = {"job": facts.job, "groups": self.groups.get(facts.job, ""), "method": facts.method,
                "status": "running"}
        run = self.earlier.get(facts.trial_id)
        logged = 0
        if run is None:
            run = self._create(facts.trial_id, tags | {"sweep_id": facts.sweep_id, "kind": "trial",
                                                       "trial_id": facts.trial_id, "mlflow.parentRunId": self.parent})
            tags = {}
        else:
            self.client.update_run(run, status="RUNNING")
            logged = max((m.step for m in self.client.get_metric_history(run, "val_acc")), default=0)
        # parameters are logged once (MLflow refuses to change one): with the run's first curve point
        params = [] if logged else [Param(k, str(v)) for k, v in facts.params.items()]
        if params or tags:
            self.client.log_batch(run, params=params, tags=[RunTag(k, v) for k, v in tags.items()])
        self.runs[facts.trial_id], self.logged[facts.trial_id] = run, logged
        return run

    def log_epochs(self, facts: TrialFacts, points: list[tuple[int, dict[str, float]]]) -> None:
        """Curves at each (epoch, values) not logged yet (a resumed trial replays from its checkpoint)."""
        from mlflow.entities import Metric

        run = self.trial_run(facts)
        new = [(epoch, values) for epoch, values in points if epoch > self.logged.get(facts.trial_id, 0)]
        if not new:
            return
        now = _now_ms()
        self.client.log_batch(run, metrics=[Metric(k, v, now, epoch) for epoch, values in new
                                            for k, v in values.items()])
        self.logged[facts.trial_id] = max(epoch for epoch, _ in new)

    def finish(self, facts: TrialFacts, row: dict | None, failed: bool) -> None:
        """The row's final metrics at its last epoch (a curve already logged up to there is not logged twice: its
        last point is the row's value), its status and node, and the run ended."""
        from mlflow.entities import Metric, RunTag

        run = self.trial_run(facts)
        row = row or {}
        epoch = int(row.get("epochs") or 0)
        final = {k: v for k, v in _numbers(row, FINAL).items()
                 if not (k in CURVES and self.logged.get(facts.trial_id, 0) >= epoch)}
        status = row.get("status") or ("error" if failed else "ok")
        tags = {"status": status, "node": row.get("node_ip") or ""} | \
            ({"error": str(row["error"])[:500]} if row.get("error") else {})
        self.client.log_batch(run, metrics=[Metric(k, v, _now_ms(), epoch) for k, v in final.items()],
                              tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.set_terminated(run, status="FAILED" if status == "error" else "FINISHED")

    def finish_from_row(self, facts: TrialFacts, failed: bool = False) -> None:
        """finish() with the trial's stored row, read now (the live path: off the driver's loop)."""
        self.finish(facts, ledger.read_row(self.sweep_dir, facts.trial_id, self.schema), failed)

    def close_sweep(self) -> None:
        self.client.set_terminated(self.parent, "FINISHED")


def _now_ms() -> int:
    return int(time.time() * 1000)


_LIVE: dict[int, "MlflowLog"] = {}  # this process's callbacks, by id: what a pickled one stands for


class MlflowLog(tune.Callback):
    """Tune callback on the driver: each event becomes one call queued on the sender; nothing here waits.

    Tune pickles its callbacks with the run's state (a sender's thread and locks cannot be); a pickled MlflowLog is
    its id, which unpickles as the same callback in this process."""

    def __init__(self, writer: MlflowWriter, sender: Sender):
        self.writer, self.sender = writer, sender
        self.facts: dict[str, TrialFacts] = {}
        _LIVE[id(self)] = self
        sender.send(writer.describe)

    def __reduce__(self):
        return _live_callback, (id(self),)

    def _facts(self, trial: Any) -> TrialFacts:
        trial_id = trial.config["trial"]["trial_id"]
        if trial_id not in self.facts:
            self.facts[trial_id] = TrialFacts.from_config(trial.config["trial"])
        return self.facts[trial_id]

    def _send(self, call: Callable[..., None], *args: Any) -> None:
        self.sender.send(lambda: call(*args))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        point = (int(result.get("epochs") or 0), _numbers(result, CURVES))  # copied now: Tune reuses its dicts
        self._send(self.writer.log_epochs, self._facts(trial), [point])

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._send(self.writer.finish_from_row, self._facts(trial))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._send(self.writer.finish_from_row, self._facts(trial), True)

    def on_experiment_end(self, trials, **info) -> None:
        self.sender.send(self.writer.close_sweep)


def _live_callback(key: int) -> "MlflowLog | tune.Callback":
    """A pickled MlflowLog: the live one in this process, or (elsewhere) a callback that does nothing."""
    return _LIVE.get(key) or tune.Callback()


class Tracking:
    """--mlflow for one driver run: the server probed before any trial (`start`), the callback Tune gets, and the
    sender closed at the end within a bounded grace period (shorter after a signal)."""

    def __init__(self, uri: str, sweep_dir: str, sweep_id: str):
        self.uri = uri
        self.writer = MlflowWriter(uri, sweep_dir, sweep_id)
        self.sender = Sender(f"--mlflow {uri}", f"replay them into MLflow later with "
                                               f"`{backfill_command(sweep_dir, uri)}`")

    def start(self, probe_s: float = PROBE_S) -> None:
        """Reach the server: refused -> TrackingUnavailable (one line); no answer in `probe_s` -> one warning,
        and the sweep runs without it."""
        answered, failure = self.sender.run_now(self.writer.open, probe_s)
        if failure is not None:
            raise TrackingUnavailable(f"--mlflow {self.uri}: {first_line(failure, 200)}; start the server or drop "
                                      f"--mlflow (the rows hold every result either way)")
        if not answered:
            self.sender.give_up(f"no answer within {probe_s:g} s at the start, so no trial is logged there")

    def callback(self, schema: Any) -> MlflowLog:
        self.writer.schema = schema
        return MlflowLog(self.writer, self.sender)

    def close(self, stopped: bool = False) -> None:
        self.sender.close(STOP_GRACE_S if stopped else GRACE_S)
        for key in [k for k, log in _LIVE.items() if log.sender is self.sender]:
            del _LIVE[key]


def replay(sweep_dir: str, uri: str) -> dict[str, int]:
    """The backfill: every row of the sweep put into MLflow as the live callback would have (runs found again by
    their tags; only epochs not logged yet; ended trials' runs ended), e.g. after its server was away. Returns
    how many trials were ended there and how many are still running in the rows (their curves so far logged)."""
    from core.results import load_histories, load_manifest, load_trials

    manifest = load_manifest(sweep_dir)
    trials = load_trials(sweep_dir, manifest)
    rows = trials.astype(object).where(trials.notna(), None).to_dict("records")
    histories = load_histories(sweep_dir, [row["trial_id"] for row in rows])
    writer = MlflowWriter(uri, sweep_dir, manifest["sweep_id"])
    try:
        writer.open()
        writer.describe()
    except Exception as exc:  # noqa: BLE001 - any client failure: one line
        raise TrackingUnavailable(f"--mlflow {uri}: {first_line(exc, 200)}") from None
    counts = {"ended": 0, "running": 0}
    for row in rows:
        facts = TrialFacts.from_row(row)
        history = histories.get(facts.trial_id)
        points = [] if history is None else [(int(point["epoch"]), _numbers(point, CURVES))
                                             for point in history.to_dict("records")]
        writer.log_epochs(facts, points)
        if row["status"] in ledger.FINISHED + ("error",):
            writer.finish(facts, row, failed=row["status"] == "error")
            counts["ended"] += 1
        else:
            counts["running"] += 1
    if counts["ended"] >= len(manifest.get("trials") or []):
        writer.close_sweep()
    return counts
