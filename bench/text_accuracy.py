"""Part 2 on the real course files (../shared/data/text): a search per dataset x cell type through the real
runner, then the best test accuracy (selected by validation accuracy) and the configuration that reached it.

    python bench/text_accuracy.py [--budget text_cpu] [--datasets sentiment,spam,questions,newsgroups]
                                  [--cells rnn,lstm,gru] [--samples N] [--epochs N] [--frameworks tensorflow]
                                  [--storage DIR] [--resume]

The CPU budget is the budget file (sweeps/budgets/text_cpu.yaml: configurations per cell, epochs, ASHA, early
stopping, per-dataset spaces, 1 CPU per trial); --samples / --epochs shrink it for a quicker look. Results stay
under --storage, so an interrupted run continues with --resume.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from common import shared_data

TARGETS = {"sentiment": 0.78, "spam": 0.985, "questions": 0.82, "newsgroups": 0.93}  # issue #4


def budget_for(args):
    from sweeps.budgets import load_budget

    budget = load_budget(args.budget)
    recurrent = budget.method("recurrent")
    recurrent = dataclasses.replace(recurrent, num_samples=args.samples or recurrent.num_samples,
                                    max_epochs=args.epochs or recurrent.max_epochs)
    return dataclasses.replace(budget, methods=budget.methods | {"recurrent": recurrent})


def configuration(row) -> dict:
    plain = lambda v: v.item() if hasattr(v, "item") else v  # numpy scalars -> JSON numbers / booleans
    config = {k[6:]: plain(row[k]) for k in row.index
              if k.startswith("param_") and row[k] is not None and row[k] == row[k]}
    return config | {"max_len": int(row["max_len"]), "vocab": int(row["vocab_size"]), "epochs": int(row["epochs"]),
                     "best_epoch": int(row["best_epoch"])}


def print_table(best, trials, title: str) -> None:
    print(f"\n{title}")
    print(f"{'dataset':<11} {'cell':<5} {'framework':<10} {'test_acc':>8} {'val_acc':>8} {'target':>7}  configuration")
    rows = trials.set_index("trial_id")
    for r in best.sort_values(["dataset", "model", "framework"]).itertuples():
        config = configuration(rows.loc[r.best_trial]) if r.outcome == "ok" else {"outcome": r.outcome}
        print(f"{r.dataset:<11} {r.model:<5} {r.framework:<10} {r.test_acc:8.4f} {r.val_acc:8.4f} "
              f"{TARGETS.get(r.dataset, float('nan')):7.3f}  {json.dumps(config, default=str)}")
    from analysis.selection import best_trials

    print("\nbest per dataset (the trial with the best validation accuracy over all its cells; test read after):")
    for top in best_trials(trials, ["dataset"]).itertuples():
        print(f"  {top.dataset:<11} {top.test_acc:.4f} (val {top.val_acc:.4f}, {top.cell}, {top.framework}); target "
              f"{TARGETS[top.dataset]:.3f}: {'met' if top.test_acc >= TARGETS[top.dataset] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="text_cpu")
    parser.add_argument("--datasets", default="sentiment,spam,questions,newsgroups")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--samples", type=int, default=0, help="configurations per cell (default: the budget's)")
    parser.add_argument("--epochs", type=int, default=0, help="max epochs per trial (default: the budget's)")
    parser.add_argument("--frameworks", default="tensorflow")
    parser.add_argument("--storage", type=Path, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    from analysis.load import load_manifest, load_trials
    from analysis.tables import cell_results
    from sweeps.matrix import matrix_cells
    from sweeps.runner import SweepOptions, run_sweep

    frameworks = tuple("" if f == "tensorflow" else f for f in args.frameworks.split(","))
    cells = matrix_cells(args.datasets.split(","), args.cells.split(","), ["recurrent"], frameworks)
    budget = budget_for(args)
    storage = args.storage or Path(tempfile.mkdtemp(prefix="bench_text_"))
    options = SweepOptions(cells=cells, budget=budget, data_root=shared_data("text"), demo=False, weights="random",
                           storage=storage, sweep_id="text", address=None, resume=args.resume)
    t0 = time.time()
    run_sweep(options)
    wall = time.time() - t0
    trials = load_trials(options.sweep_dir)
    best = cell_results(load_manifest(options.sweep_dir), trials)
    recurrent = budget.method("recurrent")
    print_table(best, trials, f"Part 2, real data, budget {budget.name}: {recurrent.num_samples} configurations x "
                              f"up to {recurrent.max_epochs} epochs per cell, {budget.resources['cpus_per_trial']} "
                              f"CPU per trial, sweep wall {wall / 60:.0f} min ({len(trials)} trials, {storage})")


if __name__ == "__main__":
    main()
