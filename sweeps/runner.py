"""Plan and run a sweep: jobs -> sampled trial configurations -> one Ray Tune run -> Parquet rows.

Everything that can be wrong with the input (groups, budget, data folders, resources) is checked before any trial
starts. The results folder holds `sweep.json` (the plan), `trials/` (one row per trial) and `history/`; the rows
are the ledger: `--resume` skips every trial whose row says ok or stopped.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sweeps.budgets import Budget, derive_seed, sample_configs
from sweeps.datasets import Catalog, DataSource, check_class_sizes, make_split, with_split
from trainables.data.layout import file_counts
from core.course import Job, Group
from sweeps.interrupt import SignalStop
from sweeps.lock import DriverLock
from sweeps.storage import (NETWORK_FILESYSTEMS, ForeignFolder, check_sweep_id, filesystem_type, other_hosts,
                            remove_sweep, storage_problem)
from core import ledger, store
from trainables.common import DataError, fingerprint
from core.plan import Asha, DataRef, TrialSpec
from core.registry import CELLS, METHODS, NETS, fits
from trainables.trial import FAULT_ENV, LOGICAL_GPUS_ENV, one_line

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FINISHED = ("ok", "stopped")
# what trials need to reach an object store when the driver has it in its environment (instance roles need none)
STORE_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")


class ConfigError(ValueError):
    """The sweep cannot start; the message is one line saying what to fix."""


@dataclass
class SweepOptions:
    jobs: dict[Job, list[Group]]
    budget: Budget
    data_root: Path | str  # a folder, or an object-store URI that each node copies (trainables.data.sync)
    demo: bool
    weights: str
    storage: Path | str  # a folder, or an object-store URI (core.store)
    sweep_id: str
    seed: int = 0
    resume: bool = False
    fresh: bool = False
    address: str | None = None  # None: local Ray on this machine
    cpus_per_trial: int | None = None
    gpus_per_trial: float | None = None
    max_failures: int = 1
    shared_storage: bool = False  # the user vouches that every node sees --storage
    estimate_from: str | None = None  # a previous sweep whose measured hours estimate this one's (sweeps.estimate)
    datasets: Catalog = field(default_factory=Catalog)  # the user's datasets, and course datasets living elsewhere
    test_fraction: float = 0.2  # of a dataset whose files hold no test split (held out here, stratified)

    def __post_init__(self) -> None:
        try:  # the id names the one folder this sweep may write and --fresh may delete
            check_sweep_id(self.sweep_id)
        except ValueError as exc:
            raise ConfigError(f"--sweep-id {exc}") from None

    @property
    def sweep_dir(self) -> str:
        return store.join(self.storage, self.sweep_id)


def git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def check_jobs(jobs: dict[Job, list[Group]], catalog: Catalog | None = None) -> None:
    """Every name in every job is known (UnknownNameError lists the valid ones) and fits its method."""
    catalog = catalog or Catalog()
    for job in jobs:
        method = METHODS.get(job.method)
        method.trainable(job.framework or None)
        kind = catalog.kind(job.dataset)
        if kind not in method.kinds:
            raise ConfigError(f"job {job.key}: method {job.method} reads {' or '.join(method.kinds)} data; "
                              f"dataset {job.dataset} is {kind}")
        if method.models == "cells":
            CELLS.get(job.model)
        elif method.models == "nets":
            NETS.get(job.model)
        elif fits(method, job.model):  # any torchvision classifier works too; deriving its facts needs torch
            from trainables.images.specs import backbone_spec

            backbone_spec(job.model)
        else:
            raise ConfigError(f"job {job.key}: {job.model} is not a backbone; {job.method} fine-tunes backbones")


def sweep_sources(jobs: dict[Job, list[Group]], data_root: Path | str | None,
                  catalog: Catalog | None = None) -> dict[str, DataSource]:
    """Where each dataset the jobs need is read from (sweeps.datasets), by name."""
    catalog = catalog or Catalog()
    return {name: catalog.source(name, data_root) for name in sorted({job.dataset for job in jobs})}


def check_data(jobs: dict[Job, list[Group]], data_root: Path | str | None, demo: bool = False,
               catalog: Catalog | None = None, test_fraction: float = 0.2, seed: int = 0,
               earlier_split: Callable[[str], dict | None] = lambda name: None,
               val_fraction: float = 0.2) -> dict[str, dict]:
    """Preflight every dataset the jobs need; returns dataset -> {"source", "fingerprint", "counts", "split"}. A
    bucket is checked from its listing (layout, sizes, times: no download); its files' contents are checked on each
    node after the copy. A dataset whose files hold no test split gets one (sweeps.datasets.make_split; a resumed
    sweep's earlier one); every class must keep a training, a validation and a test item (check_class_sizes). What the course's files hold is compared with the handout's table once per sweep
    (compare_counts); generated demo data is small by design."""
    facts = {}
    for name, source in sweep_sources(jobs, data_root, catalog).items():
        try:
            split = (make_split(source, test_fraction, seed, earlier_split(name))
                     if source.layout.split_here else None)
            source = with_split(source, split) if split else source
            facts[name] = {"source": source, "split": split, **dataset_facts(source)}
            check_class_sizes(source, facts[name].pop("per_class"), val_fraction, test_fraction)
        except DataError as exc:
            raise ConfigError(str(exc)) from None
    for name in facts if not demo else ():  # after every check passed: an error stays the one line printed
        if facts[name]["source"].handout is not None:
            compare_counts(facts[name]["source"], facts[name]["counts"])
    return facts


def dataset_facts(source: DataSource) -> dict:
    """{"fingerprint", "counts", "per_class"} of one dataset, after its checks (one DataError line naming the file
    otherwise); per_class: class -> (train, test) items, None where the listing cannot say."""
    from trainables.data.sync import check_remote_layout, list_remote, remote_counts, remote_fingerprint

    location, kind = source.location, source.kind
    listing = list_remote(location) if store.is_uri(location) else None  # a bucket's files, or None for a folder
    if kind == "cifar" and listing is None and not Path(location).exists():
        fetch_cifar(Path(location))
    if not (bool(listing) if listing is not None else Path(location).exists()):
        raise DataError(f"no dataset folder {source.name!r} at {location} (layout {LAYOUTS[kind]}); pass the "
                        f"--data-root that holds it, or its path")
    if listing is not None:
        check_remote_layout(location, kind, listing)
        fact = {"fingerprint": remote_fingerprint(listing), "counts": remote_counts(kind, listing)}
    else:
        fact = {"fingerprint": fingerprint(location, content=kind == "text"),
                "counts": file_counts(Path(location), source.layout)}
    return fact | {"per_class": fact["counts"].pop("per_class")}


def fetch_cifar(location: Path) -> None:
    """CIFAR-100 missing locally: torchvision downloads it where a network exists (once, on the driver)."""
    from trainables.images.cifar import URL, download

    print(f"{location}: no CIFAR-100 there; downloading {URL} with torchvision", flush=True)
    try:
        download(location)
    except OSError as exc:
        raise DataError(f"{location}: no CIFAR-100 files and {exc}; fetch cifar-100-python.tar.gz where there is "
                        f"internet and unpack it into {location}") from None


LAYOUTS = {"images": "<name>/{train,test}/<class>/<image>", "text": "<name>/{train,test}.csv",
           "cifar": "<name>/cifar-100-python/{train,test,meta}"}


def compare_counts(source: DataSource, counts: dict[str, int | None]) -> None:
    """One warning line when the course's files hold other class / train / test counts than the handout's table
    says (a wrong --data-root, or an edited copy); the rows record the files' counts either way."""
    spec = source.handout
    expected = {"n_classes": spec.n_classes, "n_train_files": spec.n_train, "n_test_files": spec.n_test}
    differ = [f"{key.removeprefix('n_').removesuffix('_files')} {counts[key]:,} (handout {expected[key]:,})"
              for key in expected if counts.get(key) is not None and counts[key] != expected[key]]
    if differ:
        print(f"warning: {source.location}: the files hold other counts than the handout's table: "
              f"{', '.join(differ)}; rows record the files' counts (n_train_files, n_test_files)",
              file=sys.stderr, flush=True)


def check_weights(options: SweepOptions) -> None:
    """Local mode with ImageNet weights: every backbone's file is cached and is the file its name promises (its
    sha256 prefix), or is downloaded now (once, not per trial)."""
    names = sorted({job.model for job in options.jobs if METHODS.get(job.method).models == "backbones"})
    if options.weights != "imagenet" or options.address is not None or not names:
        return  # cluster nodes fetch (or report) their own weights; the driver cannot see their disks
    import torch

    from trainables.images.prefetch import DamagedWeights, prefetch

    try:
        prefetch(names, Path(torch.hub.get_dir()).parent)  # verifies the files there, as torch.hub would
    except DamagedWeights as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"--weights imagenet: {exc}; fetch it where there is internet with `python -m "
                          f"trainables.images.prefetch --dest DIR` and set TORCH_HOME=DIR, or pass --weights random")


def check_storage(storage: Path | str) -> None:
    """The results location takes a file (bucket exists, credentials and endpoint work, folder can be created and
    written) before anything is written there, so a typo in --storage is one line now rather than a traceback or
    a failed row per trial later. The probe is this process's own file, removed by its exact name."""
    probe = store.join(storage, f".write-check-{os.getpid()}")
    made = [] if store.is_uri(storage) else [p for p in [Path(storage), *Path(storage).parents] if not p.exists()]
    try:
        store.write_text("ok", probe)
        store.remove_file(probe)
    except OSError as exc:
        raise ConfigError(f"--storage {storage}: cannot write there ({one_line(exc)})") from None
    finally:
        for folder in made:  # the folders the probe created, deepest first: a refused sweep leaves nothing behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def clear_sweep(options: SweepOptions) -> None:
    """--fresh: delete this sweep's own earlier folder (storage.remove_sweep refuses anything else)."""
    try:
        removed = remove_sweep(options.storage, options.sweep_id)
    except ForeignFolder as exc:
        raise ConfigError(str(exc)) from None
    if removed:
        print(f"--fresh: removed {options.sweep_dir} ({', '.join(removed)})")


def sweep_param_types(options: SweepOptions) -> dict[str, str]:
    """param_<name> -> column type over every job's search space: one row schema for the whole sweep."""
    budget = options.budget
    return ledger.param_types(budget.method(c.method).space_for(c.dataset) for c in options.jobs)


def plan_trials(options: SweepOptions, facts: dict[str, dict], resources: dict[str, Any]) -> list[TrialSpec]:
    """Every trial of the sweep as a self-contained TrialSpec, sampled reproducibly per job."""
    budget, sha, param_types = options.budget, git_sha(), sweep_param_types(options)
    by_sample: list[list[TrialSpec]] = []
    for job in options.jobs:
        method = METHODS.get(job.method)
        mb = budget.method(job.method)
        job_seed = derive_seed(options.seed, job.key)
        for i, params in enumerate(sample_configs(mb.space_for(job.dataset), mb.num_samples, job_seed)):
            digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:6]
            spec = TrialSpec(
                trial_id=f"{job.key}-{i:02d}-{digest}", job=job, sample=i,
                framework=job.framework or method.framework, epoch_based=method.epoch_based, params=params,
                seed=derive_seed(job_seed, i), data_seed=options.seed, sweep_id=options.sweep_id,
                results_dir=options.sweep_dir, cache_dir=str(store.local_root(options.storage) / "cache"),
                data=data_ref(options, facts[job.dataset], resources["verify_data"]), weights=options.weights,
                max_epochs=mb.max_epochs or 1, val_fraction=budget.val_fraction,
                checkpoint_every=budget.checkpoint_every, images=budget.images, text=budget.text,
                param_types=param_types, git_sha=sha, cpus=resources["cpus"], gpus=resources["gpus"])
            while len(by_sample) <= i:
                by_sample.append([])
            by_sample[i].append(spec)
    # Sample 0 of every job first: a job's later samples then find its cached features ready.
    return [spec for layer in by_sample for spec in layer]


def early_stopping(options: SweepOptions) -> dict[str, tuple[int, Asha]]:
    """Job key -> (max epochs, ASHA settings) for every job whose method reports epochs (sweeps.scheduling)."""
    methods = {job: options.budget.method(job.method) for job in options.jobs
               if METHODS.get(job.method).epoch_based}
    return {job.key: (mb.max_epochs or 1, mb.asha) for job, mb in methods.items()}


def split_location(options: SweepOptions, name: str) -> str:
    """Where a held-out test split's manifest lives: in the sweep's folder, read by every trial and every resume."""
    return store.join(options.sweep_dir, "splits", f"{name}.json")


def earlier_split(options: SweepOptions) -> Callable[[str], dict | None]:
    """A resumed sweep's own split manifests (a new or --fresh sweep makes its splits anew)."""
    def read(name: str) -> dict | None:
        text = store.read_text(split_location(options, name)) if options.resume else None
        return json.loads(text) if text else None
    return read


def data_ref(options: SweepOptions, facts: dict, verify: bool) -> DataRef:
    """The dataset of a trial: where the files are, their layout, fingerprint and counts, and the manifest of the
    test split held out here, if any."""
    source: DataSource = facts["source"]
    split = facts["split"]
    return DataRef(location=str(source.location), kind=source.kind, layout=source.layout.to_spec(),
                   fingerprint=facts["fingerprint"], counts=facts["counts"],
                   split=split_location(options, source.name) if split else None,
                   held_out={"test_fraction": split["fraction"], "split_seed": split["seed"]} if split else None,
                   verify=verify)


def describe_data(facts: dict[str, dict]) -> dict[str, dict]:
    """sweep.json's datasets: where each came from, its counts, and its held-out split's seed and fraction."""
    out = {}
    for name, fact in facts.items():
        split = fact["split"]
        out[name] = fact["source"].describe() | {"counts": fact["counts"], "fingerprint": fact["fingerprint"]} | (
            {"test_fraction": split["fraction"], "split_seed": split["seed"], "split_digest": split["digest"]}
            if split else {})
    return out


def write_splits(options: SweepOptions, facts: dict[str, dict]) -> None:
    """Each held-out test split's manifest, before any trial reads it (atomic: a trial never sees half of one)."""
    for name, fact in facts.items():
        if fact["split"]:
            ledger.write_text_atomic(json.dumps(fact["split"], indent=0), split_location(options, name))


def plan_estimate(options: SweepOptions, resources: dict[str, float]) -> dict:
    """The plan's estimated trial hours and price (sweeps.estimate), recorded in sweep.json for the report."""
    from sweeps import estimate

    plans = estimate.plan_jobs(list(options.jobs), options.budget, options.estimate_from, resources["gpus"])
    return estimate.estimate(plans, resources["cpus"], resources["gpus"], run=options.estimate_from)


def prepare_sweep_dir(options: SweepOptions, trials: list[TrialSpec], estimate: dict | None = None,
                      datasets: dict[str, dict] | None = None) -> list[TrialSpec]:
    """Create or reuse the results folder; returns the trials still to run."""
    sweep_dir = options.sweep_dir
    existing = store.list_files(store.join(sweep_dir, "trials"), ".parquet")
    if existing and not options.resume:
        raise ConfigError(f"{sweep_dir}: already holds {len(existing)} trial rows; pass --resume to continue it, "
                          f"--fresh to start over, or --sweep-id NAME for a new sweep")
    manifest = {"sweep_id": options.sweep_id, **plan_fields(options), "demo_data": options.demo,
                "trials": [t.trial_id for t in trials],
                "param_types": trials[0].param_types if trials else {}, "estimate": estimate,
                "datasets": datasets or {}}
    ledger.write_text_atomic(json.dumps(manifest, indent=1), store.join(sweep_dir, "sweep.json"))
    finished = finished_trials(sweep_dir, [t.trial_id for t in trials], sweep_schema(trials))
    return [t for t in trials if t.trial_id not in finished]


def sweep_schema(trials: list[TrialSpec]) -> Any:
    """The sweep's row schema (its param types are every trial's): what its own rows are read with."""
    return ledger.row_schema(trials[0].param_types if trials else {})


def plan_fields(options: SweepOptions) -> dict:
    """What sweep.json records of the options, and what a resumed sweep must share with it."""
    return {"budget": options.budget.name, "data_root": str(options.data_root), "weights": options.weights,
            "seed": options.seed, "test_fraction": options.test_fraction,
            "groups": sorted({g.name for gs in options.jobs.values() for g in gs}),
            "jobs": [{"key": c.key, "part": c.part, "dataset": c.dataset, "model": c.model, "method": c.method,
                      "framework": c.framework or METHODS.get(c.method).framework,
                      "groups": [g.name for g in gs]} for c, gs in options.jobs.items()]}


def _shown(value: Any) -> str:
    if not isinstance(value, list):
        return str(value)
    return f"{len(value)} ({', '.join(map(str, value[:3]))}{', ...' if len(value) > 3 else ''})"


def check_same_plan(path: str, plan: dict) -> None:
    """--resume refuses a plan other than the stored one (another budget, data, weights, seed or selection would
    mix two sweeps' rows in one table), naming each differing field; a damaged sweep.json is named too."""
    text = store.read_text(path)
    if text is None:
        return  # rows without a plan (a removed sweep.json): they are the ledger; the plan is written anew
    try:
        stored = ledger.parse_plan(text)
        stored["jobs"] = sorted(c["key"] for c in stored.get("jobs", []))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # not JSON, or not a plan's shape
        raise ConfigError(f"{path}: damaged, not a sweep plan ({type(exc).__name__}: {str(exc)[:80]}); remove it "
                          f"and rerun with --resume to continue from the rows, or --fresh to start over") from None
    plan = plan | {"jobs": sorted(c["key"] for c in plan["jobs"])}
    differ = [f"{field} {_shown(stored[field])} -> {_shown(plan[field])}" for field in plan
              if field in stored and stored[field] != plan[field]]  # a field an older plan lacks is not compared
    if differ:
        raise ConfigError(f"{path}: --resume with another {'; '.join(differ)} than the stored plan; rerun with its "
                          f"options, --fresh to start over, or --sweep-id NAME for a new sweep")


def check_resumable(options: SweepOptions) -> None:
    """--resume continues a sweep that exists: a mistyped id is refused naming the sweeps that do, instead of
    quietly starting a new one."""
    sweep_dir = options.sweep_dir
    if store.exists(store.join(sweep_dir, "sweep.json")) or store.list_files(store.join(sweep_dir, "trials")):
        return
    sweeps = [name for name in store.list_folders(options.storage)
              if store.exists(store.join(options.storage, name, "sweep.json"))]
    shown = ", ".join(sweeps[:10]) + (f" and {len(sweeps) - 10} more" if len(sweeps) > 10 else "")
    raise ConfigError(f"--resume: no sweep {options.sweep_id!r} in {options.storage} "
                      f"({'sweeps there: ' + shown if sweeps else 'it holds no sweep'}); pass one of those as "
                      f"--sweep-id, or leave out --resume to start this one")


def finished_trials(sweep_dir: str, trial_ids: list[str], schema: Any = None) -> set[str]:
    """The trials whose stored row (one that fits the sweep's `schema`) says ok or stopped. A damaged row file, or
    one that is not the sweep's, is named, and its trial runs again (its new row replaces the file)."""
    try:
        rows = ledger.read_rows(sweep_dir, trial_ids, schema)
    except store.UnreadableFile:
        rows = {}
        for trial_id in trial_ids:
            try:
                rows[trial_id] = ledger.read_row(sweep_dir, trial_id, schema)
            except store.UnreadableFile as exc:  # removed: every later reader would stop on it
                print(f"warning: {exc}; removed, its trial runs again", file=sys.stderr, flush=True)
                store.remove_file(ledger.row_path(sweep_dir, trial_id))
                rows[trial_id] = None
    return {trial_id for trial_id, row in rows.items() if row and row["status"] in FINISHED}


def connect(options: SweepOptions) -> dict[str, float]:
    """Start or join Ray and decide per-trial resources; refuse requests no node can ever satisfy."""
    import ray

    # Tune's rich console output ignores verbose=0; the legacy reporter honours it (we print our own lines).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    # trials see the driver's fault plan and logical-GPU flag everywhere; its weights cache only on this machine
    forwarded = (FAULT_ENV, LOGICAL_GPUS_ENV) + (("TORCH_HOME",) if options.address is None else ())
    if store.is_uri(options.storage) or store.is_uri(options.data_root):  # trials reach the store themselves
        forwarded += STORE_ENV
    env |= {name: os.environ[name] for name in forwarded if name in os.environ}
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                  runtime_env={"env_vars": env}, configure_logging=True)
    if options.address is None:
        ray.init(**kwargs)
    else:
        try:
            ray.init(address=options.address, **kwargs)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(f"--address {options.address}: cannot reach a Ray cluster ({str(exc).splitlines()[0]}); "
                              f"start one with `ray up cluster.yaml` or use --local") from None
    alive = [n for n in ray.nodes() if n.get("Alive")]
    hosts = [n["NodeManagerHostname"] for n in alive]
    problem = storage_problem(options.storage, hosts, options.shared_storage)
    if problem:
        raise ConfigError(problem)
    nodes = [n["Resources"] for n in alive]
    max_cpus = max(n.get("CPU", 0) for n in nodes)
    max_gpus = max(n.get("GPU", 0) for n in nodes)
    cpus = int(options.cpus_per_trial or options.budget.resources.cpus_per_trial)
    if cpus > max_cpus:
        print(f"note: budget asks {cpus} CPUs per trial; the largest node has {max_cpus:g}: using {max_cpus:g}")
        cpus = int(max_cpus)
    gpus = options.gpus_per_trial
    if gpus and gpus > max_gpus:
        raise ConfigError(f"--gpus-per-trial {gpus:g}: no node has that many GPUs (largest: {max_gpus:g}); trials "
                          f"would wait forever. Use --gpus-per-trial 0 or a cluster with GPUs")
    if gpus is None:
        gpus = float(options.budget.resources.gpus_per_trial) if max_gpus else 0.0
    return {"cpus": cpus, "gpus": gpus, "verify_data": data_needs_check(options, hosts)}


def data_needs_check(options: SweepOptions, hosts: list[str]) -> bool:
    """A local --data-root that is this machine's own disk, on a cluster with other machines: each trial checks
    that its node holds the same data (its fingerprint) before using it, and fails in one line otherwise."""
    remote = other_hosts(hosts)
    if not remote or store.is_uri(options.data_root) or filesystem_type(Path(options.data_root)) in NETWORK_FILESYSTEMS:
        return False
    print(f"note: --data-root {options.data_root} is on this machine's own disk and trials also run on "
          f"{', '.join(remote[:3])}: each trial checks that its node holds the same data")
    return True


# Tune reuses a finished trial's process for the next trial with the same resource request (its imports, CUDA
# context and Ray worker stay warm). A process that imported TensorFlow must never run a torch trial (torch after
# TensorFlow in one process segfaults), so each framework asks with its own placement strategy: for a group of one
# bundle PACK and STRICT_PACK place it identically, but Tune keys its process cache on the request.
FRAMEWORK_STRATEGY = {"torch": "PACK", "tensorflow": "STRICT_PACK"}


def trial_resources(config: dict) -> Any:
    from ray.tune import PlacementGroupFactory

    spec = TrialSpec.from_config(config["trial"])
    bundle = {"CPU": spec.cpus} | ({"GPU": spec.gpus} if spec.gpus else {})
    return PlacementGroupFactory([bundle], strategy=FRAMEWORK_STRATEGY[spec.framework])


def run_tune(options: SweepOptions, trials: list[TrialSpec], stop: SignalStop) -> None:
    from ray import tune

    from sweeps.progress import SweepProgress, quiet_refusals
    from sweeps.scheduling import PerJobASHA
    from trainables.trial import run_trial

    tuner = tune.Tuner(
        tune.with_resources(run_trial, trial_resources),
        param_space={"trial": tune.grid_search([t.to_config() for t in trials])},
        tune_config=tune.TuneConfig(scheduler=PerJobASHA(early_stopping(options)), reuse_actors=True,
                                    trial_name_creator=lambda t: t.config["trial"]["trial_id"],
                                    trial_dirname_creator=lambda t: t.config["trial"]["trial_id"]),
        run_config=tune.RunConfig(
            name="tune", storage_path=options.sweep_dir if store.is_uri(options.sweep_dir)
            else str(Path(options.sweep_dir).resolve()), verbose=0,
            callbacks=[SweepProgress(len(trials), str(options.sweep_dir), stop.refuse)], stop=stop.stopper(),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C goes to SignalStop, like SIGTERM
    stop.tune_running = True
    try:
        with quiet_refusals(stop.refuse):  # Ray's logs of a refused write become the sweep's stop, not tracebacks
            tuner.fit()
    except Exception as exc:  # Tune's own state writes on a full disk end in a TuneError
        refusal = store.write_refusal(exc) or store.refuses_writes(options.sweep_dir)
        if refusal is None:
            raise
        stop.refuse(refusal)
    finally:
        stop.tune_running = False
    stop.raise_if_stopped()


@dataclass
class Summary:
    jobs: int
    jobs_done: int
    failed: dict[str, str]  # job key -> first error
    statuses: dict[str, int]
    wall_s: float
    sweep_dir: str

    def render(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        lines = [f"sweep finished in {self.wall_s:.0f}s: {self.jobs_done}/{self.jobs} jobs done, "
                 f"{len(self.failed)} failed; trials: {counts or 'none'}"]
        lines += [f"  failed {key}: {error}" for key, error in sorted(self.failed.items())]
        lines.append(f"results: {self.sweep_dir}  (tables: python -m analysis {self.sweep_dir})")
        return "\n".join(lines)


def summarize(options: SweepOptions, trials: list[TrialSpec], t0: float) -> Summary:
    rows = ledger.read_rows(options.sweep_dir, [t.trial_id for t in trials], sweep_schema(trials))
    statuses: dict[str, int] = {}
    by_job: dict[str, list[dict]] = {}
    for spec in trials:
        row = rows[spec.trial_id] or {"status": "missing", "error": "no row written"}
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        by_job.setdefault(spec.job.key, []).append(row)
    done = [k for k, rs in by_job.items() if any(r["status"] in FINISHED for r in rs)]
    failed = {k: next((r["error"] for r in rs if r.get("error")), "no finished trial")
              for k, rs in by_job.items() if k not in done}
    return Summary(len(by_job), len(done), failed, statuses, time.time() - t0, options.sweep_dir)


def run_sweep(options: SweepOptions) -> Summary:
    """Check everything, then run every unfinished trial; returns the summary (raises ConfigError early)."""
    t0 = time.time()
    with SignalStop() as stop:
        facts = preflight(options)
        with DriverLock(options.storage, options.sweep_id):  # one driver per sweep, until it ends
            if options.fresh:
                clear_sweep(options)
            if options.resume:
                check_same_plan(store.join(options.sweep_dir, "sweep.json"), plan_fields(options))
            return launch(options, facts, stop, t0)


def preflight(options: SweepOptions) -> dict[str, dict]:
    """Every check that needs no Ray: names, data (its facts returned), weights, the results location."""
    check_jobs(options.jobs, options.datasets)
    if options.resume:
        check_resumable(options)
    facts = check_data(options.jobs, options.data_root, options.demo, options.datasets, options.test_fraction,
                       options.seed, earlier_split(options), options.budget.val_fraction)
    check_weights(options)
    check_storage(options.storage)
    return facts


def launch(options: SweepOptions, facts: dict[str, dict], stop: SignalStop, t0: float) -> Summary:
    """Start or join Ray, plan the trials, write the plan and run what is unfinished."""
    try:
        resources = connect(options)
        stop.install()  # again: starting Ray put its own SIGTERM handler in place
        trials = plan_trials(options, facts, resources)
        todo = prepare_sweep_dir(options, trials, plan_estimate(options, resources), describe_data(facts))
        write_splits(options, facts)
        print(f"sweep {options.sweep_id}: {len(options.jobs)} jobs, {len(trials)} trials "
              f"({len(trials) - len(todo)} already finished), budget {options.budget.name}, weights {options.weights}, "
              f"{resources['cpus']} CPU + {resources['gpus']:g} GPU per trial", flush=True)
        if todo:
            run_tune(options, todo, stop)
        return summarize(options, trials, t0)
    finally:
        import ray

        ray.shutdown()
