"""TPE against random search at the same number of trials per job, on the real text files, through the real runner.

    python bench/search_compare.py [--datasets sentiment,spam,questions] [--cell gru] [--trials 8] [--seeds 0,1,2]
                                   [--epochs N] [--budget text_cpu] [--storage DIR] [--resume]
                                   [--data-root DIR] (another text root, e.g. the demo's, for a quick look)

Each (dataset, search, seed) is one sweep of one job — the budget's recurrent space for that dataset, `--trials`
configurations, `search: random` or `search: tpe` — with the sweep seed (so random search draws other
configurations per seed and TPE starts from other random trials). Per dataset and search, medians over the seeds
of: the test accuracy of the trial validation selected, the best validation accuracy, and the best validation
accuracy reached after each quarter of the trials (by the order they finished): what a trial spent buys.
Test accuracy is read only for the trial validation chose.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

from common import shared_data

SEARCHES = ("random", "tpe")


def one_sweep(args, dataset: str, search: str, seed: int, storage: Path) -> dict:
    from analysis.selection import best_trial
    from core.course import Job
    from core.results import load_trials
    from sweeps.budgets import load_budget
    from sweeps.runner import SweepOptions, run_sweep

    budget = load_budget(args.budget)
    recurrent = dataclasses.replace(budget.method("recurrent"), num_samples=args.trials, search=search,
                                    max_epochs=args.epochs or budget.method("recurrent").max_epochs)
    budget = dataclasses.replace(budget, methods=budget.methods | {"recurrent": recurrent})
    options = SweepOptions(jobs={Job(2, dataset, args.cell, "recurrent"): []}, budget=budget,
                           data_root=args.data_root, demo=False, weights="random", storage=storage,
                           sweep_id=f"{dataset}-{search}-{seed}", seed=seed, address=None,
                           resume=args.resume and (storage / f"{dataset}-{search}-{seed}").is_dir())
    run_sweep(options)
    trials = load_trials(options.sweep_dir)
    done = trials[trials["val_acc"].notna()].sort_values("finished_utc")
    best = best_trial(trials)
    running = done["val_acc"].cummax().tolist()
    quarters = [running[max(0, round(len(running) * q / 4) - 1)] for q in (1, 2, 3, 4)] if running else []
    return {"test": float(best["test_acc"]), "val": float(best["val_acc"]), "quarters": quarters,
            "trials": len(trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sentiment,spam,questions")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--budget", default="text_cpu")
    parser.add_argument("--storage", type=Path, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    args.data_root = args.data_root or shared_data("text")
    storage = args.storage or Path(tempfile.mkdtemp(prefix="bench_search_"))
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for dataset in args.datasets.split(","):
        for seed in seeds:
            for search in SEARCHES if seed % 2 == 0 else SEARCHES[::-1]:  # alternate which runs first
                results[dataset, search, seed] = one_sweep(args, dataset, search, seed, storage)
                r = results[dataset, search, seed]
                print(f"{dataset} {search} seed {seed}: test {r['test']:.4f} (val {r['val']:.4f}), best val by "
                      f"quarter {[round(q, 4) for q in r['quarters']]}", flush=True)
    print(f"\n{args.cell}, {args.trials} trials per job, seeds {args.seeds} (budget {args.budget}); medians over "
          f"seeds; test of the trial validation selected")
    print(f"{'dataset':<11} {'search':<7} {'test':>7} {'val':>7}  best val after 1/4, 2/4, 3/4, 4/4 of the trials")
    for dataset in args.datasets.split(","):
        for search in SEARCHES:
            runs = [results[dataset, search, s] for s in seeds]
            quarters = [statistics.median(r["quarters"][q] for r in runs) for q in range(4)]
            print(f"{dataset:<11} {search:<7} {statistics.median(r['test'] for r in runs):7.4f} "
                  f"{statistics.median(r['val'] for r in runs):7.4f}  {', '.join(f'{q:.4f}' for q in quarters)}")
    print(f"results: {storage}")


if __name__ == "__main__":
    main()
