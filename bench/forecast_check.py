"""The plan's forecast against what the sweep then took, on this machine: per method family, the predicted trial-seconds
against the rows' summed wall_s, and the predicted wall time against the command's.

    python bench/forecast_check.py [--cases demo,caltech,questions] [--repeats 3]

Cases (each run with `--local --fresh` into a temporary folder of its own, so with a cold cache of decoded images and
features, one after another on an otherwise idle machine):

    demo       groupsweep run --local: every group on generated demo data, the smoke budget (median of --repeats)
    caltech    the real caltech101 files, MobileNetV2 with ImageNet weights, features_svm + finetune at 96 px
               (bench/forecast/caltech_cpu.yaml)
    questions  the real questions files, LSTM and GRU (bench/forecast/questions_cpu.yaml)

The prediction is what the sweep recorded in its sweep.json before its first trial (sweeps.planning.plan_estimate:
the cost model at the measured CPU table's rates, sweeps/costs/); the case's `--dry-run` plan is printed beside it
(the same function: its figures must agree). Expected figures: ASHA's expected epochs, not the upper bound.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, offline_torch_home, shared_data

GOAL = 0.30  # within +-30 % of what the sweep took


def case(name: str) -> list[str]:
    """The command of one case (the real data looked up only when the case runs)."""
    if name == "demo":
        return ["run", "--local"]
    if name == "caltech":
        return ["matrix", "--local", "--datasets", "caltech101", "--models", "mobilenet_v2", "--methods",
                "features_svm,finetune", "--budget", "bench/forecast/caltech_cpu.yaml",
                "--data-root", str(shared_data("images"))]
    if name == "questions":
        return ["matrix", "--local", "--datasets", "questions", "--models", "lstm,gru", "--methods", "recurrent",
                "--budget", "bench/forecast/questions_cpu.yaml", "--data-root", str(shared_data("text"))]
    sys.exit(f"error: --cases: no case {name!r}; expected demo, caltech or questions")


def groupsweep(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groupsweep", *args], cwd=ROOT, capture_output=True, text=True)


def dry_run(args: list[str]) -> list[str]:
    """The plan's closing lines as a user sees them."""
    out = groupsweep([*args, "--dry-run"])
    if out.returncode:
        sys.exit(f"error: groupsweep {' '.join(args)} --dry-run failed:\n{out.stderr[-2000:]}")
    return out.stdout.splitlines()[-3:]


def run_once(args: list[str], storage: Path, sweep_id: str) -> dict:
    """One sweep, timed from the command's start to its end; its recorded forecast and its rows per family."""
    from core.results import load_manifest, load_trials

    t0 = time.perf_counter()
    out = groupsweep([*args, "--storage", str(storage), "--sweep-id", sweep_id, "--fresh"])
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"error: the {sweep_id} sweep failed:\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
    run = str(storage / sweep_id)
    estimate, rows = load_manifest(run)["estimate"], load_trials(run)
    predicted: dict[str, float] = {}
    for job in estimate["jobs"].values():
        predicted[job["method"]] = predicted.get(job["method"], 0.0) + job["expected_hours_per_trial"] * 3600 \
            * job["trials"]
    actual = rows.groupby("method")["wall_s"].sum().to_dict()
    return {"predicted": predicted, "actual": actual, "predicted_wall": estimate.get("wall_s"), "wall": wall,
            "statuses": rows["status"].value_counts().to_dict()}


def within(predicted: float, actual: float) -> str:
    return "yes" if abs(predicted - actual) <= GOAL * actual else "NO"


def report(name: str, runs: list[dict], plan: list[str]) -> list[bool]:
    """One case's lines: per family and for the wall, predicted against the median of the runs."""
    print(f"\n{name}: {len(runs)} run(s); the dry run said:")
    for line in plan:
        print(f"    {line}")
    print(f"  {'family':<14} {'predicted s':>12} {'actual s':>10} {'pred/actual':>12}  within +-{GOAL:.0%}")
    oks = []
    families = sorted(runs[0]["actual"])
    rows = [(f, runs[0]["predicted"].get(f, 0.0), statistics.median(r["actual"][f] for r in runs)) for f in families]
    rows.append(("sweep wall", runs[0]["predicted_wall"] or 0.0, statistics.median(r["wall"] for r in runs)))
    rows.append(("all trials", sum(runs[0]["predicted"].values()),
                 statistics.median(sum(r["actual"].values()) for r in runs)))
    for family, predicted, actual in rows:
        verdict = within(predicted, actual)
        oks.append(verdict == "yes")
        print(f"  {family:<14} {predicted:>12.1f} {actual:>10.1f} {predicted / actual:>12.2f}  {verdict}")
    if len(runs) > 1:
        print("  each run: " + "; ".join(f"trials {sum(r['actual'].values()):.0f} s, wall {r['wall']:.0f} s"
                                         for r in runs))
    print(f"  statuses: {runs[0]['statuses']}")
    return oks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="demo,caltech,questions")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the demo (the real cases run once)")
    args = parser.parse_args()
    offline_torch_home()  # MobileNetV2's ImageNet weights without a download
    table = next(iter(sorted((ROOT / "sweeps" / "costs").glob("*.yaml"))), None)
    print(f"rates: {table.relative_to(ROOT) if table else 'none measured'}; {time.strftime('%Y-%m-%d %H:%M')}")
    storage, verdicts = Path(tempfile.mkdtemp(prefix="forecast_")), []
    for name in args.cases.split(","):
        command = case(name)
        repeats = args.repeats if name == "demo" else 1
        # each run in a storage of its own: a cold cache (decoded images, features) as on a fresh machine
        runs = [run_once(command, storage / f"{name}-{i}", name) for i in range(repeats)]
        verdicts += report(name, runs, dry_run(command))
    print(f"\n{sum(verdicts)} of {len(verdicts)} figures within +-{GOAL:.0%} of what the sweeps took")


if __name__ == "__main__":
    main()
