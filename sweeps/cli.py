"""Command-line options shared by the sweep entry points, and turning them into SweepOptions."""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from core.argtypes import number
from core.results import ResultsError
from sweeps.budgets import BudgetError, list_budgets, load_budget
from core.course import GroupError
from sweeps.interrupt import REFUSED_EXIT, RESUME_HINT, Interrupted, refused_line
from sweeps.lock import LockHeld
from trainables.common import DataError
from core.prices import PRICE_GPU_HOUR_SPOT
from core.store import write_refusal
from core.registry import METHODS, UnknownNameError

if TYPE_CHECKING:
    from sweeps.datasets import Catalog
    from sweeps.options import SweepOptions

USER_ERRORS = (BudgetError, GroupError, UnknownNameError, DataError, ResultsError, LockHeld)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help as written (examples keep their lines), each option's default said: after its text, unless the text
    already says it (a default that depends on something, such as an environment variable or the data)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or any(action.default is v for v in (None, False, True)) \
                or action.default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


# the option groups of a sweep command's --help, in the order a user decides them
GROUPS = {"run": "what to run", "data": "data", "search": "search and budget", "where": "where it runs",
          "results": "results", "cost": "cost (with --dry-run)"}


def option_groups(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """The parser's option groups (GROUPS), empty: the command adds its selection to "run", then
    add_common_options the rest."""
    return {key: parser.add_argument_group(title) for key, title in GROUPS.items()}


def add_common_options(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """Every sweep command's options but its selection, each in its group."""
    run, data, search, where_, results, cost = (groups[k] for k in GROUPS)
    run.add_argument("--frameworks", default=None,
                     help="frameworks of the methods written in several, comma-separated: tensorflow, torch "
                          "(default: each method's own: TensorFlow for recurrent, PyTorch for scratch_cnn)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan (jobs, trials, epochs, resources) and its estimated hours and cost; "
                          "starts nothing")
    data.add_argument("--data-root", type=data_location, default=None,
                      help="folder (or s3://bucket/prefix) with one subfolder per dataset; default: generated "
                           "demo data. On a cluster, a bucket is copied once to each node's cache")
    data.add_argument("--datasets-file", type=Path, default=None, metavar="YAML",
                      help="your own datasets (name, path, text_column, label_column) and where course datasets "
                           "live (course: name -> path); default: none")
    data.add_argument("--test-fraction", type=test_fraction, default=0.2,
                      help="held-out test share of a dataset whose files have no test split (stratified, "
                           "seeded by --seed, recorded in the sweep's splits/)")
    data.add_argument("--weights", choices=("imagenet", "random"), default=None,
                      help="backbone weights (default: imagenet on real data, random on demo data)")
    search.add_argument("--budget", default=None,
                        help=f"named budget ({', '.join(list_budgets())}) or a YAML path; default smoke on demo "
                             f"data, and no default with --data-root (smoke caps real data to a few hundred items)")
    search.add_argument("--seed", type=int, default=0, help="sweep seed: configurations, splits, initialisation")
    search.add_argument("--max-failures", type=number(int, low=0), default=1,
                        help="retries of a failing trial (from checkpoint), >= 0")
    place = where_.add_mutually_exclusive_group()
    place.add_argument("--local", action="store_true", help="run Ray on this machine (its GPU if any, else CPU)")
    place.add_argument("--address", default=None,
                       help="Ray cluster address (default: $RAY_ADDRESS, else 'auto'; ignored with --local)")
    where_.add_argument("--cpus-per-trial", type=number(int, low=1), default=None,
                        help="a whole number >= 1 (default: the budget's resources.cpus_per_trial)")
    where_.add_argument("--gpus-per-trial", type=number(float, low=0.0), default=None,
                        help="GPUs per trial, fractions allowed (0.25: four trials share one; default: the "
                             "budget's resources.gpus_per_trial where a node has a GPU, else 0)")
    where_.add_argument("--no-upfront-request", dest="upfront_request", action="store_false",
                        help="on an autoscaling cluster, let workers follow Tune's waiting trials alone instead of "
                             "asking up front for as many as the plan's first wave fills (request_resources)")
    where_.add_argument("--no-cache", dest="cache", action="store_false",
                        help="decode images and extract features in every trial instead of once per node (a node "
                             "whose disk cannot hold <storage>/cache; many times slower for features_svm)")
    results.add_argument("--storage", type=storage_location, default=os.environ.get("GROUPSWEEP_STORAGE", "runs"),
                         help="where sweeps are stored: a folder or s3://bucket/prefix (default $GROUPSWEEP_STORAGE, "
                              "else runs/); on a cluster, a bucket or a folder every node mounts")
    results.add_argument("--shared-storage", action="store_true",
                         help="--storage is mounted by every node (checked for NFS and the like otherwise)")
    results.add_argument("--sweep-id", type=sweep_id_name, default=None,
                         help="results subfolder: letters, digits, - _ . (default: <budget>-<data>[-<selection>])")
    state = results.add_mutually_exclusive_group()
    state.add_argument("--resume", action="store_true", help="keep finished trials, run the rest")
    state.add_argument("--fresh", action="store_true", help="delete this sweep's earlier results first")
    results.add_argument("--mlflow", metavar="URI", type=mlflow_uri, default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="log every trial to this MLflow tracking server (default $MLFLOW_TRACKING_URI; needs "
                              "pip install -e '.[mlflow]'): one experiment per sweep, one run per trial")
    cost.add_argument("--spot-price-gpu-hour", type=number(float, low=0.0, above=True), default=None,
                      metavar="USD", help="the spot price of a GPU-hour on cluster.yaml's gpu_spot workers "
                                          f"(default {PRICE_GPU_HOUR_SPOT}: an assumption, core/prices.py)")
    cost.add_argument("--estimate-from", default=None, metavar="RUN",
                      help="estimate trial hours from a previous sweep's rows (<storage>/<sweep-id>; default: the "
                           "cost model at the device's measured rates, sweeps/costs, else each method's defaults)")


def frameworks(args: argparse.Namespace) -> tuple[str, ...]:
    """--frameworks as names every method filters (MethodSpec.frameworks_for); () = each method's default."""
    names = tuple(n.strip() for n in (args.frameworks or "").split(",") if n.strip())
    known = sorted({f for method in METHODS for f in method.trainables})
    for name in names:
        if name not in known:
            raise UnknownNameError(f"--frameworks: unknown framework {name!r}; valid: {', '.join(known)}")
    return names


def test_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction between 0 and 1, e.g. 0.2")
    return value


def storage_location(text: str) -> Path | str:
    """--storage: a folder (local, or a shared mount on a cluster) or an object-store URI such as s3://bucket/runs."""
    from core import store

    try:
        return store.check_location(text) if store.is_uri(text) else Path(text).resolve()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def mlflow_uri(text: str) -> str:
    """--mlflow: a tracking URI (http://host:5000, file:/path, sqlite:///path.db ...); MLflow's client installed."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise argparse.ArgumentTypeError(f"{text}: MLflow's client is not installed (pip install -e '.[mlflow]')")
    return text


def data_location(text: str) -> Path | str:
    """--data-root: a local folder, or an object-store URI whose datasets each node copies (trainables.data.sync)."""
    from core import store

    try:
        return store.check_location(text) if store.is_uri(text) else Path(text).resolve()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sweep_id_name(text: str) -> str:
    """--sweep-id: one safe folder name under --storage (sweeps.storage.check_sweep_id)."""
    from sweeps.storage import check_sweep_id

    try:
        return check_sweep_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def is_demo(args: argparse.Namespace, catalog: "Catalog | None" = None) -> bool:
    """Generated demo data: no --data-root, and no dataset given by path."""
    return args.data_root is None and (catalog is None or catalog.empty)


def budget_name(args: argparse.Namespace, catalog: "Catalog | None" = None) -> str:
    """--budget, or smoke for demo data; real data must name its budget (smoke would silently cap it)."""
    if args.budget:
        return args.budget
    if is_demo(args, catalog):
        return "smoke"
    where = f"--data-root {args.data_root}" if args.data_root is not None else "datasets given by path"
    raise BudgetError(f"{where} without --budget: the default smoke budget caps real data to a "
                      f"few hundred items per dataset; pass --budget full (the course's reference results), "
                      f"text_cpu (Part 2 on CPUs) or --budget smoke to accept the caps")


def sweep_id_for(args: argparse.Namespace, budget: str, tag: str, catalog: "Catalog | None" = None) -> str:
    """--sweep-id, or <budget>-<data>[-<tag>] (data: 'demo', the data root's last part, or the names of the datasets
    given by path), with anything a sweep id cannot hold (a data folder named 'my data') as '_'. Different
    selections never collide."""
    if args.sweep_id:
        return args.sweep_id
    if is_demo(args, catalog):
        data = "demo"
    elif args.data_root is not None:
        data = str(args.data_root).rstrip("/").rsplit("/", 1)[-1]
    else:
        data = "_".join(sorted(catalog.user))[:40] or "data"
    raw = f"{budget}-{data}" + (f"-{tag}" if tag else "")
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:100]


def build_options(args: argparse.Namespace, jobs, tag: str = "", catalog: "Catalog | None" = None) -> "SweepOptions":
    from sweeps.datasets import Catalog
    from sweeps.options import SweepOptions
    from sweeps.preflight import check_storage
    from core import store
    from trainables.demo import generate_demo

    catalog = catalog or Catalog()
    budget = load_budget(budget_name(args, catalog))
    demo = is_demo(args, catalog)
    check_storage(args.storage)  # before the demo data is generated under it
    data_root = generate_demo(store.local_root(args.storage) / "demo-data", seed=0) if demo else args.data_root
    if data_root is not None and not store.is_uri(data_root) and not data_root.is_dir():
        raise DataError(f"--data-root {data_root}: not a folder")
    weights = args.weights or ("random" if demo else "imagenet")
    for name, source in sorted(catalog.user.items()):
        held = f", test split held out here (--test-fraction {args.test_fraction:g})" \
            if source.layout.split_here else ""
        print(f"dataset {name}: {source.kind} from {source.location}{held}")
    if demo:
        print(f"demo data ({data_root}): generated, tiny, {weights} weights; the numbers show the pipeline works, "
              f"nothing more. Pass --data-root for real data.")
    address = None if args.local else (args.address or os.environ.get("RAY_ADDRESS") or "auto")
    return SweepOptions(jobs=jobs, budget=budget, data_root=data_root, demo=demo, weights=weights,
                        storage=args.storage, sweep_id=sweep_id_for(args, budget.name, tag, catalog), seed=args.seed,
                        resume=args.resume, fresh=args.fresh, address=address, cpus_per_trial=args.cpus_per_trial,
                        gpus_per_trial=args.gpus_per_trial, max_failures=args.max_failures,
                        shared_storage=args.shared_storage, estimate_from=args.estimate_from, datasets=catalog,
                        test_fraction=args.test_fraction, cache=args.cache,
                        upfront_request=args.upfront_request, mlflow=args.mlflow or None,
                        command=resume_command(sys.argv))


RESUME_COMMAND_ENV = "GROUPSWEEP_RESUME_COMMAND"  # set by a Slurm job: `sbatch <its script>` continues its sweep


def resume_command(argv: list[str]) -> str:
    """The command line that continues this sweep: $GROUPSWEEP_RESUME_COMMAND where the driver runs inside something
    that is itself resubmitted (a Slurm job), else this one with --resume in place of --fresh."""
    import shlex

    if os.environ.get(RESUME_COMMAND_ENV):
        return os.environ[RESUME_COMMAND_ENV]

    script = argv[0]
    if script.endswith("__main__.py"):  # python -m groupsweep ...
        program = f"python -m {os.path.basename(os.path.dirname(script))}"
    elif script.endswith(".py"):
        program = f"python {os.path.relpath(script)}"
    else:  # a console script: groupsweep
        program = os.path.basename(script)
    args = [a for a in argv[1:] if a not in ("--fresh", "--resume")]
    return " ".join([program, *map(shlex.quote, args), "--resume"])


def dry_run(args: argparse.Namespace, jobs, tag: str = "", catalog: "Catalog | None" = None) -> int:
    """--dry-run: the plan and its price, without Ray, data or storage."""
    from sweeps.cost import estimate
    from sweeps.cluster.shape import local_slots, shipped_cluster, slots, this_machine

    budget = load_budget(budget_name(args, catalog))
    sweep_id = sweep_id_for(args, budget.name, tag, catalog)
    cpus = float(args.cpus_per_trial or budget.resources.cpus_per_trial)
    gpus = float(args.gpus_per_trial if args.gpus_per_trial is not None else budget.resources.gpus_per_trial)
    machine = this_machine() if args.local else None
    if machine is not None:  # what the local run will do (sweeps.launch.connect): no GPU share without a GPU
        if args.gpus_per_trial is None and not machine["GPU"]:
            gpus = 0.0
        cpus = min(cpus, machine["CPU"])
    at_once = slots(machine, cpus, gpus) if machine is not None else None
    plans = estimate.plan_jobs(list(jobs), budget, args.estimate_from, gpus, demo=is_demo(args, catalog),
                               seed=args.seed, slots=at_once)
    wall = estimate.local_wall(plans, estimate.COST_DIR, at_once) if machine is not None and not gpus else None
    summary = estimate.estimate(plans, cpus, gpus, spot_prices(args.spot_price_gpu_hour), run=args.estimate_from,
                                wall_s=wall)
    workers = local_slots(machine, cpus, gpus, summary["trials"], summary["trial_hours_expected"], wall) \
        if machine is not None else \
        estimate.busy_workers(summary["trials"], cpus, gpus, shipped_cluster())
    print(estimate.render(sweep_id, budget, plans, summary, workers))
    return 0


def spot_prices(given: float | None) -> "Prices":
    """The prices a dry run states: the user's spot price, labelled as theirs, or the assumed one, labelled so."""
    from core.prices import Prices

    if given is None:
        return Prices()
    return Prices(gpu_hour_spot=given, spot_source="yours: --spot-price-gpu-hour")


def run_jobs(args: argparse.Namespace, jobs, tag: str = "", catalog: "Catalog | None" = None) -> int:
    """Run a sweep over `jobs` with the parsed options; print the summary; exit code 1 if any job failed."""
    from sweeps.runner import run_sweep

    if args.dry_run:
        return dry_run(args, jobs, tag, catalog)
    summary = run_sweep(build_options(args, jobs, tag, catalog))
    print(summary.render())
    return 0 if not summary.failed else 1


def run_command(main: Callable[[], int]) -> None:
    """A sweep script's entry: main_guard, then, once this process has run Ray, leave without Python's finalization.
    Ray's core-worker threads can still reach for the GIL while the interpreter tears down and abort the process: a
    C++ stack trace and a failed exit after "sweep finished" (seen in CI, a loaded machine). By then every file the
    driver writes is written and Ray is shut down (launch.ray_session); only the output streams are left to flush."""
    try:
        main_guard(main)
        code = 0
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "ray" not in sys.modules:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main_guard(main: Callable[[], int]) -> None:
    """Run `main`; a user error prints one line (`error: ...`) and exits 2 instead of a traceback."""
    from sweeps.options import ConfigError

    try:
        sys.exit(main())
    except (ConfigError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # the storage refused a write (full, read-only, ...), the driver's or a trial's
        refusal = write_refusal(exc)
        if refusal is None:
            raise
        print(f"error: {refused_line(refusal)}", file=sys.stderr)
        sys.exit(REFUSED_EXIT)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (sweeps.interrupt): the trials already stopped
        print(RESUME_HINT, file=sys.stderr)
        sys.exit(exc.exit_code if isinstance(exc, Interrupted) else 130)
