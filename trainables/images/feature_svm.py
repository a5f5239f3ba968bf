"""features_svm: penultimate features of a pretrained backbone + a scikit-learn SVM pipeline (scaler + SVC).

Features come from the shared on-disk cache (`features.image_features`), so the SVM configurations of a cell
pay for one extraction between them.
"""
from __future__ import annotations

import json
from pathlib import Path

from trainables.common import accuracy, classification_metrics
from trainables.images.data import Split, check_image_folder, split_train
from trainables.images.features import image_features
from trainables.images.specs import backbone_spec
from trainables.report import flatten_metrics
from trainables.trial import Trial

SCALERS = ("standard", "l2")


def svm_pipeline(params: dict):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import SVC

    scalers = {"standard": StandardScaler, "l2": Normalizer}
    if params["scaler"] not in scalers:
        raise ValueError(f"params.scaler: unknown scaler {params['scaler']!r}; expected one of {SCALERS}")
    return make_pipeline(scalers[params["scaler"]](), SVC(C=float(params["C"]), kernel=params["kernel"]))


def run(dataset_dir: Path, trial: Trial) -> None:
    size = backbone_spec(trial.cell["model"]).size_for(trial.budget["images"]["image_size"])
    with trial.phase("extract"):
        feats, was_cached = image_features(trial, dataset_dir, size)
    trial.device = str(feats["device"])
    train, val = split_train(Split(feats["train_x"], feats["train_y"]), trial.budget["val_fraction"],
                             trial.spec["data_seed"])
    with trial.phase("fit"):
        svm = svm_pipeline(trial.params).fit(train.x, train.y)
    metrics = flatten_metrics({"train": {"acc": accuracy(train.y, svm.predict(train.x))},
                               "val": {"acc": accuracy(val.y, svm.predict(val.x))},
                               "test": classification_metrics(feats["test_y"], svm.predict(feats["test_x"]),
                                                              detail=True)})
    trial.finish(metrics | {"items_per_s": float(feats["images_per_s"]), "features_cached": was_cached,
                            "n_train": len(train.y), "n_val": len(val.y), "n_test": len(feats["test_y"]),
                            "skipped_images": len(feats["skipped"]),
                            "classes": json.dumps(check_image_folder(dataset_dir))})
