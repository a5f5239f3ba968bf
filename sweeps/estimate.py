"""What a sweep will cost before it runs: trials per job, epochs, resources, and estimated trial hours and price.

An estimate per trial comes from a previous sweep's measured rows when one is given (`--estimate-from RUN`: the
mean wall time of that run's trials of the same job, else of the same method), or else from a stated default per
method (MethodSpec.hours_per_epoch: full-size course data on one GPU, times SHARED_GPU_SLOWDOWN when trials share a
card). Both assume every trial runs all its epochs,
so they are upper bounds where ASHA or early stopping ends trials sooner. `sweep.json` records the estimate, and
the report shows it beside what the sweep spent.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.prices import SPOT_SOURCE, Prices
from sweeps.budgets import Budget
from core.course import Job
from core.registry import METHODS

# A trial on a share of a card runs slower than alone: 4 per card (0.25 GPU), the worst of bench/gpu_sharing.py's
# text and image trials on an H100 without MPS was 1.47x (README "On one GPU").
SHARED_GPU_SLOWDOWN = 1.5

@dataclass(frozen=True)
class JobPlan:
    key: str
    method: str
    trials: int
    epochs: int
    hours_per_trial: float
    source: str


def measured_hours(run: str) -> tuple[pd.Series, pd.Series]:
    """(mean hours per trial by job key, by method) over a previous run's completed or stopped trials."""
    from core.results import load_trials
    from core.ledger import job_key

    trials = load_trials(run)
    done = trials[trials["status"].isin(["ok", "stopped"]) & trials["wall_s"].notna()]
    hours = done["wall_s"] / 3600.0
    return hours.groupby(job_key(done)).mean(), hours.groupby(done["method"]).mean()


def plan_jobs(jobs: list[Job], budget: Budget, run: str | None = None, gpus: float = 1.0) -> list[JobPlan]:
    by_job, by_method = measured_hours(run) if run else (pd.Series(dtype=float), pd.Series(dtype=float))
    plans = []
    for job in jobs:
        mb = budget.method(job.method)
        epochs = mb.max_epochs or 1
        if job.key in by_job:
            hours, source = float(by_job[job.key]), "measured: same job"
        elif job.method in by_method:
            hours, source = float(by_method[job.method]), "measured: same method"
        else:
            hours, source = METHODS.get(job.method).hours_per_epoch * epochs, "default per method"
            if 0 < gpus < 1:
                hours, source = hours * SHARED_GPU_SLOWDOWN, f"{source}, x{SHARED_GPU_SLOWDOWN:g} on a shared GPU"
        plans.append(JobPlan(job.key, job.method, mb.num_samples, epochs, hours, source))
    return plans


def estimate(plans: list[JobPlan], cpus: float, gpus: float, prices: Prices = Prices(),
             run: str | None = None) -> dict:
    """Trial hours and price over the plan: GPU-hours at the GPU price when trials take GPUs, else vCPU-hours."""
    trial_hours = sum(p.trials * p.hours_per_trial for p in plans)
    price = gpus * prices.gpu_hour if gpus else cpus * prices.cpu_hour
    spot = gpus * prices.gpu_hour_spot if gpus else None  # spot applies to the GPU workers
    return {"trial_hours": trial_hours, "cost": trial_hours * price, "cpus": cpus, "gpus": gpus,
            "cost_spot": None if spot is None else trial_hours * spot, "spot_price": prices.gpu_hour_spot,
            "trials": sum(p.trials for p in plans),
            "source": f"measured in {run}" if run else "defaults per method: full-size data on one GPU"}


def busy_workers(trials: int, cpus: float, gpus: float, config: dict) -> str:
    """How many of the cluster's workers the plan keeps busy: its trials are independent (random search and a
    per-job ASHA), so they fill every slot until the last wave."""
    from sweeps.cluster_shape import addable_nodes, largest_cluster_slots, slots

    types = addable_nodes(config)
    if not types or not gpus:
        return ""
    per_worker = max(slots(t.resources, cpus, gpus) for t in types)
    cap = int(config.get("max_workers", 0) or 0)
    if not per_worker:
        return f"no worker type of the cluster holds a trial of {cpus:g} CPU + {gpus:g} GPU"
    needed = -(-trials // per_worker)
    waves = -(-trials // max(largest_cluster_slots(config, cpus, gpus), 1))
    each = f"{per_worker} trial{'s' if per_worker != 1 else ''} each"
    return (f"workers: the plan keeps {min(needed, cap)} of the cluster's {cap} busy ({each}"
            + (f"; {waves} wave{'s' if waves != 1 else ''} of {cap * per_worker} trials)" if needed >= cap else ")"))


def render(sweep_id: str, budget: Budget, plans: list[JobPlan], summary: dict, workers: str = "") -> str:
    lines = [f"plan for sweep {sweep_id}: budget {budget.name}, {len(plans)} jobs, "
             f"{sum(p.trials for p in plans)} trials, {summary['cpus']:g} CPU + {summary['gpus']:g} GPU per trial",
             f"{'job':<48} {'trials':>6} {'search':>6} {'epochs':>6} {'h/trial':>8}  estimate from"]
    lines += [f"{p.key:<48} {p.trials:>6} {budget.method(p.method).search:>6} {p.epochs:>6} "
              f"{p.hours_per_trial:>8.3f}  {p.source}" for p in plans]
    unit, per_trial = ("GPU", summary["gpus"]) if summary["gpus"] else ("vCPU", summary["cpus"])
    spot = (f" on demand, ${summary['cost_spot']:.2f} on spot at ${summary['spot_price']:g}/GPU-h ({SPOT_SOURCE})"
            if summary.get("cost_spot") is not None else "")
    lines.append(f"estimated: {summary['trial_hours']:.2f} trial-hours ({summary['trial_hours'] * per_trial:.2f} "
                 f"{unit}-hours), about ${summary['cost']:.2f}{spot}; an upper bound: trials that ASHA or early "
                 f"stopping ends sooner cost less ({summary['source']})")
    if workers:
        lines.append(workers)
    return "\n".join(lines)
