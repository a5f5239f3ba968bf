"""How a sweep used its cluster, from what the driver saw every few seconds (sweeps.cluster.watch): the nodes alive
(id, CPUs, GPUs) and the trials running and pending. One file per driver run, `<sweep>/cluster/<start>.json`, read
here into the figures a course running overnight asks for — when each node joined and left, the largest cluster,
how long from the first waiting trial until every slot ran one, and the share of slot-seconds that ran a trial —
for the driver's last lines and the report's overview."""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

from core import ledger, store

FOLDER = "cluster"


def slots(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """Trials of `cpus` + `gpus` that a node with `resources` holds at once."""
    fits = [resources.get("CPU", 0) / cpus if cpus else math.inf,
            resources.get("GPU", 0) / gpus if gpus else math.inf]
    return int(min(fits) + 1e-9) if min(fits) != math.inf else 0


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the run's start
    running: int
    pending: int
    nodes: tuple[tuple[str, float, float], ...]  # (node id, CPUs, GPUs) of each node alive


@dataclass(frozen=True)
class NodeSpan:
    node_id: str
    cpus: float
    gpus: float
    joined: float  # seconds since the run's start (0: up before it)
    left: float | None  # None: still up when the run ended


@dataclass(frozen=True)
class ClusterUse:
    started_utc: str
    cpus_per_trial: float
    gpus_per_trial: float
    trials: int  # the run's trials (those it had to run)
    samples: tuple[Sample, ...]

    def slots(self, cpus: float, gpus: float) -> int:
        """Trials a node of this size holds at once (the head, without CPUs, holds none)."""
        return slots({"CPU": cpus, "GPU": gpus}, self.cpus_per_trial, self.gpus_per_trial)

    def slots_at(self, sample: Sample) -> int:
        return sum(self.slots(cpus, gpus) for _, cpus, gpus in sample.nodes)

    def spans(self) -> list[NodeSpan]:
        """Each node's time in the cluster: the first sample that saw it, and the one after the last (None: it was
        still up at the last)."""
        first: dict[str, tuple[float, float, float]] = {}
        last: dict[str, int] = {}
        for i, sample in enumerate(self.samples):
            for node_id, cpus, gpus in sample.nodes:
                first.setdefault(node_id, (sample.t, cpus, gpus))
                last[node_id] = i
        end = len(self.samples) - 1
        return [NodeSpan(node_id, cpus, gpus, t, None if last[node_id] == end else self.samples[last[node_id] + 1].t)
                for node_id, (t, cpus, gpus) in first.items()]

    def peak_workers(self) -> int:
        """The most nodes with trial slots alive at once."""
        return max((sum(1 for _, c, g in s.nodes if self.slots(c, g)) for s in self.samples), default=0)

    def time_to_full(self) -> float | None:
        """Seconds from the first sample with a trial waiting to the first in which the running trials filled
        the largest cluster the run had (or every trial of a run smaller than it); None if never."""
        target = min(self.trials, max((self.slots_at(s) for s in self.samples), default=0))
        waiting = next((s.t for s in self.samples if s.pending or s.running), None)
        if waiting is None or target == 0:
            return None
        return next((s.t - waiting for s in self.samples if s.running >= target), None)

    def utilisation(self) -> float | None:
        """Slot-seconds that ran a trial over slot-seconds of the nodes alive, between the first and last sample
        (each sample holds until the next)."""
        busy = total = 0.0
        for before, after in zip(self.samples, self.samples[1:]):
            dt = after.t - before.t
            slots = self.slots_at(before)
            busy += min(before.running, slots) * dt
            total += slots * dt
        return busy / total if total else None

    def render(self) -> str:
        full, used = self.time_to_full(), self.utilisation()
        return (f"cluster: peak {self.peak_workers()} worker node(s), every slot busy "
                f"{'after ' + format(full, '.0f') + ' s' if full is not None else 'never'}, slot utilisation "
                f"{'-' if used is None else format(used, '.0%')} ({len(self.spans())} node(s) seen)")

    def to_json(self) -> str:
        return json.dumps({"started_utc": self.started_utc, "cpus_per_trial": self.cpus_per_trial,
                           "gpus_per_trial": self.gpus_per_trial, "trials": self.trials,
                           "samples": [[s.t, s.running, s.pending, [list(n) for n in s.nodes]]
                                       for s in self.samples]})

    @classmethod
    def from_json(cls, text: str) -> "ClusterUse":
        data = json.loads(text)
        samples = tuple(Sample(t, running, pending, tuple((str(i), float(c), float(g)) for i, c, g in nodes))
                        for t, running, pending, nodes in data["samples"])
        return cls(data["started_utc"], float(data["cpus_per_trial"]), float(data["gpus_per_trial"]),
                   int(data["trials"]), samples)


def location(sweep_dir: str, started_utc: str) -> str:
    return store.join(sweep_dir, FOLDER, started_utc.replace(":", "") + ".json")


def write(sweep_dir: str, use: ClusterUse) -> None:
    ledger.write_text_atomic(use.to_json(), location(sweep_dir, use.started_utc))


def read_all(sweep_dir: str) -> list[ClusterUse]:
    """Every driver run's record, oldest first (none for a sweep from before they were kept); a file that is not
    one is named in a warning and left out."""
    uses = []
    for path in store.list_files(store.join(sweep_dir, FOLDER), ".json"):
        try:
            uses.append(ClusterUse.from_json(store.read_text(path) or ""))
        except (ValueError, KeyError, TypeError) as exc:
            print(f"warning: {path}: not a cluster record of this project ({type(exc).__name__}); left out",
                  file=sys.stderr)
    return uses
