"""features_svm: penultimate features of a pretrained backbone + a scikit-learn SVM pipeline (scaler + SVC).

Features come from the shared on-disk cache (`features.image_features`), so the SVM configurations of a cell
pay for one extraction between them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trainables.common import accuracy, classification_metrics, skipped_facts
from trainables.hparams import SCALERS
from trainables.images.data import Split, check_image_folder, split_train
from trainables.images.features import image_features
from trainables.images.specs import backbone_spec
from trainables.loop import labels
from trainables.ledger import flatten_metrics
from trainables.trial import Trial


def svm_pipeline(params: dict):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import SVC

    scalers = {"standard": StandardScaler, "l2": Normalizer}
    if params["scaler"] not in scalers:
        raise ValueError(f"params.scaler: unknown scaler {params['scaler']!r}; expected one of {SCALERS}")
    return make_pipeline(scalers[params["scaler"]](), SVC(C=float(params["C"]), kernel=params["kernel"]))


def svm_scores(svm, x, n_classes: int) -> np.ndarray:
    """Class scores for ensembles, one column per class of the dataset: a softmax over the SVM's one-vs-rest
    decision values (not calibrated probabilities; Platt scaling would cost five more fits per trial). A class
    absent from the training rows scores 0."""
    decision = svm.decision_function(x)
    if decision.ndim == 1:  # two classes: one signed distance
        decision = np.stack([-decision, decision], axis=1)
    shifted = np.exp(decision - decision.max(axis=1, keepdims=True))
    scores = np.zeros((len(x), n_classes), dtype=np.float32)
    scores[:, svm.classes_] = shifted / shifted.sum(axis=1, keepdims=True)
    return scores


def run(dataset_dir: Path, trial: Trial) -> None:
    size = backbone_spec(trial.cell.model).size_for(trial.spec.images.image_size)
    with trial.phase("extract"):
        feats, was_cached = image_features(trial, dataset_dir, size)
    trial.device = str(feats["device"])
    train, val = split_train(Split(feats["train_x"], feats["train_y"]), trial.spec.val_fraction,
                             trial.spec.data_seed)
    with trial.phase("fit"):
        svm = svm_pipeline(trial.params).fit(train.x, train.y)
    classes = check_image_folder(dataset_dir, trial.layout)
    with trial.phase("eval"):
        scores = {"val": (val.y, svm_scores(svm, val.x, len(classes))),
                  "test": (feats["test_y"], svm_scores(svm, feats["test_x"], len(classes)))}
        predicted = {split: labels(s) for split, (_, s) in scores.items()}
        metrics = flatten_metrics({"train": {"acc": accuracy(train.y, svm.predict(train.x))},
                                   "val": {"acc": accuracy(val.y, predicted["val"])},
                                   "test": classification_metrics(feats["test_y"], predicted["test"], detail=True)})
    with trial.phase("write"):
        trial.write_predictions(scores)
    trial.finish(metrics | {"items_per_s": float(feats["images_per_s"]), "features_cached": was_cached,
                            "n_train": len(train.y), "n_val": len(val.y), "n_test": len(feats["test_y"]),
                            **skipped_facts("skipped_images", feats["skipped"]),
                            "classes": json.dumps(classes)})
