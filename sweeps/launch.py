"""Stage 4 of a sweep: Ray started on this machine or joined (a cluster), the trials' placement decided from what
the nodes have (a request no node can satisfy is refused instead of pending forever), and one Ray Tune run over
the unfinished trials — one ASHA per job (sweeps.scheduling), our progress lines and row bookkeeping
(sweeps.tracking.progress), stopped cleanly by a signal or a storage that refuses writes (sweeps.interrupt)."""
from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core import store
from core.plan import Asha, TrialSpec
from core.registry import METHODS
from sweeps.cluster.shape import addable_nodes, autoscaling_config, largest_cluster_slots, slots
from sweeps.interrupt import SignalStop
from sweeps.options import ConfigError, SweepOptions
from sweeps.storage import NETWORK_FILESYSTEMS, filesystem_type, other_hosts, storage_problem
from trainables.faults import FAULT_ENV, MAX_NODE_LOSSES
from trainables.trial import LOGICAL_GPUS_ENV


# what trials need to reach an object store when the driver has it in its environment (instance roles need none)
STORE_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")


@dataclass(frozen=True)
class Placement:
    """What each trial gets (CPUs, a GPU share) and whether it checks that its node holds the driver's data."""

    cpus: int
    gpus: float
    verify_data: bool = False


@contextlib.contextmanager
def ray_session(options: SweepOptions, stop: SignalStop | None = None) -> Iterator[Placement]:
    """Ray for the length of the block (started here, or the cluster joined) and the trials' placement. With
    `stop`, its signal handlers are put back once Ray has started and again once it has shut down: Ray's core
    worker installs its own SIGTERM handler when it starts, and shutting down restores the default action — a
    signal during what follows (the tracker's flush, the summary) must still stop the sweep in one line."""
    import ray

    try:
        placement = connect(options)
        if stop is not None:
            stop.install()
        yield placement
    finally:
        ray.shutdown()
        if stop is not None:
            stop.install()


def connect(options: SweepOptions) -> Placement:
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
    addable = addable_nodes(autoscaling_config()) if options.address is not None else []
    nodes = [n["Resources"] for n in alive] + [t.resources for t in addable]
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
    return Placement(cpus, gpus, data_needs_check(options, hosts))


@contextlib.contextmanager
def environ(name: str, value: str | None) -> Iterator[None]:
    """`name` set to `value` in this process for the block (None: left as it is), then as it was."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def pending_trials(trials: list[TrialSpec]) -> int:
    """How many trials Tune keeps waiting for a place on a cluster — what its autoscaler sees as demand: enough to
    fill the largest cluster it may build (or the nodes up now), never more than the plan. Tune's own default is
    200 for a plain search but 1 for any other searcher (tune_controller._get_max_pending_trials), which would bring
    workers up one trial at a time."""
    import ray

    cpus, gpus = trials[0].cpus, trials[0].gpus
    now = sum(slots(n["Resources"], cpus, gpus) for n in ray.nodes() if n.get("Alive"))
    return max(1, min(len(trials), max(now, largest_cluster_slots(autoscaling_config(), cpus, gpus))))


def max_pending(options: SweepOptions, trials: list[TrialSpec], searched: bool) -> str | None:
    """TUNE_MAX_PENDING_TRIALS_PG for this run: on a cluster, pending_trials(); on one machine, Tune's own default
    (None) for a plain search, and the same (up to 200) for a searcher, which Tune would otherwise hold to one."""
    if options.address is not None:
        return str(pending_trials(trials))
    return str(min(200, len(trials))) if searched else None


@contextlib.contextmanager
def upfront_request(options: SweepOptions, trials: list[TrialSpec]) -> Iterator[int]:
    """Ask an autoscaling cluster up front for the plan's first wave — as many trial bundles as its largest
    cluster holds, or every trial of a smaller plan — so that workers start before Tune has placed a trial, and
    release the request (an empty one) when the block ends: finished, stopped by a signal, or failed. Yields the
    bundles asked for (0: a local sweep, a fixed cluster, or --no-upfront-request)."""
    config = autoscaling_config() if options.address is not None and options.upfront_request else {}
    wave = min(len(trials), largest_cluster_slots(config, trials[0].cpus, trials[0].gpus)) if trials else 0
    if not wave:
        yield 0
        return
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=[trial_bundle(trials[0])] * wave)
    try:
        yield wave
    finally:
        request_resources(bundles=[])  # a request stays until replaced: the cluster may scale down again


def data_needs_check(options: SweepOptions, hosts: list[str]) -> bool:
    """A local --data-root that is this machine's own disk, on a cluster with other machines: each trial checks
    that its node holds the same data (its fingerprint) before using it, and fails in one line otherwise."""
    remote = other_hosts(hosts)
    if not remote or store.is_uri(options.data_root) or filesystem_type(Path(options.data_root)) in NETWORK_FILESYSTEMS:
        return False
    print(f"note: --data-root {options.data_root} is on this machine's own disk and trials also run on "
          f"{', '.join(remote[:3])}: each trial checks that its node holds the same data")
    return True


def early_stopping(options: SweepOptions) -> dict[str, tuple[int, Asha]]:
    """Job key -> (max epochs, ASHA settings) for every job whose method reports epochs (sweeps.scheduling)."""
    methods = {job: options.budget.method(job.method) for job in options.jobs
               if METHODS.get(job.method).epoch_based}
    return {job.key: (mb.max_epochs or 1, mb.asha) for job, mb in methods.items()}


# Tune reuses a finished trial's process for the next trial with the same resource request (its imports, CUDA
# context and Ray worker stay warm). A process that imported TensorFlow must never run a torch trial (torch after
# TensorFlow in one process segfaults), so each framework asks with its own placement strategy: for a group of one
# bundle PACK and STRICT_PACK place it identically, but Tune keys its process cache on the request.
FRAMEWORK_STRATEGY = {"torch": "PACK", "tensorflow": "STRICT_PACK"}


def trial_resources(config: dict) -> Any:
    from ray.tune import PlacementGroupFactory

    spec = TrialSpec.from_config(config["trial"])
    return PlacementGroupFactory([trial_bundle(spec)], strategy=FRAMEWORK_STRATEGY[spec.framework])


def trial_bundle(spec: TrialSpec) -> dict[str, float]:
    """What one trial reserves on a node."""
    return {"CPU": spec.cpus} | ({"GPU": spec.gpus} if spec.gpus else {})


@contextlib.contextmanager
def tracking(options: SweepOptions, stop: SignalStop) -> Iterator[Any]:
    """--mlflow for the block (sweeps.tracking.mlflow_log.Tracking; None without it): its server probed before any trial
    (a refusal is a ConfigError), its sender given a bounded grace period at the end, a shorter one after a
    signal."""
    if not options.mlflow:
        yield None
        return
    from sweeps.tracking.mlflow_log import Tracking, TrackingUnavailable

    tracker = Tracking(options.mlflow, str(options.sweep_dir), options.sweep_id)
    try:
        tracker.start()
    except TrackingUnavailable as exc:
        raise ConfigError(str(exc)) from None
    try:
        yield tracker
    finally:
        tracker.close(stopped=stop.received is not None)


def sweep_searcher(options: SweepOptions, trials: list[TrialSpec], run: str) -> Any:
    """A sweep with tpe jobs hands out its trials through sweeps.search.SweepSearcher (the others: a grid over
    the planned trials); says what each tpe job's searcher was told."""
    if all(t.search == "random" for t in trials):
        return None
    from sweeps.search import SweepSearcher, searched_trials

    trials, jobs = searched_trials(options, trials)
    for key, job in jobs.items():
        print(f"search: {key}: tpe, told {job.told} finished trial(s)", flush=True)
    return SweepSearcher(trials, run, jobs)


def run_tune(options: SweepOptions, trials: list[TrialSpec], stop: SignalStop, tracker: Any = None) -> None:
    from ray import tune

    from sweeps.cluster.watch import ClusterWatch
    from sweeps.interrupt import quiet_refusals
    from sweeps.tracking.progress import SweepProgress
    from sweeps.sweep_folder import sweep_schema
    from sweeps.scheduling import PerJobASHA
    from sweeps.tracking.tensorboard import TrialBoard
    from trainables.trial import run_trial

    schema = sweep_schema(trials)
    callbacks = [SweepProgress(len(trials), str(options.sweep_dir), schema, stop.refuse),
                 ClusterWatch(options.sweep_dir, trials[0].cpus, trials[0].gpus, len(trials)), TrialBoard()]
    if tracker is not None:  # after SweepProgress, which writes a scheduler-stopped trial's final row
        callbacks.append(tracker.callback(schema))
    # "run": this driver run, which trainables.faults tells apart from earlier ones (a restart is no failure)
    run = uuid.uuid4().hex[:12]
    searcher = sweep_searcher(options, trials, run)
    tuner = tune.Tuner(
        tune.with_resources(run_trial, trial_resources),
        param_space={} if searcher else {"trial": tune.grid_search([t.to_config() for t in trials]), "run": run},
        tune_config=tune.TuneConfig(scheduler=PerJobASHA(early_stopping(options)), reuse_actors=True,
                                    search_alg=searcher, num_samples=len(trials) if searcher else 1,
                                    trial_name_creator=lambda t: t.config["trial"]["trial_id"],
                                    trial_dirname_creator=lambda t: t.config["trial"]["trial_id"]),
        run_config=tune.RunConfig(
            name="tune", storage_path=options.sweep_dir if store.is_uri(options.sweep_dir)
            else str(Path(options.sweep_dir).resolve()), verbose=0,
            callbacks=callbacks,
            stop=stop.stopper(),
            # Tune counts a lost node as a failure too; the trials count their own (trainables.faults)
            failure_config=tune.FailureConfig(max_failures=options.max_failures + MAX_NODE_LOSSES),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C goes to SignalStop, like SIGTERM
    pending = max_pending(options, trials, searcher is not None)
    stop.tune_running = True
    try:
        # Ray's logs of a refused write become the sweep's stop, not tracebacks
        with quiet_refusals(stop.refuse, options.sweep_dir), upfront_request(options, trials), \
                environ("TUNE_MAX_PENDING_TRIALS_PG", pending):
            tuner.fit()
    except Exception as exc:  # Tune's own state writes on a full disk end in a TuneError
        refusal = store.write_refusal(exc, options.sweep_dir) or store.refuses_writes(options.sweep_dir)
        if refusal is None:
            raise
        stop.refuse(refusal)
    finally:
        stop.tune_running = False
    stop.raise_if_stopped()
