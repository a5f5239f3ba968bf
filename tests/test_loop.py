"""The shared epoch loop's bookkeeping across a resume: a trial whose best validation epoch came before a crash
still reports the test accuracy of that epoch's weights after it resumes from its checkpoint.

The learner here is a scripted one (its "weights" are the number of epochs trained; accuracies per epoch are set),
so the right answer is known exactly; the Trial, its ledger checkpoints and the loop are the real ones. Outside a
Tune session `tune.report` only warns, and resuming reads the ledger checkpoint, as after a driver restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import trial_spec
from trainables.loop import fit
from core.ledger import read_predictions, read_row
from trainables.trial import Trial

VAL = {1: 0.9, 2: 0.5, 3: 0.4, 4: 0.3}  # the best validation accuracy is epoch 1's
TEST = {1: 0.8, 2: 0.3, 3: 0.2, 4: 0.1}


@dataclass
class Split:
    name: str
    y: np.ndarray


class ScriptedLearner:
    def __init__(self, crash_at: int | None = None):
        self.weights, self.crash_at = 0, crash_at

    def train_epoch(self, split):
        if self.weights + 1 == self.crash_at:
            raise RuntimeError("node lost")
        self.weights += 1
        return {"loss": 1.0 / self.weights, "acc": 0.5, "items": 10}

    def scores(self, split):  # split.y is all ones: `correct` rows score class 1 highest
        correct = round(10 * (VAL if split.name == "val" else TEST)[self.weights])
        return np.array([[0.2, 0.8]] * correct + [[0.7, 0.3]] * (10 - correct))

    def save(self, folder: Path) -> None:
        (folder / "weights.txt").write_text(str(self.weights))

    def load(self, folder: Path) -> None:
        self.weights = int((folder / "weights.txt").read_text())

    def snapshot(self):
        return self.weights

    def restore(self, snapshot) -> None:
        self.weights = snapshot


@pytest.mark.filterwarnings("ignore")  # tune.report / get_checkpoint outside a Tune session
def test_resumed_trial_tests_the_best_epochs_weights(tmp_path):
    spec = trial_spec(tmp_path / "s")
    splits = [Split("train", np.ones(10)), Split("val", np.ones(10)), Split("test", np.ones(10))]
    with pytest.raises(RuntimeError, match="node lost"):
        fit(Trial(spec), ScriptedLearner(crash_at=3), *splits, epochs=4, patience=10)
    fit(Trial(spec), ScriptedLearner(), *splits, epochs=4, patience=10)
    row = read_row(spec.results_dir, spec.trial_id)  # what the resumed trial recorded
    assert row["epochs"] == 4 and row["best_epoch"] == 1
    assert row["test_acc"] == TEST[1] and row["val_acc"] == VAL[1]
    # the stored scores are the tested weights' too: what ensembles average is what the row reports
    stored = read_predictions(spec.results_dir, spec.trial_id)
    assert stored["val_scores"].dtype == np.float32 and stored["val_scores"].shape == (10, 2)
    assert (stored["val_scores"].argmax(1) == stored["val_y"]).mean() == VAL[1]
    assert (stored["test_scores"].argmax(1) == stored["test_y"]).mean() == TEST[1]
