"""Ensembles chosen on validation only (analysis.ensembles), on hand-built class scores whose right answer is
known: the greedy selection finds complementary trials, top-k follows the validation ranking, and neither reads a
single test score while choosing (scrambling test changes the reported figure, never the members)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.ensembles import job_ensembles, greedy, top_k

Y = np.array([0, 1, 0, 1, 0, 1])


def scored(right: list[bool], confidence: float, wrong_confidence: float) -> np.ndarray:
    """Scores with `confidence` on the true class where `right`, `wrong_confidence` on the other class elsewhere."""
    scores = np.zeros((len(Y), 2))
    for i, (label, ok) in enumerate(zip(Y, right)):
        scores[i, label if ok else 1 - label] = confidence if ok else wrong_confidence
        scores[i, 1 - label if ok else label] = 1 - scores[i, label if ok else 1 - label]
    return scores


def member(right: list[bool], confidence: float, wrong_confidence: float) -> dict:
    scores = scored(right, confidence, wrong_confidence)
    return {"val_y": Y, "val_scores": scores, "test_y": Y, "test_scores": scores.copy()}


# a, the selected single trial, is confidently right on 0-3 and mildly wrong on 4-5; b is the mirror image; c is a
# copy of a. Only a + b is right everywhere.
SCORES = {"a": member([1, 1, 1, 1, 0, 0], 0.9, 0.6), "b": member([0, 0, 1, 1, 1, 1], 0.9, 0.55),
          "c": member([1, 1, 1, 1, 0, 0], 0.9, 0.6)}
TRIALS = pd.DataFrame({"trial_id": ["a", "b", "c", "d"], "status": ["ok", "ok", "ok", "error"],
                       "val_acc": [4 / 6, 4 / 6 - 1e-9, 4 / 6 - 2e-9, None]})


def test_greedy_adds_what_complements_the_selected_trial():
    ensemble = greedy(["a", "b", "c"], SCORES)
    assert ensemble.weights == {"a": 1, "b": 1} and ensemble.val_acc == 1.0  # from the selected trial, a, on


def test_top_k_takes_the_validation_ranking():
    assert list(top_k(["a", "b", "c"], SCORES, k=2).weights) == ["a", "b"]


def test_choosing_never_reads_test():
    before = job_ensembles(TRIALS, SCORES)
    scrambled = {t: s | {"test_scores": s["test_scores"][:, ::-1].copy()} for t, s in SCORES.items()}
    after = job_ensembles(TRIALS, scrambled)
    for name in ("top5", "greedy"):
        assert before[f"{name}_members"] == after[f"{name}_members"]
        assert before[f"{name}_val_acc"] == after[f"{name}_val_acc"]
        assert before[f"{name}_test_acc"] != after[f"{name}_test_acc"]  # the figure is read after the choice


def test_members_on_other_rows_are_left_out():
    other = {"val_y": Y[::-1].copy(), "val_scores": SCORES["b"]["val_scores"], "test_y": Y,
             "test_scores": SCORES["b"]["test_scores"]}
    assert greedy(["a", "b"], {"a": SCORES["a"], "b": other}).weights == {"a": 1}
    assert job_ensembles(TRIALS, {})["greedy_test_acc"] is None  # no stored scores: empty columns, no error
