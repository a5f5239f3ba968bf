"""A trial's starts, what ended each one, and the chaos tests' injected fault.

Every start of a trial is recorded under `<sweep>/attempts/<trial id>` (JSON: the driver run and the node it ran
on). When the next start comes, the one before it is judged:
- `restart`: it belonged to an earlier driver run (the driver stopped or died; `--resume` started this one);
- `failure`: it wrote an error row, or its process died while its node stayed up (out of memory, a hard kill);
- `node_lost`: its process died with its node (a spot worker reclaimed, a machine gone).
A row's `retries` counts restarts and failures, `node_losses` the lost nodes. Only this driver run's failures count
against `--max-failures`: a trial that has used them up ends at its next start without running, its error row
kept; a lost node never uses one up (Tune counts it as a failure, so the driver gives Tune room for
MAX_NODE_LOSSES more).

GROUPSWEEP_INJECT_FAULT="<trial id substring>@<epoch>" fails a trial's first attempt after that epoch
(tests/test_sweep.py, test_store.py, test_cluster.py: the retry resumes from its checkpoint).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from core import ledger, store
from core.plan import TrialSpec

FAULT_ENV = "GROUPSWEEP_INJECT_FAULT"
MAX_NODE_LOSSES = 8  # lost nodes a trial survives in one driver run (Tune's max_failures is raised by this many)
NODE_DEATH_WAIT_S = 30.0  # how long a vanished attempt's node may still look alive (Ray's health checks lag)


@dataclass(frozen=True)
class Attempts:
    """The earlier starts of a trial, by what ended them."""

    restarts: int = 0
    failures: int = 0  # all of them
    failures_this_run: int = 0
    node_losses: int = 0

    @property
    def retries(self) -> int:
        return self.restarts + self.failures

    @property
    def earlier(self) -> int:
        return self.retries + self.node_losses


def count_attempt(spec: TrialSpec, run: str = "", node: str = "") -> Attempts:
    """Record this start (driver `run`, `node`), judging the one before it; returns what ended the earlier ones."""
    location = store.join(spec.results_dir, "attempts", spec.trial_id)
    earlier = _read(store.read_text(location))
    if earlier and "ended" not in earlier[-1]:
        earlier[-1]["ended"] = _judge(spec, earlier[-1], run)
    store.write_text(json.dumps(earlier + [{"run": run, "node": node}]), location)
    ended = [a["ended"] for a in earlier]
    return Attempts(restarts=ended.count("restart"), failures=ended.count("failure"),
                    failures_this_run=sum(1 for a in earlier if a["ended"] == "failure" and a.get("run") == run),
                    node_losses=ended.count("node_lost"))


def _read(text: str | None) -> list[dict]:
    if not text:
        return []
    value = json.loads(text)
    if isinstance(value, int):  # a count, from before attempts were judged: earlier driver runs' starts
        return [{"run": "", "node": "", "ended": "restart"} for _ in range(value)]
    return value


def _judge(spec: TrialSpec, attempt: dict, run: str) -> str:
    if attempt.get("run") != run:
        return "restart"
    row = ledger.read_row(spec.results_dir, spec.trial_id)
    if row is not None and row.get("status") == "error":
        return "failure"
    return "node_lost" if _node_died(attempt.get("node", "")) else "failure"


def _node_died(node: str) -> bool:
    """Whether `node` left the cluster, waiting a little for Ray's health checks to notice."""
    if not node:
        return False
    import ray

    deadline = time.time() + NODE_DEATH_WAIT_S
    while True:
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        if node not in alive:
            return True
        if time.time() > deadline:
            return False
        time.sleep(1.0)


def inject_fault(spec: TrialSpec, epoch: int, earlier: int) -> None:
    """Fail the first attempt after a chosen epoch, when GROUPSWEEP_INJECT_FAULT asks for it (fault tests)."""
    target, _, at = os.environ.get(FAULT_ENV, "").partition("@")
    if target and target in spec.trial_id and at.isdigit() and int(at) == epoch and earlier == 0:
        raise RuntimeError(f"injected fault after epoch {epoch} ({FAULT_ENV})")
