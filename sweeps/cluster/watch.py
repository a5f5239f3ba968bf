"""The driver's eye on the cluster while Tune runs: every few seconds, the nodes alive and the trials running and
waiting (core.cluster_use keeps and reads them), written to the sweep's folder as the run goes — a driver that
dies keeps what it saw — and its figures printed at the end. A sample is kept when something changed (each holds
until the next), so an overnight sweep's record stays small."""
from __future__ import annotations

import time

from ray import tune

from core import cluster_use
from core.cluster_use import ClusterUse, Sample
from trainables.rows import utc_now

INTERVAL_S = 2.0  # between looks; ray.nodes() is one GCS call
WRITE_EVERY_S = 30.0


class ClusterWatch(tune.Callback):
    def __init__(self, sweep_dir: str, cpus_per_trial: float, gpus_per_trial: float, trials: int):
        self.sweep_dir = sweep_dir
        self.facts = (utc_now(), cpus_per_trial, gpus_per_trial, trials)
        self.samples: list[Sample] = []
        self.t0 = time.time()
        self.looked = self.written = -1e9

    @property
    def use(self) -> ClusterUse:
        return ClusterUse(*self.facts, tuple(self.samples))

    def on_step_begin(self, iteration, trials, **info) -> None:
        now = time.time()
        if now - self.looked >= INTERVAL_S:
            self.look(trials, now)
        if now - self.written >= WRITE_EVERY_S:
            self.write(now)

    def on_experiment_end(self, trials, **info) -> None:
        self.look(trials, time.time(), last=True)
        self.write(time.time())

    def look(self, trials, now: float, last: bool = False) -> None:
        import ray

        nodes = tuple(sorted((n["NodeID"], float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)))
                             for n in ray.nodes() if n.get("Alive")))
        running = sum(1 for t in trials if t.status == "RUNNING")
        pending = sum(1 for t in trials if t.status == "PENDING")
        sample = Sample(round(now - self.t0, 2), running, pending, nodes)
        previous = self.samples[-1] if self.samples else None
        changed = previous is None or (previous.running, previous.pending, previous.nodes) != (running, pending, nodes)
        if last or changed:
            self.samples.append(sample)
        self.looked = now

    def write(self, now: float) -> None:
        cluster_use.write(self.sweep_dir, self.use)
        self.written = now
