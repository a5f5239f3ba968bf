"""features_svm: penultimate features of a pretrained backbone + a scikit-learn SVM pipeline (scaler + SVC).

Features come from the shared on-disk cache (`features.image_features`), so the SVM configurations of a job
pay for one extraction between them; `features.run_on_features` is the skeleton every classifier on them shares.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.hparams import SCALERS
from trainables.images.features import run_on_features
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
    run_on_features(dataset_dir, trial, lambda x, y: svm_pipeline(trial.params).fit(x, y), svm_scores)
