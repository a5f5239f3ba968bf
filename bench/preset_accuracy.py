"""The image preset's effect on accuracy, on real images: torchvision's reference preset (shorter side to
size / 0.875, centre crop) against the course handout's Resize((size, size)) (the whole image squeezed), for
features + SVM and fine-tuning, with MobileNetV2's ImageNet weights offline, through the real sweep runner.

    python bench/preset_accuracy.py [--datasets caltech101,digits] [--methods features_svm,finetune]
                                    [--svm-samples 8] [--ft-samples 3] [--epochs 6]

Datasets: caltech101 (../shared/data, 30 classes) and `digits`, an ImageFolder built here from scikit-learn's
bundled handwritten digits (1,797 scans of 8 x 8 pixels, 10 classes; strokes reach the border), saved as 32 x 32
greyscale PNGs (nearest-neighbour), 70 / 30 stratified train / test. Each (dataset, method) runs once per preset
with the same sampled configurations (the preset is a fixed value of the space; the sweep seed is the same), so the
two columns differ by the preset alone. Prints the test accuracy of the trial validation selected under each
preset, and which preset validation would choose between the two (the higher validation accuracy) with its test.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import budget_from, method_budget, offline_torch_home, shared_data

SVM_SPACE = {"C": {"loguniform": [0.01, 100.0]}, "kernel": {"choice": ["linear", "rbf"]},
             "scaler": {"choice": ["standard", "l2"]}}
FT_SPACE = {"mode": {"choice": ["head", "last3"]}, "lr": {"loguniform": [0.003, 0.1]}, "head_lr_mult": 1.0,
            "momentum": 0.9, "weight_decay": {"loguniform": [0.00001, 0.001]}, "batch_size": 64,
            "schedule": "cosine"}
PRESETS = ("reference", "handout")


def digits_folder(root: Path) -> Path:
    """scikit-learn's digits as an ImageFolder: <root>/digits/{train,test}/<digit>/<n>.png."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    index = np.arange(len(pixels))
    train, test = train_test_split(index, test_size=0.3, stratify=digits.target, random_state=0)
    for split, members in (("train", train), ("test", test)):
        for i in members:
            folder = root / "digits" / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i]).resize((32, 32), Image.NEAREST).save(folder / f"{i}.png")
    return root


def run_one(dataset: str, data_root: Path, method: str, preset: str, args, storage: Path):
    """One sweep: the dataset's job for `method`, every configuration at `preset`; the job's selected trial."""
    from analysis.tables import job_results
    from core.course import Job
    from core.plan import ImageCaps
    from core.results import load_manifest, load_trials
    from sweeps.datasets import Catalog, parse_datasets
    from sweeps.runner import SweepOptions, run_sweep

    if method == "features_svm":
        methods = {method: method_budget(args.svm_samples, SVM_SPACE | {"preset": preset})}
    else:
        space = FT_SPACE | {"epochs": args.epochs, "patience": args.epochs, "preset": preset}
        methods = {method: method_budget(args.ft_samples, space, max_epochs=args.epochs,
                                         asha={"grace_period": 3, "reduction_factor": 3})}
    budget = budget_from("full", images=ImageCaps(), methods=methods, checkpoint_every=0)
    course = dataset == "caltech101"  # digits is the user's own folder, as `--datasets digits=PATH` passes it
    catalog = Catalog() if course else parse_datasets(f"{dataset}={data_root / dataset}", Catalog())[1]
    options = SweepOptions(jobs={Job(1, dataset, "mobilenet_v2", method): []}, budget=budget,
                           data_root=data_root if course else None, demo=False, weights="imagenet", storage=storage,
                           sweep_id=f"{dataset}-{method}-{preset}", address=None, cpus_per_trial=args.cpus_per_trial,
                           datasets=catalog)
    t0 = time.time()
    run_sweep(options)
    [job] = list(job_results(load_manifest(options.sweep_dir), load_trials(options.sweep_dir)).itertuples())
    return job, time.time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="caltech101,digits")
    parser.add_argument("--methods", default="features_svm,finetune")
    parser.add_argument("--svm-samples", type=int, default=8)
    parser.add_argument("--ft-samples", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    args = parser.parse_args()
    offline_torch_home()
    storage = Path(tempfile.mkdtemp(prefix="bench_presets_"))
    roots = {"caltech101": shared_data("images"), "digits": digits_folder(storage / "data")}
    results = []
    for dataset in args.datasets.split(","):
        for method in args.methods.split(","):
            picked = {preset: run_one(dataset, roots[dataset], method, preset, args, storage) for preset in PRESETS}
            results.append((dataset, method, picked))
            line = "  ".join(f"{p} test {j.test_acc:.4f} (val {j.val_acc:.4f}, {s:.0f} s)" for p, (j, s) in
                             picked.items())
            print(f"{dataset} {method}: {line}", flush=True)
    print(f"\nmobilenet_v2, ImageNet weights, 224 px; features_svm {args.svm_samples} configurations, finetune "
          f"{args.ft_samples} x {args.epochs} epochs (mode head / last3); test accuracy of the trial selected by "
          f"validation under each preset")
    print(f"{'dataset':<11} {'method':<13} {'reference':>9} {'handout':>9} {'diff':>7}  chosen on val")
    for dataset, method, picked in results:
        ref, hand = picked["reference"][0], picked["handout"][0]
        chosen = max(PRESETS, key=lambda p: (picked[p][0].val_acc, p == "reference"))  # a tie keeps reference
        print(f"{dataset:<11} {method:<13} {ref.test_acc:9.4f} {hand.test_acc:9.4f} "
              f"{hand.test_acc - ref.test_acc:+7.4f}  {chosen} (val {picked[chosen][0].val_acc:.4f}, "
              f"test {picked[chosen][0].test_acc:.4f})")


if __name__ == "__main__":
    main()
