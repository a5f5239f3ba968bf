"""features_svm: penultimate features of a pretrained backbone + a scikit-learn SVM.

Features are extracted once per (dataset, backbone, weights, input size, caps) and cached on disk under the sweep
storage, so every SVM configuration of a cell (and later sweeps) reuses them.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from trainables.common import accuracy, classification_metrics
from trainables.report import flatten_metrics
from trainables.images import backbones
from trainables.images.data import Split, batches, load_image_data, split_train
from trainables.trial import Trial


def extract(model, split: Split, device, batch_size: int = 32) -> np.ndarray:
    import torch

    with torch.inference_mode():
        feats = [model(x).float().cpu().numpy() for x, _ in batches(split, batch_size, device)]
    return np.concatenate(feats) if feats else np.zeros((0, 0), dtype=np.float32)


def _cache_key(trial: Trial, size: int) -> str:
    images = trial.budget["images"]
    facts = {"data": trial.spec["data_fingerprint"], "model": trial.cell["model"], "weights": trial.spec["weights"],
             "size": size, "max_train": images.get("max_train_per_class"),
             "max_test": images.get("max_test_per_class"), "seed": trial.spec["data_seed"]}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def cached_features(trial: Trial, dataset_dir: Path, size: int, device) -> dict[str, np.ndarray]:
    """train/test features and labels, from the cache or extracted now (and then cached atomically)."""
    import torch

    path = Path(trial.spec["cache_dir"]) / "features" / f"{_cache_key(trial, size)}.npz"
    if path.exists():
        with np.load(path) as cached:
            return dict(cached)
    _, train, test = load_image_data(dataset_dir, size, trial.budget["images"], trial.spec["data_seed"])
    model = backbones.feature_extractor(trial.cell["model"], trial.spec["weights"])
    model = model.to(device, memory_format=torch.channels_last)
    t0 = time.perf_counter()
    out = {"train_x": extract(model, train, device), "train_y": train.y,
           "test_x": extract(model, test, device), "test_y": test.y}
    out["images_per_s"] = np.array((len(train) + len(test)) / max(time.perf_counter() - t0, 1e-9))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as handle:
        np.savez(handle, **out)
    os.replace(tmp, path)  # concurrent trials may both extract; the rename keeps the file whole
    return out


def svm_pipeline(params: dict):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import SVC

    scalers = {"standard": StandardScaler, "l2": Normalizer}
    if params["scaler"] not in scalers:
        raise ValueError(f"params.scaler: unknown scaler {params['scaler']!r}; expected {sorted(scalers)}")
    return make_pipeline(scalers[params["scaler"]](), SVC(C=float(params["C"]), kernel=params["kernel"]))


def run(dataset_dir: Path, trial: Trial) -> None:
    import torch

    torch.set_num_threads(trial.cpus)
    device = backbones.pick_device()
    trial.device = backbones.describe_device(device)
    size = backbones.input_size(trial.cell["model"], trial.budget["images"]["image_size"])
    with trial.phase("extract"):
        feats = cached_features(trial, dataset_dir, size, device)
    train, val = split_train(Split(feats["train_x"], feats["train_y"]), trial.budget["val_fraction"],
                             trial.spec["data_seed"])
    with trial.phase("fit"):
        svm = svm_pipeline(trial.params).fit(train.x, train.y)
    metrics = flatten_metrics({"train": {"acc": accuracy(train.y, svm.predict(train.x))},
                               "val": {"acc": accuracy(val.y, svm.predict(val.x))},
                               "test": classification_metrics(feats["test_y"], svm.predict(feats["test_x"]))})
    trial.finish(metrics | {"items_per_s": float(feats["images_per_s"])})
