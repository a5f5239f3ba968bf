"""The work a plan's trials will do, known before any data is read: each trial's configuration (drawn as the sweep
will draw it), epochs, input side or sequence length, and item counts after the budget's caps and splits — and the
device rates that price it (a measured table, or a GPU's derived from the CPU table by a stated rule).

Counts come from the course's tables (DatasetSpec: classes, train and test files) or the demo generator's; the
sequence length of `max_len: auto` from DatasetSpec.auto_len (the course files' 95th percentile) under the budget's
cap. A user's own dataset, whose size is known only once it is read, has no work here (the plan says so).
"""
from __future__ import annotations

import dataclasses

from core.course import Job
from core.registry import BACKBONES, DATASETS, METHODS
from sweeps.budgets import Budget, derive_seed, sample_configs
from sweeps.cost.model import Sizes, TrialWork
from sweeps.cost.table import BackboneRates, CellRates, CostTable, ModeRates, Throughput

DEMO_AUTO_LEN = 12  # the demo generator's texts: 4-9 filler words and 2-3 keywords (trainables.demo.write_texts)

# The GPU rule where no GPU table is measured: the CPU table's rates times what one H100 ran against the 2-core CPU
# (docs/benchmarks.md "On one GPU", bench/gpu_speed.py and bench/gpu_sharing.py, MobileNetV2 and a bi-GRU).
GPU_FORWARD, GPU_TRAIN, GPU_TEXT = 48.0, 42.0, 1.4
GPU_RULE = (f"derived: the CPU table x{GPU_FORWARD:g} forward, x{GPU_TRAIN:g} training, x{GPU_TEXT:g} text "
            f"(one H100 against a 2-core CPU, docs/benchmarks.md 'On one GPU')")


def planned_side(job: Job, budget: Budget) -> int | None:
    """The input side of a transfer-learning job's images under this budget (None: not a backbone's job)."""
    return BACKBONES.get(job.model).size_for(budget.images.image_size) if job.model in BACKBONES else None


def planned_sizes(job: Job, budget: Budget, demo: bool) -> Sizes | None:
    """Items a trial of this job reads after the budget's caps and the validation split; None for a dataset whose
    size is known only once it is read (a user's own). Approximate where caps are tiny against many classes: the
    trials round caps and splits per class, which this leaves out."""
    from trainables import demo as demo_data

    if job.dataset not in DATASETS:
        return None
    spec = DATASETS.get(job.dataset)
    per_class = {"images": demo_data.IMAGES_PER_CLASS, "text": demo_data.TEXTS_PER_CLASS,
                 "cifar": demo_data.CIFAR_PER_CLASS}[spec.kind]
    files = per_class["train"] * spec.n_classes if demo else spec.n_train
    test = per_class["test"] * spec.n_classes if demo else spec.n_test
    if spec.kind == "text":
        files, test = min(files, budget.text.max_train or files), min(test, budget.text.max_test or test)
    else:
        caps = budget.images
        files = min(files, (caps.max_train_per_class or files) * spec.n_classes)
        test = min(test, (caps.max_test_per_class or test) * spec.n_classes)
    train = round(files * (1 - budget.val_fraction))
    return Sizes(files, train, files - train, test)


def planned_tokens(job: Job, budget: Budget, params: dict, demo: bool) -> int:
    """A text trial's padded sequence length: its max_len, or `auto` as the dataset's own (capped)."""
    value = params.get("max_len", "auto")
    if value != "auto":
        return int(value)
    auto = DEMO_AUTO_LEN if demo else (DATASETS.get(job.dataset).auto_len or budget.text.max_len_cap)
    return int(min(max(auto, 8), budget.text.max_len_cap))


def trial_epochs(params: dict, max_epochs: int) -> int:
    """The epochs a trial runs at most: its searched `epochs` capped by the method's."""
    return min(int(params.get("epochs", max_epochs)), max_epochs)


def planned_trials(jobs: list[Job], budget: Budget, seed: int, demo: bool) -> dict[str, list[TrialWork]]:
    """Every job's trials as the sweep plans them (sweeps.planning: the same seeds, so the same configurations; a
    searcher's, asked as trials start, are priced at configurations drawn from its space); {} entries for a job
    whose data has no known size."""
    out = {}
    for job in jobs:
        mb, sizes = budget.method(job.method), planned_sizes(job, budget, demo)
        if sizes is None:
            out[job.key] = []
            continue
        max_epochs = mb.max_epochs or 1
        configs = sample_configs(mb.space_for(job.dataset), mb.num_samples, derive_seed(seed, job.key))
        text = METHODS.get(job.method).kinds == ("text",)
        out[job.key] = [TrialWork(job, p, trial_epochs(p, max_epochs), sizes, demo, side=planned_side(job, budget),
                                  tokens=planned_tokens(job, budget, p, demo) if text else None) for p in configs]
    return out


def in_run_order(trials: dict[str, list[TrialWork]]) -> list[TrialWork]:
    """Sample 0 of every job first, then sample 1, ... (sweeps.planning.plan_trials' order)."""
    layers = max((len(t) for t in trials.values()), default=0)
    return [t[i] for i in range(layers) for t in trials.values() if i < len(t)]


def derived_gpu(cpu: CostTable) -> CostTable:
    """A GPU's rates from the CPU table by GPU_RULE (what is not compute — imports, decoding, builds, tracing, the
    SVM — stays as measured on the CPU)."""
    def backbone(b: BackboneRates) -> BackboneRates:
        return dataclasses.replace(b, forward={s: r * GPU_FORWARD for s, r in b.forward.items()},
                                   train={m: ModeRates(t.gflop_s * GPU_TRAIN, t.step_ms / GPU_TRAIN)
                                          for m, t in b.train.items()})

    def faster(t: Throughput) -> Throughput:
        return Throughput(t.call_ms, t.step_us / GPU_TEXT, t.weight_ns / GPU_TEXT, t.gflop_s * GPU_TEXT)

    def cell(c: CellRates) -> CellRates:
        return dataclasses.replace(c, train=faster(c.train), predict=faster(c.predict))

    return dataclasses.replace(cpu, device="gpu", card=f"{GPU_RULE}; CPU: {cpu.card}, {cpu.name}", slots=1,
                               backbones={k: backbone(v) for k, v in cpu.backbones.items()},
                               cells={k: cell(v) for k, v in cpu.cells.items()})
