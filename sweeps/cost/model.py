"""A trial's seconds from the work it will do and a device's measured rates (a sweeps.cost.table CostTable).

Per trial and phase, items x work per item / the device's rate, plus what does not grow with the items:

    images, whole network  decode the capped files once per dataset and side (the tensor cache; augmentation decodes
                           its larger source squares once more), build the model, then per epoch the training images
                           (the backbone's forward GFLOPs at the side / the mode's training rate) and the optimiser's
                           steps, and the validation images forward; the test images once at the end
    images, on features    decode and extract once per dataset x backbone x side (the feature cache: the first trial
                           of a job pays, later ones and head-only fine-tunes read it), then the SVM's fit (n^2 x d)
                           or a linear head's epochs on the features
    text (Keras)           read and vectorise, build, trace the first epoch and the first prediction, then per epoch
                           the training batches (per call + per batch and token, its recurrent steps and the recurrent
                           weights it reads + FLOPs / rate) and the validation predictions; the test ones at the end
    every trial            a worker process's first trial of a framework pays its import (one process per slot)

A `TrialCost` keeps the per-epoch part apart, so ASHA's expected epochs (sweeps.cost.expected) price the expected
time the same way as the upper bound. `makespan` turns trials into a sweep's wall time on its slots. The work
measures are torchvision's GFLOPs (BackboneSpec.gflops, x side^2) and a cell's matrix products (CellSpec.gates);
the rates are whatever the table measured, so a GPU table (measured or derived) prices the same work.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from core.course import Job
from core.registry import BACKBONES, CELLS, METHODS
from sweeps.cost.table import CostTable


@dataclass(frozen=True)
class Sizes:
    """What a trial reads, after the budget's caps: training files (before the validation split), its train and
    validation shares, test items and classes."""
    files: int
    train: int
    val: int
    test: int


@dataclass(frozen=True)
class TrialWork:
    """One planned trial: its job, configuration, epochs (at most), sizes and the input it runs at."""
    job: Job
    params: dict
    epochs: int
    sizes: Sizes
    demo: bool
    side: int | None = None  # images: the backbone's input side
    tokens: int | None = None  # text: the padded sequence length


@dataclass(frozen=True)
class TrialCost:
    fixed_s: float  # once per trial: imports, data, build, tracing, a one-shot fit
    epoch_s: float  # each epoch: training and validation
    final_s: float  # once at the end: the test split

    def seconds(self, epochs: float) -> float:
        return self.fixed_s + epochs * self.epoch_s + self.final_s


def token_flops(cell: str, units: int, embed: int, layers: int, bidirectional: bool) -> float:
    """FLOPs per token of a recurrent stack: per layer and direction, gates x 2 x units x (inputs + units)."""
    gates, directions = CELLS.get(cell).gates, 2 if bidirectional else 1
    total, inputs = 0.0, embed
    for _ in range(layers):
        total += directions * gates * 2.0 * units * (inputs + units)
        inputs = units * directions
    return total


def makespan(durations: list[float], slots: int) -> float:
    """When the last of `durations` ends, each started in order on the first free of `slots` (as Tune fills them)."""
    free = [0.0] * max(slots, 1)
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


@dataclass
class Pricer:
    """Prices trials in the order they will run: the first trial that needs a cache entry (decoded images, features)
    or a fresh process's import pays for it. On one machine (`shared`) every job reads the one cache; on a cluster a
    node's cache serves whichever trials land there, so each job is priced as paying its own."""
    table: CostTable
    slots: int
    shared: bool = True
    _cached: set = field(default_factory=set)
    _imports: dict = field(default_factory=dict)

    def unpriced(self, job: Job, framework: str) -> str | None:
        """Why the table cannot price this job (None: it can)."""
        method = METHODS.get(job.method)
        if method.kinds == ("images",) and job.model not in self.table.backbones:
            return f"{job.model} not in {self.table.name}"
        if method.kinds == ("text",) and (framework != "tensorflow" or job.model not in self.table.cells):
            return f"{job.model} ({framework}) not in {self.table.name}"
        if method.kinds not in (("images",), ("text",)):
            return f"no rates for {job.method} in {self.table.name}"
        return None

    def trial(self, work: TrialWork, framework: str) -> TrialCost:
        cost = self._text(work) if work.tokens is not None else self._images(work)
        return TrialCost(cost.fixed_s + self._import(framework), cost.epoch_s, cost.final_s)

    def _import(self, framework: str) -> float:
        seen = self._imports.get(framework, 0)
        self._imports[framework] = seen + 1
        return self.table.import_s["tensorflow" if framework == "tensorflow" else "torch"] if seen < self.slots else 0.0

    def _once(self, key: tuple, seconds: float, job: Job) -> float:
        key = key if self.shared else (job.key, *key)
        if key in self._cached:
            return 0.0
        self._cached.add(key)
        return seconds

    def _decode(self, work: TrialWork, kind: str) -> float:
        per = self.table.decode_ms["demo" if work.demo else "photo"] / 1000.0
        return self._once(("decode", work.job.dataset, work.side, kind), (work.sizes.files + work.sizes.test) * per,
                          work.job)

    def _images(self, work: TrialWork) -> TrialCost:
        rates, spec, s = self.table.backbones[work.job.model], BACKBONES.get(work.job.model), work.sizes
        forward = spec.gflops_at(work.side) / rates.forward_rate(work.side)  # seconds per image
        augment = METHODS.get(work.job.method).augment
        mode = work.params.get("mode")
        if work.job.method == "features_svm" or (mode == "head" and not augment):
            extract = self._once(("features", work.job.dataset, work.job.model, work.side),
                                 self._decode(work, "eval") + rates.build_s + (s.files + s.test) * forward, work.job)
            if work.job.method == "features_svm":
                fit = self.table.svm_ns_per_n2d * 1e-9 * s.train * (s.train + s.val + s.test) * spec.feature_dim
                return TrialCost(extract + fit, 0.0, 0.0)
            head = self.table.head_ms_per_item / 1000.0
            return TrialCost(extract, (s.train + s.val) * head, s.test * head)
        decode = self._decode(work, "eval") + (self._decode(work, "source") if augment else 0.0)
        train = spec.gflops_at(work.side) / rates.train_rate(mode, work.side)
        steps = math.ceil(s.train / int(work.params.get("batch_size", 32)))
        step_s = rates.train["all" if mode == "head_lr" else mode].step_ms / 1000.0
        return TrialCost(decode + rates.build_s, s.train * train + steps * step_s + s.val * forward, s.test * forward)

    def _text(self, work: TrialWork) -> TrialCost:
        rates, p, s = self.table.cells[work.job.model], work.params, work.sizes
        layers, directions = int(p["layers"]), 2 if p["bidirectional"] else 1
        chain = work.tokens * layers * directions
        flops = token_flops(work.job.model, int(p["units"]), int(p["embed_dim"]), layers, bool(p["bidirectional"]))
        flops *= work.tokens

        def run(n: int, batch: int, through) -> float:
            if n <= 0:
                return 0.0
            per_batch = chain * through.step_us / 1e6 + flops / 2 * through.weight_ns / 1e9  # flops / 2: the weights
            return through.call_ms / 1000 + math.ceil(n / batch) * per_batch + n * flops / (through.gflop_s * 1e9)

        traces = sum(t.fixed_s + t.per_layer_s * layers * directions for t in (rates.trace_train, rates.trace_predict))
        vectorise = self.table.text_extract
        extract = vectorise["fixed_s"] + (s.files + s.test) * vectorise["ms_per_item"] / 1000
        epoch = run(s.train, int(p["batch_size"]), rates.train) + run(s.val, 512, rates.predict)
        return TrialCost(extract + rates.build_s + traces, epoch, run(s.test, 512, rates.predict))
