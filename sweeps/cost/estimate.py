"""What a sweep will cost before it runs: trials per job, epochs, resources, and estimated trial hours and price.

Each job's expected epochs per trial under its ASHA (sweeps.cost.expected) stand beside the upper bound. An
estimate per trial comes from a previous sweep's measured rows when one is given (`--estimate-from RUN`: the
mean wall time of that run's trials of the same job, else of the same method, scaled by the training items x epochs
this plan's trials will see against what those trials saw), else from the newest measured cost table for the
plan's device (sweeps/costs/*.yaml, sweeps.cost.table: ms per training item per epoch on a named card, alone and
shared), or else from a stated default per method (MethodSpec.hours_per_epoch: full-size course data on one GPU,
times SHARED_GPU_SLOWDOWN when trials share a card); each job's line says which.
A run that is not comparable is refused in one line rather than scaled: trials on CPUs pricing a plan on GPUs (or
the other way round), demo data pricing the real files, image rows that do not record their input side. Both estimates
assume every trial runs all its epochs, so they are upper bounds where ASHA or early stopping ends trials sooner;
the expected figure scales them by the expected epochs.
`sweep.json` records the estimate, and the report shows it beside what the sweep spent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.prices import SPOT_SOURCE, Prices
from sweeps.budgets import Budget
from core.course import Job
from core.registry import BACKBONES, DATASETS, METHODS
from sweeps.cost.expected import expected_epochs
from sweeps.cost.table import COST_DIR, CostTable, table_for
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

    @property
    def expected_hours_per_trial(self) -> float:
        """Hours per trial at the expected epochs, in proportion to the upper bound's."""
        return self.hours_per_trial * (self.expected_epochs or self.epochs) / self.epochs


@dataclass(frozen=True)
class Measured:
    """A previous run's finished trials of one job (or one method): what they cost and what they trained on."""
    hours: float  # mean wall hours per trial
    item_epochs: float  # mean training items x epochs per trial (nan where the rows do not say)
    work: float  # images: mean items x epochs x the backbone's GFLOPs at the trial's side (nan: text, or not said)
    max_len: float  # mean sequence length of text trials (nan for images)
    on_gpu: bool


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

    def summarise(mine: pd.DataFrame) -> Measured:
        return Measured(float(mine["wall_s"].mean()) / 3600.0, float(mine["item_epochs"].mean()),
                        float(mine["work"].mean()), float(mine["max_len"].mean()),
                        bool((mine["gpus"] > 0).any()))

    return Reference(run, bool(load_manifest(run).get("demo_data")),
                     {key: summarise(mine) for key, mine in done.groupby(job_key(done))},
                     {method: summarise(mine) for method, mine in done.groupby("method")})


def planned_side(job: Job, budget: Budget) -> int | None:
    """The input side of a transfer-learning job's images under this budget (None: not a backbone's job)."""
    return BACKBONES.get(job.model).size_for(budget.images.image_size) if job.model in BACKBONES else None


def planned_items(job: Job, budget: Budget, demo: bool) -> int | None:
    """Training items per epoch this plan's trials will see (after the budget's caps and the validation split); None
    for a dataset whose size is known only once it is read (a user's own). Approximate where caps are tiny against
    many classes: the trials round caps and splits per class, which this leaves out."""
    from trainables import demo as demo_data

    if job.dataset not in DATASETS:
        return None
    spec = DATASETS.get(job.dataset)
    per_class = {"images": demo_data.IMAGES_PER_CLASS, "text": demo_data.TEXTS_PER_CLASS,
                 "cifar": demo_data.CIFAR_PER_CLASS}[spec.kind]["train"]
    files = per_class * spec.n_classes if demo else spec.n_train
    if spec.kind == "text" and budget.text.max_train:
        files = min(files, budget.text.max_train)
    elif spec.kind != "text" and budget.images.max_train_per_class:
        files = min(files, budget.images.max_train_per_class * spec.n_classes)
    return round(files * (1 - budget.val_fraction))


def length_ratio(job: Job, budget: Budget, ref: Measured) -> float:
    """How much longer this plan's sequences may be than the measured trials' (1 for images): the longest max_len the
    space allows, `auto` counting as the measured trials' own (the same texts give the same percentile)."""
    if not ref.max_len > 0:
        return 1.0
    value = budget.method(job.method).space_for(job.dataset).get("max_len", "auto")
    values = value.values if hasattr(value, "values") else (value,)
    return max(ref.max_len if v == "auto" else float(v) for v in values) / ref.max_len


def scaled(ref: Measured, job: Job, budget: Budget, epochs: int, gpus: float, demo: bool,
           reference: Reference) -> tuple[float, str]:
    """A measured trial's hours carried over to this plan's job, or a one-line refusal where the run is no guide."""
    run, where = reference.run, {True: "GPUs", False: "CPUs"}
    if reference.demo != demo:
        data = {True: "the generated demo data", False: "the real files"}
        raise ConfigError(f"--estimate-from {run}: it ran on {data[reference.demo]}, this plan on {data[demo]}: items "
                          f"of other sizes are no guide (leave --estimate-from out for the defaults)")
    if ref.on_gpu != (gpus > 0):
        hint = "; --gpus-per-trial 0 prices a plan on CPUs" if gpus else ""
        raise ConfigError(f"--estimate-from {run}: its {job.method} trials ran on {where[ref.on_gpu]}, this plan's run "
                          f"on {where[gpus > 0]}: not comparable (leave --estimate-from out for the defaults{hint})")
    side = planned_side(job, budget)
    if side is not None and not ref.work > 0:
        raise ConfigError(f"--estimate-from {run}: its {job.method} trials' rows do not record their backbone's input "
                          f"size: not comparable (leave --estimate-from out for the defaults)")
    items = planned_items(job, budget, demo)
    if items is None or not ref.item_epochs > 0:
        return ref.hours, "unscaled: the dataset's size is known only once it is read"
    if side is not None:  # another backbone or input side: by the work, the backbone's GFLOPs at the side
        ratio = items * epochs * BACKBONES.get(job.model).gflops_at(side) / ref.work
        return ref.hours * ratio, f"x{ratio:.3g} for items x epochs x {job.model}'s GFLOPs at {side} px"
    ratio = items * epochs / ref.item_epochs * length_ratio(job, budget, ref)
    return ref.hours * ratio, f"x{ratio:.3g} for items x epochs" + (" x length" if ref.max_len > 0 else "")


def plan_jobs(jobs: list[Job], budget: Budget, run: str | None = None, gpus: float = 1.0,
              demo: bool = False, cost_dir: Path = COST_DIR) -> list[JobPlan]:
    """Each job's trials, epochs and estimated hours per trial (see the module's docstring for where they come from);
    `demo`: the plan runs on the generated demo data (its sizes, not the course's); `cost_dir`: the measured
    cost tables (sweeps/costs), the newest for the plan's device used where no run is given."""
    reference = measured(run) if run else Reference("", demo, {}, {})
    table = None if run else table_for(gpus, cost_dir)
    plans = []
    for job in jobs:
        mb = budget.method(job.method)
        epochs = mb.max_epochs or 1
        ref, how = ((reference.by_job[job.key], "same job") if job.key in reference.by_job
                    else (reference.by_method.get(job.method), "same method"))
        if ref is not None:
            hours, scale = scaled(ref, job, budget, epochs, gpus, demo, reference)
            source = f"measured: {how}, {scale}"
        else:
            hours, source = priced(table, job, budget, epochs, gpus, demo)
        expected = expected_epochs(mb.num_samples, epochs, mb.asha) if METHODS.get(job.method).epoch_based \
            else float(epochs)
        plans.append(JobPlan(job.key, job.method, mb.num_samples, epochs, hours, source, expected))
    return plans


def priced(table: CostTable | None, job: Job, budget: Budget, epochs: int, gpus: float,
           demo: bool) -> tuple[float, str]:
    """A trial's hours from the cost table where it measured this job at this plan's sizes, else the default per
    method, saying why the table did not serve."""
    hours, source = METHODS.get(job.method).hours_per_epoch * epochs, "default per method"
    if 0 < gpus < 1:
        hours, source = hours * SHARED_GPU_SLOWDOWN, f"{source}, x{SHARED_GPU_SLOWDOWN:g} on a shared GPU"
    if table is None:
        return hours, source
    name, side = Path(table.path).name, planned_side(job, budget)
    if side is not None and side != BACKBONES.get(job.model).input_size:
        return hours, f"{source} ({name} is at {job.model}'s own {BACKBONES.get(job.model).input_size} px)"
    items = planned_items(job, budget, demo)
    if items is None:
        return hours, f"{source} ({job.dataset}'s size is known only once it is read)"
    tabled = table.hours(job, items, epochs, gpus)
    if tabled is None:
        return hours, f"{source} (not in {name}: {table.entry(job)})"
    return tabled, f"measured on {table.card} ({name})"


def estimate(plans: list[JobPlan], cpus: float, gpus: float, prices: Prices = Prices(),
             run: str | None = None) -> dict:
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
            # per job, for the report's estimate against what the trials took (analysis.cost.against_estimate)
            "jobs": {p.key: {"method": p.method, "hours_per_trial": p.hours_per_trial,
                             "expected_hours_per_trial": p.expected_hours_per_trial, "source": p.source}
                     for p in plans}}


def estimate_source(plans: list[JobPlan], run: str | None, gpus: float = 1.0) -> str:
    """Where the plan's hours came from, in a phrase: the run, the cost tables, the defaults, or a mix."""
    if run:
        return f"measured in {run}"
    tables = sorted({p.source for p in plans if p.source.startswith("measured on")})
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


def render(sweep_id: str, budget: Budget, plans: list[JobPlan], summary: dict, workers: str = "") -> str:
    lines = [f"plan for sweep {sweep_id}: budget {budget.name}, {len(plans)} jobs, "
             f"{sum(p.trials for p in plans)} trials, {summary['cpus']:g} CPU + {summary['gpus']:g} GPU per trial",
             f"{'job':<48} {'trials':>6} {'search':>6} {'epochs':>6} {'~epochs':>7} {'h/trial':>8}  estimate from"]
    lines += [f"{p.key:<48} {p.trials:>6} {budget.method(p.method).search:>6} {p.epochs:>6} "
              f"{p.expected_epochs or p.epochs:>7.1f} {p.hours_per_trial:>8.3f}  {p.source}" for p in plans]
    unit, per_trial = ("GPU", summary["gpus"]) if summary["gpus"] else ("vCPU", summary["cpus"])
    spot = (f" on demand, ${summary['cost_spot']:.2f} on spot at ${summary['spot_price']:g}/GPU-h "
            f"({summary.get('spot_source', SPOT_SOURCE)})"
            if summary.get("cost_spot") is not None else "")
    lines.append(f"estimated: {summary['trial_hours']:.2f} trial-hours ({summary['trial_hours'] * per_trial:.2f} "
                 f"{unit}-hours), about ${summary['cost']:.2f}{spot} if every trial runs all its epochs (an upper "
                 f"bound; {summary['source']})")
    if "trial_hours_expected" in summary:
        lines.append(f"expected with ASHA's early stops (~epochs): {summary['trial_hours_expected']:.2f} trial-hours, "
                     f"about ${summary['cost_expected']:.2f} on demand; early stopping's patience may end trials "
                     f"sooner still")
    if workers:
        lines.append(workers)
    return "\n".join(lines)
