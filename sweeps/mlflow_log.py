"""`--mlflow URI` (or $MLFLOW_TRACKING_URI): every trial of the sweep as an MLflow run, through MLflow's own client.

One experiment per sweep (named `groupsweep/<sweep id>`), one parent run for the sweep and one run per trial nested
under it (MLflow's `mlflow.parentRunId` tag). A trial's run holds its searched parameters and its job's facts
(params), its per-epoch curves (step = epoch) and, when it ends, its row's final metrics and status (core.ledger:
the row is the truth, MLflow a view of it). Runs are found again by their tags, so `--resume` continues the sweep's
run and a resumed trial's run (logging only the epochs it had not logged) instead of making second ones.

Ray Tune ships `MLflowLoggerCallback`, but it keeps its runs in memory: a new driver (--resume) makes a second run
for every trial it restarts, and it logs Tune's whole config as parameters. The ledger's rows are the sweep's
record either way: a tracking server that stops answering mid-sweep costs a warning, never a trial.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

from ray import tune

from core import ledger, store
from core.ledger import CURVES  # logged every epoch
from core.plan import TrialSpec

FINAL = tuple(ledger.METRICS) + ("wall_s", "fit_s", "eval_s", "items_per_s", "retries", "node_losses")  # a row's


class TrackingUnavailable(RuntimeError):
    """The tracking server could not be reached or refused the sweep's experiment."""


def experiment_name(sweep_id: str) -> str:
    return f"groupsweep/{sweep_id}"


def _numbers(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, float]:
    return {k: float(values[k]) for k in names if isinstance(values.get(k), (int, float))
            and not isinstance(values.get(k), bool) and not math.isnan(values[k])}


class MlflowLog(tune.Callback):
    """Tune callback on the driver: see the module docstring."""

    def __init__(self, uri: str, sweep_dir: str, sweep_id: str, schema: Any = None):
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # our progress lines say enough
        self.client = MlflowClient(tracking_uri=uri)
        self.uri, self.sweep_dir, self.schema = uri, sweep_dir, schema
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.logged: dict[str, int] = {}  # trial id -> last epoch logged
        self.warned = False
        try:
            self.experiment = self._experiment(experiment_name(sweep_id))
            self.parent = self._find_or_create({"sweep_id": sweep_id, "kind": "sweep"}, sweep_id, None)
        except Exception as exc:  # MlflowException, connection errors: say it in one line, before any trial
            raise TrackingUnavailable(f"--mlflow {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") \
                from None
        plan = ledger.parse_plan(store.read_text(store.join(sweep_dir, "sweep.json")) or "{}")
        self.groups = {job["key"]: " ".join(job.get("groups", [])) for job in plan.get("jobs", [])}
        for key in ("budget", "weights", "seed", "data_root"):
            self._guarded("tagging the sweep's run", self.client.set_tag, self.parent, key, str(plan.get(key)))

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else self.client.create_experiment(name)

    def _find_or_create(self, tags: dict[str, str], name: str, parent: str | None) -> str:
        """The run carrying `tags` (an earlier driver's), set running again; else a new one."""
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        found = self.client.search_runs([self.experiment], filter_string=query, max_results=1)
        if found:
            self.client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        extra = {"mlflow.parentRunId": parent} if parent else {}
        return self.client.create_run(self.experiment, run_name=name, tags=tags | extra).info.run_id

    def _guarded(self, what: str, call, *args) -> None:
        """A tracking call that may fail without costing the sweep anything: the first failure is said once."""
        try:
            call(*args)
        except Exception as exc:
            if not self.warned:
                self.warned = True
                print(f"warning: --mlflow {self.uri}: {what} failed ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:160]}); the sweep goes on, its rows hold every result",
                      file=sys.stderr, flush=True)

    def _start(self, trial: Any) -> str:
        """The trial's run, found or made (and its params and tags written) on its first result in this driver."""
        if trial.config["trial"]["trial_id"] in self.runs:
            return self.runs[trial.config["trial"]["trial_id"]]
        from mlflow.entities import Param

        spec = TrialSpec.from_config(trial.config["trial"])

        job = spec.job
        tags = {"sweep_id": spec.sweep_id, "kind": "trial", "trial_id": spec.trial_id}
        run = self._find_or_create(tags, spec.trial_id, self.parent)
        history = self.client.get_metric_history(run, "val_acc")
        self.logged[spec.trial_id] = max((m.step for m in history), default=0)
        if not history:  # parameters are logged once: MLflow refuses to change one
            params = {"dataset": job.dataset, "model": job.model, "method": job.method, "sample": spec.sample,
                      "seed": spec.seed} | spec.params
            self.client.log_batch(run, params=[Param(k, str(v)) for k, v in params.items()])
        for key, value in {"job": job.key, "groups": self.groups.get(job.key, ""), "method": job.method,
                           "status": "running"}.items():
            self.client.set_tag(run, key, value)
        self.runs[spec.trial_id] = run
        return run

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._guarded("logging an epoch", self._epoch, trial, result)

    def _epoch(self, trial: Any, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        run = self._start(trial)
        trial_id = trial.config["trial"]["trial_id"]
        epoch = int(result.get("epochs") or 0)
        if epoch <= self.logged.get(trial_id, 0):
            return  # logged by an earlier start of this trial (a resumed trial replays from its checkpoint)
        now = int(time.time() * 1000)
        self.client.log_batch(run, metrics=[Metric(k, v, now, epoch) for k, v in _numbers(result, CURVES).items()])
        self.logged[trial_id] = epoch

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._guarded("logging a finished trial", self._end, trial, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._guarded("logging a failed trial", self._end, trial, "FAILED")

    def _end(self, trial: Any, state: str) -> None:
        """The row's final metrics at its last epoch (a curve already logged up to there is not logged twice: its
        last point is the row's value), its status and node, and the run ended."""
        from mlflow.entities import Metric

        run = self._start(trial)
        trial_id = trial.config["trial"]["trial_id"]
        row = ledger.read_row(self.sweep_dir, trial_id, self.schema) or {}
        epoch = int(row.get("epochs") or 0)
        final = {k: v for k, v in _numbers(row, FINAL).items()
                 if not (k in CURVES and self.logged.get(trial_id, 0) >= epoch)}
        now = int(time.time() * 1000)
        self.client.log_batch(run, metrics=[Metric(k, v, now, epoch) for k, v in final.items()])
        self.client.set_tag(run, "status", row.get("status") or ("error" if state == "FAILED" else "ok"))
        self.client.set_tag(run, "node", row.get("node_ip") or "")
        if row.get("error"):
            self.client.set_tag(run, "error", str(row["error"])[:500])
        self.client.set_terminated(run, status=state)

    def on_experiment_end(self, trials, **info) -> None:
        self._guarded("closing the sweep's run", self.client.set_terminated, self.parent, "FINISHED")
