"""Where one trial's time goes, per method family, and what Tune adds: the same trials through the real runner
(Ray Tune, one trial at a time) and in a plain Python loop without Tune (one process per framework).

    python bench/trial_overhead.py [--budget smoke] [--max-epochs N] [--families features_svm,finetune,...]

Each family is one trial of one demo job (generated demo data, random weights). Per trial it prints the phases the
trial records (import = the method's libraries, extract = data, fit = training, eval = scoring val / test,
write = rows, history, predictions and checkpoints, other = model build and the rest of wall_s) and, for Tune, the
time outside the trial's own wall (Ray scheduling, worker process start, Tune's bookkeeping): the sweep's Tune wall
minus the trials' walls, shared evenly. The plain loop runs the same specs in-process, imports paid once.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import budget_from

FAMILIES = {  # family -> (part, dataset, model, method, framework)
    "features_svm": (1, "animals", "resnet18", "features_svm", ""),
    "finetune": (1, "animals", "resnet18", "finetune", ""),
    "finetune_aug": (1, "animals", "resnet18", "finetune_aug", ""),
    "scratch_cnn": (1, "cifar100", "small_cnn", "scratch_cnn", ""),
    "recurrent_tf": (2, "sentiment", "lstm", "recurrent", ""),
    "recurrent_torch": (2, "sentiment", "lstm", "recurrent", "torch"),
}
PHASES = ("import", "extract", "fit", "eval", "write")


def one_sample(budget, max_epochs: int | None):
    methods = {name: dataclasses.replace(mb, num_samples=1, max_epochs=max_epochs or mb.max_epochs)
               for name, mb in budget.methods.items()}
    return dataclasses.replace(budget, methods=methods)


def plan(families: list[str], args, storage: Path, sweep_id: str):
    """The trials of one sweep over the families' jobs, planned by the real runner's stages (no Ray needed)."""
    from core.course import Job
    from sweeps.runner import Placement, SweepOptions, plan_sweep
    from sweeps.sweep_folder import write_splits
    from trainables.demo import generate_demo

    jobs = {Job(*FAMILIES[f]): [] for f in families}
    budget = one_sample(budget_from(args.budget), args.max_epochs)
    options = SweepOptions(jobs=jobs, budget=budget, data_root=generate_demo(storage / "demo-data"), demo=True,
                           weights="random", storage=storage, sweep_id=sweep_id, cpus_per_trial=2)
    facts, trials = plan_sweep(options, Placement(cpus=args.cpus, gpus=0.0))
    write_splits(options, facts)  # what a trial reads (the Tune run's prepare_sweep_dir writes them again)
    return options, trials, facts


def through_tune(families: list[str], args, storage: Path) -> tuple[float, list]:
    from sweeps.interrupt import SignalStop
    from sweeps.launch import ray_session, run_tune
    from sweeps.sweep_folder import prepare_sweep_dir

    options, trials, facts = plan(families, args, storage, "tune")
    with ray_session(options):  # starts Ray on this machine, as a local sweep does
        todo = prepare_sweep_dir(options, trials, facts=facts)
        t0 = time.perf_counter()
        run_tune(options, todo, SignalStop())
        return time.perf_counter() - t0, trials


def plain_loop(specs: list[dict]) -> float:
    """--one: run specs in this process, no Tune session, one after another; prints the loop's wall."""
    from trainables.trial import PLAIN, run_trial

    t0 = time.perf_counter()
    for spec in specs:
        run_trial({"trial": spec}, session=PLAIN)
    return time.perf_counter() - t0


def rows(sweep_dir: str, trial_ids: list[str]) -> dict[str, dict]:
    from core import ledger

    return {t: ledger.read_row(sweep_dir, t) or {} for t in trial_ids}


def phases(row: dict) -> dict[str, float]:
    out = {p: float(row.get(f"{p}_s") or 0.0) for p in PHASES}
    out["other"] = float(row.get("wall_s") or 0.0) - sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every method's epochs")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--cpus", type=int, default=2, help="CPUs per trial (all of them: one trial at a time)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        specs = json.loads(args.one.read_text())
        print(json.dumps({"wall": plain_loop(specs)}))
        return
    families = args.families.split(",")
    storage = Path(tempfile.mkdtemp(prefix="overhead_"))
    tune_wall, trials = through_tune(families, args, storage)
    tune_rows = rows(str(storage / "tune"), [t.trial_id for t in trials])

    # the plain loop: the same specs, results and caches elsewhere (it builds its own decoded images and features,
    # as the Tune run did), torch families in one process and TensorFlow's in another
    plain_dir = storage / "plain"
    specs = [t.replace(results_dir=str(plain_dir), sweep_id="plain", cache_dir=str(storage / "plain-cache")).to_config()
             for t in trials]
    plain_wall = 0.0
    for framework in ("torch", "tensorflow"):
        mine = [s for s in specs if s["framework"] == framework]
        if not mine:
            continue
        (storage / f"{framework}.json").write_text(json.dumps(mine))
        done = subprocess.run([sys.executable, __file__, "--one", str(storage / f"{framework}.json")],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"error: plain loop ({framework}): {done.stderr.strip().splitlines()[-1]}")
        plain_wall += json.loads(done.stdout.strip().splitlines()[-1])["wall"]
    plain_rows = rows(str(plain_dir), [t.trial_id for t in trials])

    inside = sum(float(r.get("wall_s") or 0.0) for r in tune_rows.values())
    outside = (tune_wall - inside) / len(trials)  # Ray scheduling, process start, Tune bookkeeping per trial
    print(f"budget {args.budget}{f', {args.max_epochs} epochs' if args.max_epochs else ''}, one trial per family on "
          f"demo data, {args.cpus} CPUs per trial (one at a time); seconds")
    header = f"{'family':16s} {'run':5s} {'outside':>7s} " + " ".join(f"{p:>7s}" for p in (*PHASES, "other")) + \
        f" {'total':>7s}"
    print(header)
    for family, spec in zip(families, trials):
        for run, row, extra in (("tune", tune_rows[spec.trial_id], outside),
                                ("plain", plain_rows[spec.trial_id], 0.0)):
            split = phases(row)
            total = extra + float(row.get("wall_s") or 0.0)
            print(f"{family:16s} {run:5s} {extra:7.2f} " + " ".join(f"{split[p]:7.2f}" for p in (*PHASES, "other"))
                  + f" {total:7.2f}   {row.get('status')}")
    print(f"Tune: {tune_wall:.1f} s for {len(trials)} trials ({outside:.2f} s per trial outside the trials' own "
          f"wall); plain loop: {plain_wall:.1f} s; ratio Tune / plain {tune_wall / plain_wall:.2f}x")


if __name__ == "__main__":
    main()
