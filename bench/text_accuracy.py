"""Part 2 on the real course files (../shared/data/text): a search per dataset x cell type through the real
runner, then the best test accuracy (selected by validation accuracy) and the configuration that reached it.

    python bench/text_accuracy.py [--datasets sentiment,spam,questions,newsgroups] [--cells rnn,lstm,gru]
                                  [--samples 6] [--epochs 12] [--frameworks tensorflow]

The CPU budget is the arguments: samples x epochs per cell (early stopping, ASHA), 1 CPU per trial.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import budget_from, method_budget, shared_data

SPACE = {
    "embed_dim": {"choice": [64, 128]},
    "units": {"choice": [64, 128]},
    "layers": {"choice": [1, 2]},
    "bidirectional": {"choice": [True, False]},
    "dropout": {"uniform": [0.2, 0.5]},
    "lr": {"loguniform": [0.001, 0.005]},
    "batch_size": {"choice": [32, 64]},
    "optimizer": {"choice": ["adam", "rmsprop"]},
    "max_len": "auto",
    "patience": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sentiment,spam,questions,newsgroups")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--frameworks", default="tensorflow")
    parser.add_argument("--max-len-cap", type=int, default=300)
    args = parser.parse_args()

    from analysis.load import load_manifest, load_trials
    from analysis.tables import cell_results
    from sweeps.matrix import matrix_cells
    from sweeps.runner import SweepOptions, run_sweep

    frameworks = tuple("" if f == "tensorflow" else f for f in args.frameworks.split(","))
    cells = matrix_cells(args.datasets.split(","), args.cells.split(","), ["recurrent"], frameworks)
    budget = budget_from("full", val_fraction=0.1, checkpoint_every=0,
                         text={"max_train": None, "max_test": None, "max_tokens": None, "max_len_cap": args.max_len_cap},
                         methods={"recurrent": method_budget(args.samples, SPACE, max_epochs=args.epochs,
                                                             asha={"grace_period": 3, "reduction_factor": 3})})
    options = SweepOptions(cells=cells, budget=budget, data_root=shared_data("text"), demo=False, weights="random",
                           storage=Path(tempfile.mkdtemp(prefix="bench_text_")), sweep_id="text", address=None,
                           cpus_per_trial=1)
    t0 = time.time()
    run_sweep(options)
    wall = time.time() - t0
    trials = load_trials(options.sweep_dir)
    best = cell_results(load_manifest(options.sweep_dir), trials)
    print(f"\nPart 2, real data, {args.samples} configurations x up to {args.epochs} epochs per cell, "
          f"1 CPU per trial, sweep wall {wall / 60:.0f} min")
    print(f"{'dataset':<11} {'cell':<5} {'framework':<10} {'test_acc':>8} {'val_acc':>8}  configuration")
    for r in best.itertuples():
        row = trials.set_index("trial_id").loc[r.best_trial] if r.outcome == "ok" else None
        plain = lambda v: v.item() if hasattr(v, "item") else v  # numpy scalars -> JSON numbers / booleans
        config = {k[6:]: plain(row[k]) for k in row.index
                  if k.startswith("param_") and row[k] is not None and row[k] == row[k]} if row is not None else {}
        config |= {"max_len": int(row["max_len"]), "epochs": int(row["epochs"])} if row is not None else {}
        print(f"{r.dataset:<11} {r.model:<5} {r.framework:<10} {r.test_acc:8.4f} {r.val_acc:8.4f}  "
              f"{json.dumps(config, default=str)}")


if __name__ == "__main__":
    main()
