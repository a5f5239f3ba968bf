"""Stage 2 of a sweep: every trial as a self-contained TrialSpec — each job's configurations sampled reproducibly
from the budget's space, its data (DatasetFacts), the placement Ray gave (Placement), provenance (git sha) — and
what sweep.json records of the plan (the datasets, the estimated hours and price). Writes nothing."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from core import ledger, store
from core.plan import DataRef, TrialSpec
from core.registry import METHODS
from sweeps.budgets import MethodBudget, derive_seed, sample_configs
from sweeps.launch import Placement
from sweeps.options import SweepOptions
from sweeps.preflight import DatasetFacts
from sweeps.sweep_folder import split_location


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def sweep_param_types(options: SweepOptions) -> dict[str, str]:
    """param_<name> -> column type over every job's search space: one row schema for the whole sweep."""
    budget = options.budget
    return ledger.param_types(budget.method(c.method).space_for(c.dataset) for c in options.jobs)


def plan_trials(options: SweepOptions, facts: dict[str, DatasetFacts], placement: Placement) -> list[TrialSpec]:
    """Every trial of the sweep as a self-contained TrialSpec, sampled reproducibly per job."""
    budget, sha, param_types = options.budget, git_sha(), sweep_param_types(options)
    by_sample: list[list[TrialSpec]] = []
    for job in options.jobs:
        method = METHODS.get(job.method)
        mb = budget.method(job.method)
        job_seed = derive_seed(options.seed, job.key)
        for i, params in enumerate(planned_params(mb, job.dataset, job_seed)):
            # a tpe trial's configuration is asked when it starts (sweeps.search): its id names its slot
            digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:6] \
                if mb.search == "random" else mb.search
            spec = TrialSpec(
                trial_id=f"{job.key}-{i:02d}-{digest}", job=job, sample=i, search=mb.search,
                framework=job.framework or method.framework, epoch_based=method.epoch_based, params=params,
                seed=derive_seed(job_seed, i), data_seed=options.seed, sweep_id=options.sweep_id,
                results_dir=options.sweep_dir, cache_dir=cache_dir(options),
                data=data_ref(options, facts[job.dataset], placement.verify_data), weights=options.weights,
                max_epochs=mb.max_epochs or 1, val_fraction=budget.val_fraction,
                checkpoint_every=budget.checkpoint_every, max_failures=options.max_failures,
                images=budget.images, text=budget.text,
                param_types=param_types, git_sha=sha, cpus=placement.cpus, gpus=placement.gpus)
            while len(by_sample) <= i:
                by_sample.append([])
            by_sample[i].append(spec)
    # Sample 0 of every job first: a job's later samples then find its cached features ready.
    return [spec for layer in by_sample for spec in layer]


def planned_params(mb: MethodBudget, dataset: str, seed: int) -> list[dict]:
    """Each trial's configuration as the plan knows it: drawn now (random), or none yet (a searcher's)."""
    if mb.search == "random":
        return sample_configs(mb.space_for(dataset), mb.num_samples, seed)
    return [{} for _ in range(mb.num_samples)]


def cache_dir(options: SweepOptions) -> str:
    """Where trials keep decoded images and features on their node; "" = nowhere (--no-cache)."""
    return str(store.local_root(options.storage) / "cache") if options.cache else ""


def data_ref(options: SweepOptions, facts: DatasetFacts, verify: bool) -> DataRef:
    """The dataset of a trial: where the files are, their layout, fingerprint and counts, and the manifest of the
    test split held out here, if any."""
    source, split = facts.source, facts.split
    return DataRef(location=str(source.location), kind=source.kind, layout=source.layout.to_spec(),
                   fingerprint=facts.fingerprint, counts=facts.counts,
                   split=split_location(options, source.name) if split else None,
                   held_out={"test_fraction": split["fraction"], "split_seed": split["seed"]} if split else None,
                   verify=verify)


def describe_data(facts: dict[str, DatasetFacts]) -> dict[str, dict]:
    """sweep.json's datasets: where each came from, its counts, and its held-out split's seed and fraction."""
    out = {}
    for name, fact in facts.items():
        split = fact.split
        out[name] = fact.source.describe() | {"counts": fact.counts, "fingerprint": fact.fingerprint} | (
            {"test_fraction": split["fraction"], "split_seed": split["seed"], "split_digest": split["digest"]}
            if split else {})
    return out


def plan_estimate(options: SweepOptions, placement: Placement) -> dict:
    """The plan's estimated trial hours and price (sweeps.cost.estimate), and on an autoscaling cluster how many of its
    workers the plan keeps busy, recorded in sweep.json for the report."""
    from sweeps.cost import estimate
    from sweeps.cluster.shape import autoscaling_config, slots, this_machine

    local = options.address is None
    at_once = slots(this_machine(), placement.cpus, placement.gpus) if local else None
    plans = estimate.plan_jobs(list(options.jobs), options.budget, options.estimate_from, placement.gpus,
                               demo=options.demo, seed=options.seed, slots=at_once)
    wall = estimate.local_wall(plans, estimate.COST_DIR, at_once) if local and not placement.gpus else None
    summary = estimate.estimate(plans, placement.cpus, placement.gpus, run=options.estimate_from, wall_s=wall)
    config = autoscaling_config() if options.address is not None else {}
    return summary | {"workers": estimate.busy_workers(summary["trials"], placement.cpus, placement.gpus, config)}
