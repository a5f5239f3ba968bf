"""How the report scales: a synthetic results folder of N trials, written with the real schema (core.ledger
rows and histories, a sweep.json over every course group with both Part 2 frameworks, configurations sampled from
the full budget's spaces), then `python -m analysis` on it in a child process: wall time and peak memory.

    python bench/report_scale.py [--trials 10000] [--also runs/smoke-demo]

`--also RUN` times the report of a real sweep folder too (the demo's), side by side. The numbers are synthetic
(random accuracies, ten epochs per epoch-based trial); only the time and memory mean anything.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT

from sweeps.budgets import load_budget, sample_configs
from core.course import all_groups, expand
from core import ledger
from core.registry import DATASETS, METHODS


def synthetic_sweep(folder: Path, n_trials: int, seed: int = 0) -> int:
    """Write a sweep folder of about `n_trials` trials; returns how many."""
    budget = load_budget("full")
    jobs = expand(all_groups(), ("", "torch"))
    per_job = max(1, n_trials // len(jobs))
    rng = np.random.RandomState(seed)
    param_types = ledger.param_types(budget.method(c.method).space_for(c.dataset) for c in jobs)
    manifest = {"sweep_id": "scale", "budget": "full", "seed": seed, "weights": "imagenet", "demo_data": False,
                "groups": sorted({g.name for gs in jobs.values() for g in gs}), "param_types": param_types,
                "jobs": [{"key": c.key, "part": c.part, "dataset": c.dataset, "model": c.model, "method": c.method,
                          "framework": c.framework or METHODS.get(c.method).framework,
                          "groups": [g.name for g in gs]} for c, gs in jobs.items()], "trials": []}
    for c, job in enumerate(jobs):
        classes = [f"class {i}" for i in range(DATASETS.get(job.dataset).n_classes)]
        method = METHODS.get(job.method)
        for i, params in enumerate(sample_configs(budget.method(job.method).space_for(job.dataset), per_job,
                                                  seed + c)):
            trial_id = f"{job.key}-{i:02d}-{i:06x}"
            manifest["trials"].append(trial_id)
            epochs = 10 if method.epoch_based else 1
            quality = rng.uniform(0.3, 0.95)
            history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": quality * (1 - 0.5 / e),
                        "val_acc": quality * (1 - 0.6 / e)} for e in range(1, epochs + 1)]
            confusion = rng.multinomial(15, [1 / len(classes)] * len(classes), size=len(classes)).tolist()
            row = {"sweep_id": "scale", "part": job.part, "dataset": job.dataset, "method": job.method,
                   "model" if job.part == 1 else "cell": job.model, "trial_id": trial_id, "seed": i,
                   "framework": job.framework or method.framework, "status": "ok", "epochs": epochs,
                   **{f"param_{k}": v for k, v in params.items()}, "train_loss": history[-1]["train_loss"],
                   "train_acc": history[-1]["train_acc"], "val_acc": history[-1]["val_acc"],
                   "test_acc": quality * rng.uniform(0.9, 1.0), "test_macro_f1": quality * 0.9,
                   "wall_s": rng.uniform(60, 1800), "device": "cuda:0", "node_ip": "10.0.0.1",
                   "versions": json.dumps({"python": "3.11"}), "git_sha": "synthetic", "data_fingerprint": "f" * 16,
                   "started_utc": "2026-11-26T00:00:00+00:00", "finished_utc": "2026-11-26T08:00:00+00:00",
                   "retries": 0, "best_epoch": epochs, "classes": json.dumps(classes),
                   "test_confusion": json.dumps(confusion)}
            ledger.write_parquet_atomic(ledger.make_row(row, param_types), ledger.row_path(folder, trial_id))
            ledger.write_parquet_atomic(ledger.history_table(history, trial_id),
                                        ledger.history_path(folder, trial_id))
    ledger.write_text_atomic(json.dumps(manifest), folder / "sweep.json")
    return len(manifest["trials"])


def time_report(folder: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of `python -m analysis FOLDER --out <tmp>` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "analysis", str(folder), "--out", out], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--also", default=None, help="a real sweep folder to time as well (e.g. runs/smoke-demo)")
    args = parser.parse_args()
    if args.also:
        seconds, peak = time_report(Path(args.also))
        print(f"{args.also}: report in {seconds:.1f} s, peak {peak:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        n = synthetic_sweep(Path(tmp) / "scale", args.trials)
        print(f"synthetic sweep: {n} trials written in {time.perf_counter() - t0:.0f} s")
        seconds, peak = time_report(Path(tmp) / "scale")
        print(f"synthetic sweep of {n} trials: report in {seconds:.1f} s, peak {peak:.0f} MB "
              f"(limits: 60 s, 2048 MB)")


if __name__ == "__main__":
    main()
