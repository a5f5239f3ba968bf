"""features_svm sweep of 8 SVM configurations on one dataset and backbone: with the feature cache (one
extraction shared by all trials) vs extracting per trial (cache off), both through the real Ray Tune runner.

    python bench/svm_cache.py [--model mobilenet_v2] [--cpus-per-trial 2] [--samples 8]

Prints both sweeps' wall time, the summed trial time, and the ratios. Real caltech101 (1950 images), ImageNet
weights, each backbone's native input size.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import budget_from, method_budget, offline_torch_home, shared_data

SVM_SPACE = {"C": {"loguniform": [0.01, 100.0]}, "kernel": {"choice": ["linear", "rbf"]},
             "scaler": {"choice": ["standard", "l2"]}}


def sweep(cache: bool, model: str, samples: int, cpus: int, weights: str) -> tuple[float, float, float]:
    from core.results import load_trials
    from core.course import Job
    from sweeps.runner import SweepOptions, run_sweep
    from core.plan import ImageCaps

    images = ImageCaps()  # full-size images, every one
    budget = budget_from("full", images=images, methods={"features_svm": method_budget(samples, SVM_SPACE)})
    options = SweepOptions(jobs={Job(1, "caltech101", model, "features_svm"): []}, budget=budget,
                           data_root=shared_data("images"), demo=False, weights=weights,
                           storage=Path(tempfile.mkdtemp(prefix="bench_svm_")), sweep_id="svm", address=None,
                           cpus_per_trial=cpus, cache=cache)  # cache=False: the sweep's --no-cache
    t0 = time.time()
    summary = run_sweep(options)
    wall = time.time() - t0
    assert not summary.failed, summary.render()
    trials = load_trials(options.sweep_dir)
    from analysis.selection import best_trial

    return wall, float(trials["wall_s"].sum()), float(best_trial(trials)["test_acc"])  # the trial val chose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--cpus-per-trial", type=int, default=2)
    parser.add_argument("--weights", choices=("imagenet", "random"), default="imagenet",
                        help="timing does not depend on it; offline only mobilenet_v2 has ImageNet weights")
    args = parser.parse_args()
    offline_torch_home()
    cached = sweep(True, args.model, args.samples, args.cpus_per_trial, args.weights)
    per_trial = sweep(False, args.model, args.samples, args.cpus_per_trial, args.weights)
    print(f"\nfeatures_svm, {args.samples} SVM configurations, caltech101 (1950 images), {args.model} "
          f"({args.weights} weights), {args.cpus_per_trial} CPUs per trial")
    print(f"{'':<22} {'sweep wall s':>12} {'sum trial s':>12} {'best test':>10}")
    for label, (wall, total, acc) in (("feature cache", cached), ("extract per trial", per_trial)):
        print(f"{label:<22} {wall:12.1f} {total:12.1f} {acc:10.4f}")
    print(f"ratio (per-trial extraction / cache): sweep wall {per_trial[0] / cached[0]:.1f}x, "
          f"trial time {per_trial[1] / cached[1]:.1f}x")


if __name__ == "__main__":
    main()
