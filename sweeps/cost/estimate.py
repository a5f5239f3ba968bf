"""What a sweep will cost before it runs: trials per job, epochs, resources, and estimated trial hours and price.

Each job's expected epochs per trial under its ASHA (sweeps.cost.expected) stand beside the upper bound. An
estimate per trial comes, in this order, from
1. a previous sweep's measured rows when one is given (`--estimate-from RUN`: the mean wall time of that run's
   trials of the same job, else of the same method, scaled by the work this plan's trials will do against theirs:
   items x epochs, for images x the backbone's GFLOPs at the side, for text x the sequence length);
2. the cost model (sweeps.cost.model) over the plan's own trials (sweeps.cost.workload: their drawn configurations
   and item counts) at the rates of the plan's device: a measured table (sweeps/costs/*.yaml, bench/cost_table.py),
   or for GPUs without one, the CPU table's rates by the stated rule (workload.GPU_RULE);
3. a stated default per method (MethodSpec.hours_per_epoch: full-size course data on one GPU, times
   SHARED_GPU_SLOWDOWN when trials share a card), saying why the table did not serve.
Each job's line says which. A run that is not comparable is refused in one line rather than scaled: trials on CPUs
pricing a plan on GPUs (or the other way round) where no rate table links the two, demo data pricing the real files,
image rows that do not record their input side. For a local plan priced by the CPU table, `local_wall` adds the
sweep's wall time.
`sweep.json` records the estimate, and the report shows it beside what the sweep spent.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.prices import SPOT_SOURCE, Prices
from sweeps.budgets import Budget
from core.course import Job
from core.registry import BACKBONES, METHODS
from sweeps.cost.expected import expected_epochs
from sweeps.cost.model import Pricer, makespan
from sweeps.cost.table import COST_DIR, table_for
from sweeps.cost.workload import GPU_RULE, derived_gpu, in_run_order, planned_side, planned_sizes, planned_trials
from sweeps.options import ConfigError

# A trial on a share of a card runs slower than alone: 4 per card (0.25 GPU), the worst of bench/gpu_sharing.py's
# text and image trials on an H100 without MPS was 1.47x (README "On one GPU").
SHARED_GPU_SLOWDOWN = 1.5

@dataclass(frozen=True)
class JobPlan:
    key: str
    method: str
    trials: int
    epochs: int  # at most, per trial
    hours_per_trial: float  # at `epochs`: the upper bound
    source: str
    expected_epochs: float = 0.0  # per trial under the job's ASHA (sweeps.cost.expected); 0: `epochs`
    expected_hours: float | None = None  # priced by the cost model at the expected epochs (None: in proportion)
    trial_s: tuple[float, ...] = ()  # the cost model's expected seconds of each trial, in sample order

    @property
    def expected_hours_per_trial(self) -> float:
        """Hours per trial at the expected epochs: the cost model's, else in proportion to the upper bound's."""
        if self.expected_hours is not None:
            return self.expected_hours
        return self.hours_per_trial * (self.expected_epochs or self.epochs) / self.epochs


@dataclass(frozen=True)
class Measured:
    """A previous run's finished trials of one job (or one method): what they cost and what they trained on."""
    hours: float  # mean wall hours per trial
    item_epochs: float  # mean training items x epochs per trial (nan where the rows do not say)
    work: float  # images: mean items x epochs x the backbone's GFLOPs at the trial's side (nan: text, or not said)
    max_len: float  # mean sequence length of text trials (nan for images)
    on_gpu: bool
    epoch_share: float = float("nan")  # epochs trained / epochs planned: ASHA's and patience's stops as they came


@dataclass(frozen=True)
class Reference:
    """A previous run (`--estimate-from RUN`) as the estimator reads it."""
    run: str
    demo: bool  # it ran on the generated demo data
    by_job: dict[str, Measured]
    by_method: dict[str, Measured]


def measured(run: str) -> Reference:
    """A previous run's completed or stopped trials, summarised by job key and by method."""
    from core.ledger import job_key
    from core.results import load_manifest, load_trials

    trials = load_trials(run)
    done = trials[trials["status"].isin(["ok", "stopped"]) & trials["wall_s"].notna()].copy()
    if done.empty:
        raise ConfigError(f"--estimate-from {run}: no completed trial to measure")
    for column in ("n_train", "input_side", "max_len"):  # rows of older runs may lack them: then they say nothing
        if column not in done:
            done[column] = float("nan")
    done["item_epochs"] = done["n_train"] * done["epochs"]
    done["work"] = done["item_epochs"] * [BACKBONES.get(m).gflops_at(s) if m in BACKBONES and s == s else float("nan")
                                          for m, s in zip(done["model"], done["input_side"])]
    manifest = load_manifest(run)
    done["planned"] = done["planned_epochs"] if "planned_epochs" in done else \
        planned_epochs(done, manifest.get("budget", ""))

    def summarise(mine: pd.DataFrame) -> Measured:
        planned = float(mine["planned"].sum())  # 0 where no row says (a one-shot method, an old run)
        return Measured(float(mine["wall_s"].mean()) / 3600.0, float(mine["item_epochs"].mean()),
                        float(mine["work"].mean()), float(mine["max_len"].mean()),
                        bool((mine["gpus"] > 0).any()),
                        float(mine["epochs"].sum()) / planned if planned > 0 else float("nan"))

    return Reference(run, bool(manifest.get("demo_data")),
                     {key: summarise(mine) for key, mine in done.groupby(job_key(done))},
                     {method: summarise(mine) for method, mine in done.groupby("method")})


def planned_epochs(done: pd.DataFrame, budget_name: str) -> pd.Series:
    """Each row's epochs at most, for rows that do not record it: its searched `epochs` capped by its budget's (nan
    where the budget is gone)."""
    from sweeps.budgets import BudgetError, load_budget

    try:
        budget = load_budget(budget_name)
    except BudgetError:
        return pd.Series(float("nan"), index=done.index)
    caps = done["method"].map(lambda m: (budget.methods[m].max_epochs or 1) if m in budget.methods else float("nan"))
    searched = done["param_epochs"] if "param_epochs" in done else caps
    return pd.concat([caps, pd.to_numeric(searched, errors="coerce").fillna(caps)], axis=1).min(axis=1)


def planned_items(job: Job, budget: Budget, demo: bool) -> int | None:
    """Training items per epoch this plan's trials will see (sweeps.cost.workload.planned_sizes)."""
    sizes = planned_sizes(job, budget, demo)
    return None if sizes is None else sizes.train


def length_ratio(job: Job, budget: Budget, ref: Measured) -> float:
    """How much longer this plan's sequences may be than the measured trials' (1 for images): the longest max_len the
    space allows, `auto` counting as the measured trials' own (the same texts give the same percentile)."""
    if not ref.max_len > 0:
        return 1.0
    value = budget.method(job.method).space_for(job.dataset).get("max_len", "auto")
    values = value.values if hasattr(value, "values") else (value,)
    return max(ref.max_len if v == "auto" else float(v) for v in values) / ref.max_len


def scaled(ref: Measured, job: Job, budget: Budget, epochs: int, gpus: float, demo: bool,
           reference: Reference, cost_dir: Path = COST_DIR, seed: int = 0) -> tuple[float, str]:
    """A measured trial's hours carried over to this plan's job, or a one-line refusal where the run is no guide."""
    run, where = reference.run, {True: "GPUs", False: "CPUs"}
    if reference.demo != demo:
        data = {True: "the generated demo data", False: "the real files"}
        raise ConfigError(f"--estimate-from {run}: it ran on {data[reference.demo]}, this plan on {data[demo]}: items "
                          f"of other sizes are no guide (leave --estimate-from out for the cost model's estimate)")
    device, linked = 1.0, ""
    if ref.on_gpu != (gpus > 0):  # another kind of device: only where rate tables price the job on both
        link = device_ratio(job, budget, gpus, demo, cost_dir, seed)
        if link is None:
            hint = "; --gpus-per-trial 0 prices a plan on CPUs" if gpus else ""
            raise ConfigError(f"--estimate-from {run}: its {job.method} trials ran on {where[ref.on_gpu]}, this plan's "
                              f"run on {where[gpus > 0]}, and no rate table links the two: not comparable (leave "
                              f"--estimate-from out for the cost model's estimate{hint})")
        device, linked = link
    side = planned_side(job, budget)
    if side is not None and not ref.work > 0:
        raise ConfigError(f"--estimate-from {run}: its {job.method} trials' rows do not record their backbone's input "
                          f"size: not comparable (leave --estimate-from out for the cost model's estimate)")
    items = planned_items(job, budget, demo)
    if items is None or not ref.item_epochs > 0:
        return ref.hours * device, "unscaled: the dataset's size is known only once it is read" + linked
    if side is not None:  # another backbone or input side: by the work, the backbone's GFLOPs at the side
        ratio = items * epochs * BACKBONES.get(job.model).gflops_at(side) / ref.work
        work = f"x{ratio:.3g} for items x epochs x {job.model}'s GFLOPs at {side} px"
        return ref.hours * ratio * device, work + linked
    ratio = items * epochs / ref.item_epochs * length_ratio(job, budget, ref)
    return ref.hours * ratio * device, f"x{ratio:.3g} for items x epochs" + (" x length" if ref.max_len > 0 else "") \
        + linked


def device_ratio(job: Job, budget: Budget, gpus: float, demo: bool, cost_dir: Path,
                 seed: int = 0) -> tuple[float, str] | None:
    """How much longer this job's trials take on the plan's device than on the other kind, by the cost model over
    both devices' rate tables (a GPU's measured or derived); None where no table prices the job on both."""
    cpu = table_for("cpu", cost_dir)
    if cpu is None:
        return None
    gpu = table_for("gpu", cost_dir)
    gpu, gpu_name = (gpu, gpu.name) if gpu is not None else (derived_gpu(cpu), "the GPU rule")
    tables = {"cpu": cpu, "gpu": gpu}
    mine, other = ("gpu", "cpu") if gpus > 0 else ("cpu", "gpu")
    framework = job.framework or METHODS.get(job.method).framework
    trials = planned_trials([job], budget, seed, demo)[job.key]
    seconds = {}
    for kind in (mine, other):
        pricer = Pricer(tables[kind], 1)
        if not trials or pricer.unpriced(job, framework):
            return None
        seconds[kind] = sum(pricer.trial(t, framework).seconds(t.epochs) for t in trials)
    ratio = seconds[mine] / seconds[other] * (SHARED_GPU_SLOWDOWN if 0 < gpus < 1 and gpu.slots == 1 else 1.0)
    return ratio, f", x{ratio:.3g} from {other.upper()} to {mine.upper()} ({cpu.name} and {gpu_name})"


def plan_jobs(jobs: list[Job], budget: Budget, run: str | None = None, gpus: float = 1.0,
              demo: bool = False, cost_dir: Path = COST_DIR, seed: int = 0, slots: int | None = None) -> list[JobPlan]:
    """Each job's trials, epochs and estimated hours per trial (see the module's docstring for where they come from);
    `demo`: the plan runs on the generated demo data (its sizes, not the course's); `cost_dir`: the measured
    rate tables (sweeps/costs); `seed`: the sweep's (its configurations); `slots`: trials at once on this machine
    for a local plan (its imports; one cache for every job), None for a cluster's."""
    reference = measured(run) if run else Reference("", demo, {}, {})
    priced = {} if run else price_with_table(jobs, budget, gpus, demo, cost_dir, seed, slots)
    plans = []
    for job in jobs:
        mb = budget.method(job.method)
        epochs = mb.max_epochs or 1
        expected = expected_epochs(mb.num_samples, epochs, mb.asha) if METHODS.get(job.method).epoch_based \
            else float(epochs)
        ref, how = ((reference.by_job[job.key], "same job") if job.key in reference.by_job
                    else (reference.by_method.get(job.method), "same method"))
        if ref is not None:
            hours, scale = scaled(ref, job, budget, epochs, gpus, demo, reference, cost_dir, seed)
            # the run's own stops, patience included, where its budget says what its trials planned
            share = ref.epoch_share if METHODS.get(job.method).epoch_based and 0 < ref.epoch_share <= 1 else None
            stops = f"; expected: its trials' stops (x{share:.2f} of their epochs)" if share else ""
            plans.append(JobPlan(job.key, job.method, mb.num_samples, epochs, hours,
                                 f"measured: {how}, {scale}{stops}", epochs * share if share else expected,
                                 expected_hours=hours * share if share else None))
        elif isinstance(priced.get(job.key), JobPlan):
            plans.append(dataclasses.replace(priced[job.key], expected_epochs=expected))
        else:
            hours, source = default_hours(job, epochs, gpus, priced.get(job.key))
            plans.append(JobPlan(job.key, job.method, mb.num_samples, epochs, hours, source, expected))
    return plans


def price_with_table(jobs: list[Job], budget: Budget, gpus: float, demo: bool, cost_dir: Path, seed: int,
                     slots: int | None) -> dict[str, JobPlan | str]:
    """Per job, a JobPlan priced by the cost model from the rate table of the plan's device, or why not (a phrase);
    {} when no table serves the device (the GPU's derived from the CPU's where only that was measured)."""
    table = table_for("gpu" if gpus > 0 else "cpu", cost_dir)
    if table is not None:
        source = f"measured: {table.name} ({table.card}, {table.date})"
    else:
        cpu = table_for("cpu", cost_dir) if gpus > 0 else None
        if cpu is None:
            return {}
        table, source = derived_gpu(cpu), f"{GPU_RULE.replace('the CPU table', cpu.name)}"
    slowdown = SHARED_GPU_SLOWDOWN if 0 < gpus < 1 and table.slots == 1 else 1.0
    if slowdown != 1.0:
        source += f", x{slowdown:g} on a shared GPU"
    pricer, work = Pricer(table, slots or 1, shared=slots is not None), planned_trials(jobs, budget, seed, demo)
    out: dict[str, JobPlan | str] = {}
    for job in jobs:
        framework = job.framework or METHODS.get(job.method).framework
        why = pricer.unpriced(job, framework) or (None if work[job.key] else f"{job.dataset}'s size is known only "
                                                                               f"once it is read")
        if why:
            out[job.key] = why
    costs: dict[str, list] = {}
    for trial in in_run_order(work):
        if trial.job.key not in out:
            framework = trial.job.framework or METHODS.get(trial.job.method).framework
            costs.setdefault(trial.job.key, []).append((trial, pricer.trial(trial, framework)))
    for key, priced in costs.items():
        job, mb = priced[0][0].job, budget.method(priced[0][0].job.method)
        epochs = mb.max_epochs or 1
        share = (expected_epochs(mb.num_samples, epochs, mb.asha) / epochs) if METHODS.get(job.method).epoch_based \
            else 1.0
        upper = [c.seconds(t.epochs) * slowdown for t, c in priced]
        expect = tuple(c.seconds(t.epochs * share) * slowdown for t, c in priced)
        out[key] = JobPlan(key, job.method, mb.num_samples, epochs, sum(upper) / len(upper) / 3600, source,
                           expected_hours=sum(expect) / len(expect) / 3600, trial_s=expect)
    return out


def default_hours(job: Job, epochs: int, gpus: float, why: str | None) -> tuple[float, str]:
    """A trial's hours by the stated default per method, and why no table priced it."""
    hours, source = METHODS.get(job.method).hours_per_epoch * epochs, "default per method"
    if 0 < gpus < 1:
        hours, source = hours * SHARED_GPU_SLOWDOWN, f"{source}, x{SHARED_GPU_SLOWDOWN:g} on a shared GPU"
    return hours, source + (f" ({why})" if why else "")


def local_wall(plans: list[JobPlan], cost_dir: Path, slots: int) -> float | None:
    """A local sweep's wall seconds: its trials (expected) in run order on `slots`, plus the driver's start and end
    and Ray's time per trial as the CPU table measured them; None unless the table priced every job."""
    table = table_for("cpu", cost_dir)
    if table is None or not plans or not all(p.trial_s for p in plans):
        return None
    sweep = table.sweep
    order = [p.trial_s[i] + sweep["per_trial_s"] for i in range(max(len(p.trial_s) for p in plans))
             for p in plans if i < len(p.trial_s)]
    return sweep["start_s"] + makespan(order, slots) + sweep["end_s"]


def estimate(plans: list[JobPlan], cpus: float, gpus: float, prices: Prices = Prices(),
             run: str | None = None, wall_s: float | None = None) -> dict:
    """Trial hours and price over the plan: GPU-hours at the GPU price when trials take GPUs, else vCPU-hours."""
    trial_hours = sum(p.trials * p.hours_per_trial for p in plans)
    expected = sum(p.trials * p.expected_hours_per_trial for p in plans)
    price = gpus * prices.gpu_hour if gpus else cpus * prices.cpu_hour
    spot = gpus * prices.gpu_hour_spot if gpus else None  # spot applies to the GPU workers
    return {"trial_hours": trial_hours, "cost": trial_hours * price, "cpus": cpus, "gpus": gpus,
            "trial_hours_expected": expected, "cost_expected": expected * price,
            "cost_spot": None if spot is None else trial_hours * spot, "spot_price": prices.gpu_hour_spot,
            "spot_source": prices.spot_source,
            "trials": sum(p.trials for p in plans), "source": estimate_source(plans, run, gpus),
            "wall_s": wall_s,  # a local sweep's wall time, where the CPU table priced every job
            # per job, for the report's estimate against what the trials took (analysis.cost.against_estimate)
            "jobs": {p.key: {"method": p.method, "trials": p.trials, "hours_per_trial": p.hours_per_trial,
                             "expected_hours_per_trial": p.expected_hours_per_trial, "source": p.source}
                     for p in plans}}


def estimate_source(plans: list[JobPlan], run: str | None, gpus: float = 1.0) -> str:
    """Where the plan's hours came from, in a phrase: the run, the cost tables, the defaults, or a mix."""
    if run:
        return f"measured in {run}"
    tables = sorted({p.source for p in plans if not p.source.startswith("default")})
    defaults = sum(p.source.startswith("default") for p in plans)
    if not tables:
        # the defaults are a GPU's: a plan on CPUs says so rather than pass them off as its own device's
        return "defaults per method: full-size data on one GPU" + ("" if gpus else
                                                                    "; no CPU rates measured: not this machine's")
    return "; ".join(tables) + (f"; defaults per method for {defaults} job(s)" if defaults else "")


def busy_workers(trials: int, cpus: float, gpus: float, config: dict) -> str:
    """How many of the cluster's workers the plan keeps busy: its trials are independent (random search and a
    per-job ASHA), so they fill every slot until the last wave."""
    from sweeps.cluster.shape import addable_nodes, largest_cluster_slots, slots

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


def hours(trial_hours: float) -> str:
    """Trial-hours, and in trial-seconds where that is the readable figure (a demo's few minutes)."""
    return f"{trial_hours:.2f} trial-hours" + (f" ({trial_hours * 3600:.0f} trial-seconds)" if trial_hours < 1 else "")


def render(sweep_id: str, budget: Budget, plans: list[JobPlan], summary: dict, workers: str = "") -> str:
    lines = [f"plan for sweep {sweep_id}: budget {budget.name}, {len(plans)} jobs, "
             f"{sum(p.trials for p in plans)} trials, {summary['cpus']:g} CPU + {summary['gpus']:g} GPU per trial",
             f"{'job':<48} {'trials':>6} {'search':>6} {'epochs':>6} {'~epochs':>7} {'h/trial':>8}  estimate from"]
    lines += [f"{p.key:<48} {p.trials:>6} {budget.method(p.method).search:>6} {p.epochs:>6} "
              f"{p.expected_epochs or p.epochs:>7.1f} {p.hours_per_trial:>8.3g}  {p.source}" for p in plans]
    unit, per_trial = ("GPU", summary["gpus"]) if summary["gpus"] else ("vCPU", summary["cpus"])
    spot = (f" on demand, ${summary['cost_spot']:.2f} on spot at ${summary['spot_price']:g}/GPU-h "
            f"({summary.get('spot_source', SPOT_SOURCE)})"
            if summary.get("cost_spot") is not None else "")
    lines.append(f"estimated: {hours(summary['trial_hours'])} ({summary['trial_hours'] * per_trial:.2f} "
                 f"{unit}-hours), about ${summary['cost']:.2f}{spot} if every trial runs all its epochs (an upper "
                 f"bound; {summary['source']})")
    if "trial_hours_expected" in summary:
        lines.append(f"expected with ASHA's early stops (~epochs): {hours(summary['trial_hours_expected'])}, "
                     f"about ${summary['cost_expected']:.2f} on demand; early stopping's patience may end trials "
                     f"sooner still")
    if workers:
        lines.append(workers)
    return "\n".join(lines)
