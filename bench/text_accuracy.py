"""Part 2 on the real course files (../shared/data/text): a search per dataset x cell type through the real
runner, then the best test accuracy (selected by validation accuracy) and the configuration that reached it.

    python bench/text_accuracy.py [--budget text_cpu] [--datasets sentiment,spam,questions,newsgroups]
                                  [--cells rnn,lstm,gru] [--samples N] [--epochs N] [--search random|tpe]
                                  [--frameworks tensorflow]
                                  [--space-file bench/spaces/X.yaml] [--storage DIR] [--resume]
                                  [--also SWEEP_DIR ...]

The CPU budget is the budget file (sweeps/budgets/text_cpu.yaml: configurations per job, epochs, ASHA, early
stopping, per-dataset spaces, 1 CPU per trial); --samples / --epochs shrink it for a quicker look; --space-file
puts a candidate space in place of a dataset's entries (bench/spaces/), so two spaces are compared on validation;
--search sets how each job's configurations are chosen (the budget's own by default; sweeps/search.py).
Results stay under --storage, so an interrupted run continues with --resume.

Per dataset it prints the single trial with the best validation accuracy over all cells, and the ensembles of
analysis.ensembles (top-5 average, Caruana greedy), chosen on validation: the best cell's by their validation
accuracy, and over all the dataset's trials (with --also, those of other runs' sweep folders too, e.g. a
candidate space's). Test accuracy is read only for what validation chose.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import shared_data

TARGETS = {"sentiment": 0.78, "spam": 0.985, "questions": 0.82, "newsgroups": 0.93}  # issue #4


def budget_for(args):
    import yaml

    from sweeps.budgets import load_budget, space_entry

    budget = load_budget(args.budget)
    recurrent = budget.method("recurrent")
    recurrent = dataclasses.replace(recurrent, num_samples=args.samples or recurrent.num_samples,
                                    max_epochs=args.epochs or recurrent.max_epochs,
                                    search=args.search or recurrent.search)
    if args.space_file:  # {dataset: {key: value}}: replaces the budget's entries for those datasets
        over = yaml.safe_load(args.space_file.read_text()) or {}
        spaces = {d: {k: space_entry(f"{args.space_file}: {d}.{k}", v) for k, v in entries.items()}
                  for d, entries in over.items()}
        recurrent = dataclasses.replace(recurrent, datasets=recurrent.datasets | spaces)
    return dataclasses.replace(budget, methods=budget.methods | {"recurrent": recurrent})


def configuration(row) -> dict:
    def plain(v):  # numpy scalars -> JSON numbers / booleans
        return v.item() if hasattr(v, "item") else v

    config = {k[6:]: plain(row[k]) for k in row.index
              if k.startswith("param_") and row[k] is not None and row[k] == row[k]}
    return config | {"max_len": int(row["max_len"]), "vocab": int(row["vocab_size"]), "epochs": int(row["epochs"]),
                     "best_epoch": int(row["best_epoch"])}


def print_table(best, trials, title: str) -> None:
    print(f"\n{title}")
    print(f"{'dataset':<11} {'cell':<5} {'framework':<10} {'test_acc':>8} {'val_acc':>8} {'top5':>7} {'greedy':>7} "
          f"{'target':>7}  configuration of the selected trial")
    rows = trials.set_index("trial_id")
    for r in best.sort_values(["dataset", "model", "framework"]).itertuples():
        config = configuration(rows.loc[r.best_trial]) if r.outcome == "ok" else {"outcome": r.outcome}
        print(f"{r.dataset:<11} {r.model:<5} {r.framework:<10} {r.test_acc:8.4f} {r.val_acc:8.4f} "
              f"{r.top5_test_acc:7.4f} {r.greedy_test_acc:7.4f} {TARGETS.get(r.dataset, float('nan')):7.3f}  "
              f"{json.dumps(config, default=str)}")


def print_datasets(best, trials, scores) -> None:
    """Per dataset: the single trial, the best cell's ensembles and the all-cells ensembles, each chosen on
    validation accuracy; test accuracy read after."""
    from analysis.ensembles import job_ensembles
    from analysis.selection import best_trials

    print("\nper dataset, everything chosen on validation (val / test):")
    for top in best_trials(trials, ["dataset"]).itertuples():
        cells = best[(best["dataset"] == top.dataset) & best["top5_val_acc"].notna()]
        pooled = job_ensembles(trials[trials["dataset"] == top.dataset], scores)
        line = [f"single {top.val_acc:.4f} / {top.test_acc:.4f} ({top.cell})"]
        for name in ("top5", "greedy"):
            if len(cells):
                cell = cells.sort_values([f"{name}_val_acc", "key"], ascending=[False, True]).iloc[0]
                line.append(f"{name} best cell {cell[f'{name}_val_acc']:.4f} / {cell[f'{name}_test_acc']:.4f} "
                            f"({cell['model']})")
            if pooled[f"{name}_val_acc"] is not None:
                line.append(f"{name} all cells {pooled[f'{name}_val_acc']:.4f} / {pooled[f'{name}_test_acc']:.4f}")
        print(f"  {top.dataset:<11} " + "; ".join(line) + f"; target {TARGETS[top.dataset]:.3f}")


def main() -> None:
    from sweeps.budgets import SEARCHES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="text_cpu")
    parser.add_argument("--datasets", default="sentiment,spam,questions,newsgroups")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--samples", type=int, default=0, help="configurations per job (default: the budget's)")
    parser.add_argument("--epochs", type=int, default=0, help="max epochs per trial (default: the budget's)")
    parser.add_argument("--search", choices=SEARCHES, default=None, help="random or tpe (default: the budget's)")
    parser.add_argument("--frameworks", default="tensorflow")
    parser.add_argument("--space-file", type=Path, default=None, help="YAML {dataset: {key: value}} replacing "
                        "the budget's entries for those datasets (a candidate space, compared on validation)")
    parser.add_argument("--storage", type=Path, default=None)
    parser.add_argument("--also", type=Path, action="append", default=[], help="another run's sweep folder "
                        "(<storage>/text) whose trials join the all-cells ensembles")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    from core.results import load_manifest, load_scores, load_trials
    from analysis.tables import job_results
    from sweeps.matrix import matrix_jobs
    from sweeps.runner import SweepOptions, run_sweep

    jobs = matrix_jobs(args.datasets.split(","), args.cells.split(","), ["recurrent"],
                       tuple(args.frameworks.split(",")))
    budget = budget_for(args)
    storage = args.storage or Path(tempfile.mkdtemp(prefix="bench_text_"))
    options = SweepOptions(jobs=jobs, budget=budget, data_root=shared_data("text"), demo=False, weights="random",
                           storage=storage, sweep_id="text", address=None, resume=args.resume)
    t0 = time.time()
    run_sweep(options)
    wall = time.time() - t0
    trials = load_trials(options.sweep_dir)
    scores = load_scores(options.sweep_dir, trials.loc[trials["status"] == "ok", "trial_id"].tolist())
    best = job_results(load_manifest(options.sweep_dir), trials, lambda ids: {t: scores.get(t) for t in ids})
    recurrent = budget.method("recurrent")
    spent_h = trials["wall_s"].sum() / 3600  # the compute the figures cost: trial-hours, every trial counted
    print_table(best, trials, f"Part 2, real data, budget {budget.name}: {recurrent.num_samples} configurations x "
                              f"up to {recurrent.max_epochs} epochs per trial, search {recurrent.search}, "
                              f"{budget.resources.cpus_per_trial} CPU per trial, sweep wall {wall / 60:.0f} min, "
                              f"{spent_h:.2f} trial-hours ({len(trials)} trials, {storage})"
                              + (f", space file {args.space_file}" if args.space_file else ""))
    for other in args.also:  # pooled into the all-cells ensembles only; the tables above are this run's
        more = load_trials(other)
        more = more[~more["trial_id"].isin(trials["trial_id"])]
        trials = pd.concat([trials, more], ignore_index=True)
        scores |= load_scores(other, more.loc[more["status"] == "ok", "trial_id"].tolist())
    print_datasets(best, trials, scores)


if __name__ == "__main__":
    main()
