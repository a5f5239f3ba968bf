"""Penultimate features of a backbone over a dataset's train and test images, extracted once and cached on disk.

The cache entry is keyed by (dataset fingerprint, backbone, weights, input size, caps, split seed, decoding), so
every features_svm trial of a job, every head-only fine-tune, and later sweeps reuse one extraction. A cache hit
needs no torch at all: the entry is a plain .npz. `run_on_features` is the skeleton of a method that classifies
them (features_svm): extract or load, fit on train, score validation and test, one row.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trainables.cache import cache_key, cached
from trainables.common import accuracy, classification_metrics, skipped_facts
from trainables.images.data import (DECODE_VERSION, Split, batches, check_image_folder, load_image_data, preset_of,
                                    split_train)
from trainables.images.specs import backbone_spec
from core.ledger import flatten_metrics
from trainables.loop import labels
from trainables.trial import Trial

FEATURE_VERSION = 3  # 2: random weights rescaled to unit variance (backbones.unit_variance_init), 3: seeded


def extract(model, split: Split, device, batch_size: int = 64, amp: bool = True,
            channels_last: bool = True) -> np.ndarray:
    """Features of every image of `split` (inference mode; channels_last and float16 autocast on CUDA unless told
    otherwise: bench/gpu_speed.py measures each)."""
    import torch

    feats = []
    with torch.inference_mode(), torch.autocast(device.type, enabled=amp and device.type == "cuda"):
        for x, _ in batches(split, batch_size, device, channels_last=channels_last):
            feats.append(model(x).float().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 0), dtype=np.float32)


def _extract_all(trial: Trial, dataset_dir: Path, size: int) -> dict[str, np.ndarray]:
    import torch

    from trainables.images import backbones
    from trainables.torch_learner import describe_device, pick_device

    torch.set_num_threads(trial.cpus)
    device = pick_device()
    spec = trial.spec
    _, train, test = load_image_data(dataset_dir, size, spec.images, spec.data_seed,
                                     spec.cache_dir or None, spec.data.fingerprint,
                                     layout=trial.layout, preset=preset_of(trial.params))
    # the features are the job's, shared by its trials (and keyed by the sweep's seed): random weights are drawn
    # from that seed, so a rerun with a cold cache extracts the very same features
    torch.manual_seed(spec.data_seed)
    model = backbones.feature_extractor(trial.job.model, spec.weights)
    model = model.to(device, memory_format=torch.channels_last)
    if spec.weights == "random":
        backbones.unit_variance_init(model, next(batches(train, 32, device))[0])
    t0 = time.perf_counter()
    out = {"train_x": extract(model, train, device), "test_x": extract(model, test, device)}
    rate = (len(train) + len(test)) / max(time.perf_counter() - t0, 1e-9)
    return out | {"train_y": train.y, "test_y": test.y, "images_per_s": np.array(rate),
                  "skipped": np.array(train.skipped + test.skipped, dtype=str),
                  "device": np.array(describe_device(device))}


def image_features(trial: Trial, dataset_dir: Path, size: int) -> tuple[dict[str, np.ndarray], bool]:
    """(features, was_cached) for the trial's dataset and backbone at `size`."""
    spec = trial.spec
    key = cache_key(data=spec.data.fingerprint, model=trial.job.model, weights=spec.weights,
                    size=size, max_train=spec.images.max_train_per_class,
                    max_test=spec.images.max_test_per_class, seed=spec.data_seed,
                    decode=DECODE_VERSION, features=FEATURE_VERSION, held_out=trial.layout.digest,
                    preset=preset_of(trial.params))
    path = Path(spec.cache_dir) / "features" / f"{key}.npz"

    def load(p: Path) -> dict[str, np.ndarray]:
        with np.load(p) as stored:
            return dict(stored)

    return cached(path, lambda: _extract_all(trial, dataset_dir, size), save=lambda v, h: np.savez(h, **v),
                  load=load, enabled=bool(spec.cache_dir))


def run_on_features(dataset_dir: Path, trial: Trial, fit: Callable[[np.ndarray, np.ndarray], Any],
                    class_scores: Callable[[Any, np.ndarray, int], np.ndarray]) -> None:
    """A classifier on the cached penultimate features, start to row: `fit(x, y)` returns a fitted estimator (with
    `predict`), `class_scores(model, x, n_classes)` its class scores; it is chosen on validation, tested once."""
    size = backbone_spec(trial.job.model).size_for(trial.spec.images.image_size)
    trial.record(preset=preset_of(trial.params), input_side=size)
    with trial.phase("extract"):
        feats, was_cached = image_features(trial, dataset_dir, size)
    trial.use_device(str(feats["device"]))
    train, val = split_train(Split(feats["train_x"], feats["train_y"]), trial.spec.val_fraction,
                             trial.spec.data_seed)
    with trial.phase("fit"):
        model = fit(train.x, train.y)
    classes = check_image_folder(dataset_dir, trial.layout)
    with trial.phase("eval"):
        scores = {"val": (val.y, class_scores(model, val.x, len(classes))),
                  "test": (feats["test_y"], class_scores(model, feats["test_x"], len(classes)))}
        predicted = {split: labels(s) for split, (_, s) in scores.items()}
        metrics = flatten_metrics({"train": {"acc": accuracy(train.y, model.predict(train.x))},
                                   "val": {"acc": accuracy(val.y, predicted["val"])},
                                   "test": classification_metrics(feats["test_y"], predicted["test"], detail=True)})
    with trial.phase("write"):
        trial.write_predictions(scores)
    trial.finish(metrics | {"items_per_s": float(feats["images_per_s"]), "features_cached": was_cached,
                            "n_train": len(train.y), "n_val": len(val.y), "n_test": len(feats["test_y"]),
                            **skipped_facts("skipped_images", feats["skipped"]), "classes": json.dumps(classes)})
