"""The epoch loop every epoch-based trainable shares: train, validate, report + checkpoint, resume, early stop.

A learner is anything with `train_epoch(split) -> {"loss", "acc", "items"}`, `scores(split) -> class scores`
(n x classes; the prediction is their argmax), `save(folder)` / `load(folder)` (checkpoints) and `snapshot()` /
`restore(snapshot)` (in-memory best weights). Test data is touched once, after the last epoch, with the weights that
had the best validation accuracy when early stopping is on; the validation and test scores of those weights are
stored with the trial (ledger.write_predictions) for ensembles chosen on validation.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainables.common import accuracy, classification_metrics
from core.ledger import flatten_metrics
from trainables.trial import Trial


BEST_SNAPSHOT = "best_snapshot.pkl"  # in a checkpoint folder: the learner's snapshot() of the best epoch so far


class Learner(Protocol):
    def train_epoch(self, split: Any) -> dict[str, float]: ...
    def scores(self, split: Any) -> np.ndarray: ...
    def save(self, folder: Path) -> None: ...
    def load(self, folder: Path) -> None: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...


def labels(scores: np.ndarray) -> np.ndarray:
    """The predicted class of each row of scores (an empty split predicts nothing)."""
    return scores.argmax(1) if scores.size else np.zeros(len(scores), dtype=np.int64)


def fit(trial: Trial, learner: Learner, train: Any, val: Any, test: Any, epochs: int,
        patience: int | None = None) -> None:
    """Train for up to `epochs` (stopping after `patience` epochs without a better val_acc) and report each."""
    trial.record(n_train=len(train.y), n_val=len(val.y), n_test=len(test.y))  # after the caps
    start, best = 0, {"snapshot": None}  # the best weights so far, kept in every checkpoint (early stopping)
    with trial.resume() as folder:
        if folder is not None:
            learner.load(folder)
            start = trial.epochs_done
            if (folder / BEST_SNAPSHOT).exists():  # a resumed trial still tests the best epoch's weights
                best["snapshot"] = pickle.loads((folder / BEST_SNAPSHOT).read_bytes())
    seen = [h["val_acc"] for h in trial.history]
    best_val = max(seen, default=-1.0)
    best_epoch = 1 + int(np.argmax(seen)) if seen else 0

    def save(folder: Path) -> None:
        learner.save(folder)
        if best["snapshot"] is not None:
            (folder / BEST_SNAPSHOT).write_bytes(pickle.dumps(best["snapshot"], protocol=5))

    trained = 0
    for epoch in range(start + 1, epochs + 1):
        with trial.phase("fit"):
            stats = learner.train_epoch(train)
        trained += stats.pop("items")
        with trial.phase("eval"):
            val_scores = learner.scores(val)
        val_acc = accuracy(val.y, labels(val_scores))
        if val_acc > best_val:
            best_val, best_epoch = val_acc, epoch
            best["snapshot"] = learner.snapshot() if patience else None
        stop = bool(patience) and epoch - best_epoch >= patience
        final = epoch == epochs or stop
        splits = {"train": stats, "val": {"acc": val_acc}}
        if final:  # test is touched once, at the end, with the best weights when early stopping
            with trial.phase("eval"):
                if best["snapshot"] is not None and best_epoch != epoch:
                    learner.restore(best["snapshot"])
                    splits["val"] = {"acc": best_val}
                    val_scores = learner.scores(val)  # the restored weights' (this epoch's are not the tested ones)
                scores = {"val": (val.y, val_scores), "test": (test.y, learner.scores(test))}
                splits["test"] = classification_metrics(test.y, labels(scores["test"][1]), detail=True)
            with trial.phase("write"):
                trial.write_predictions(scores)
        metrics = flatten_metrics(splits) | {"items_per_s": trained / max(trial.elapsed("fit"), 1e-9),
                                             "best_epoch": best_epoch, "early_stopped": stop}
        trial.report_epoch(epoch, metrics, final, save=save)
        if stop:
            break


def run_epochs(trial: Trial, learner: Learner, train: Any, val: Any, test: Any, values: dict[str, Any]) -> None:
    """How every epoch-based trainable ends: its facts join the row, then the loop runs the trial's epochs (its
    searched `epochs` capped by the method's) with its `patience`."""
    trial.record(**values, planned_epochs=trial.spec.epochs)
    fit(trial, learner, train, val, test, trial.spec.epochs, patience=trial.params.get("patience"))
