"""Real images: caltech101 (30 classes, 1500 train / 450 test) with torchvision's MobileNetV2 ImageNet weights,
offline, through the real sweep runner; random weights for contrast.

    python bench/caltech_accuracy.py [--cpus-per-trial 1] [--epochs 15] [--samples 3] [--weights imagenet,random]

finetune (no augmentation) and finetune_aug (the reference training preset: RandomResizedCrop + flip every epoch)
search the same space (the head alone, or the last three weight layers too) with the same number of
configurations and the same epochs, so the comparison is augmentation alone. Both evaluate the same preset
(Resize(256) + CenterCrop(224)). Prints, per weights and method, the test accuracy of the trial selected by
validation accuracy, and the job's ensembles chosen on validation (analysis.ensembles).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import budget_from, method_budget, offline_torch_home, shared_data

SVM_SPACE = {"C": {"loguniform": [0.01, 100.0]}, "kernel": {"choice": ["linear", "rbf"]},
             "scaler": {"choice": ["standard", "l2"]}}
HEAD_SPACE = {"mode": {"choice": ["head", "last3"]}, "lr": {"loguniform": [0.003, 0.1]}, "head_lr_mult": 1.0,
              "momentum": 0.9, "weight_decay": {"loguniform": [0.00001, 0.001]}, "batch_size": 64,
              "schedule": "cosine"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of every finetune and finetune_aug trial")
    parser.add_argument("--samples", type=int, default=3, help="configurations per fine-tune job")
    parser.add_argument("--weights", default="imagenet,random", help="imagenet, and random weights for contrast")
    args = parser.parse_args()
    offline_torch_home()
    from core.results import load_manifest, load_scores, load_trials
    from analysis.tables import job_results
    from core.course import Job
    from sweeps.runner import SweepOptions, run_sweep
    from core.plan import ImageCaps

    head = HEAD_SPACE | {"epochs": args.epochs, "patience": args.epochs}  # best-validation weights, no early stop
    asha = {"grace_period": 3, "reduction_factor": 3}  # the full budget's: augmentation pays off after epoch 1
    methods = {"features_svm": method_budget(8, SVM_SPACE),
               "finetune": method_budget(args.samples, head, max_epochs=args.epochs, asha=asha),
               "finetune_aug": method_budget(args.samples, head | {"augment": "flip_crop"}, max_epochs=args.epochs,
                                             asha=asha)}
    budget = budget_from("full", images=ImageCaps(), methods=methods, checkpoint_every=0)
    storage = Path(tempfile.mkdtemp(prefix="bench_caltech_"))
    rows = []
    runs = {"imagenet": list(methods), "random": ["features_svm", "finetune"]}
    for weights, method_names in ((w, runs[w]) for w in args.weights.split(",")):
        jobs = {Job(1, "caltech101", "mobilenet_v2", m): [] for m in method_names}
        options = SweepOptions(jobs=jobs, budget=budget, data_root=shared_data("images"), demo=False,
                               weights=weights, storage=storage, sweep_id=f"caltech-{weights}", address=None,
                               cpus_per_trial=args.cpus_per_trial)
        t0 = time.time()
        run_sweep(options)
        wall = time.time() - t0
        trials = load_trials(options.sweep_dir)
        scores = lambda ids, where=options.sweep_dir: load_scores(where, ids)  # noqa: E731 (a job at a time)
        for r in job_results(load_manifest(options.sweep_dir), trials, scores).itertuples():
            rows.append((weights, r.method, r.test_acc, r.val_acc, r.top5_test_acc, r.greedy_test_acc, r.trials,
                         r.epochs, wall))
    print(f"\ncaltech101 (30 classes), mobilenet_v2, 224 px (eval: Resize 256 + CenterCrop 224), finetune and "
          f"finetune_aug: {args.samples} configurations x {args.epochs} epochs each; selection by validation accuracy")
    print(f"{'weights':<9} {'method':<13} {'test_acc':>8} {'val_acc':>8} {'top5':>7} {'greedy':>7} {'trials':>6} "
          f"{'epochs':>6} {'sweep_s':>8}")
    for weights, method, test, val, top5, greedy, n, epochs, wall in rows:
        print(f"{weights:<9} {method:<13} {test:8.4f} {val:8.4f} {top5:7.4f} {greedy:7.4f} {n:6d} {epochs:6.0f} "
              f"{wall:8.0f}")
    print("top5 / greedy: test accuracy of the job's ensembles chosen on validation (beside the single trial)")


if __name__ == "__main__":
    main()
