"""Ensembles of a job's finished trials, chosen on validation only (beyond the handout).

Every finished trial stores its validation and test class scores (core.ledger.write_predictions). Two
ensembles per job, both built from validation scores alone, then scored once on test:

* top-k: the average of the k trials that validation ranks first (analysis.selection's order);
* greedy: Caruana et al., "Ensemble selection from libraries of models" (ICML 2004) — start from the selected
  trial, then repeatedly add (with replacement) the trial whose addition gives the best validation accuracy of the
  averaged scores (ties: lower validation log-loss, then validation rank); keep the round with the best validation
  accuracy (ties: the smaller ensemble).

They are reported beside, never instead of, the single selected trial: the tables label them apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import selection

TOP_K = 5
GREEDY_ROUNDS = 20
COLUMNS = ["top5_val_acc", "top5_test_acc", "top5_members", "greedy_val_acc", "greedy_test_acc", "greedy_members"]


@dataclass(frozen=True)
class Ensemble:
    val_acc: float
    test_acc: float
    weights: dict[str, int]  # trial id -> times chosen (top-k: 1 each)

    def describe(self) -> str:
        return ", ".join(f"{t}×{n}" if n > 1 else t for t, n in self.weights.items())


def _members(order: list[str], scores: dict[str, dict]) -> list[str]:
    """Those of `order` with stored scores on the same validation and test rows as the first of them."""
    usable = [t for t in order if scores.get(t) is not None]
    if not usable:
        return []
    first = scores[usable[0]]

    def same_rows(s: dict) -> bool:
        return (all(np.array_equal(s[k], first[k]) for k in ("val_y", "test_y"))
                and s["val_scores"].shape == first["val_scores"].shape)

    return [t for t in usable if same_rows(scores[t])]


def _score(weights: dict[str, int], scores: dict[str, dict], split: str) -> float:
    total = sum(n * scores[t][f"{split}_scores"] for t, n in weights.items())
    y = scores[next(iter(weights))][f"{split}_y"]
    return float((total.argmax(1) == y).mean()) if len(y) else float("nan")


def top_k(order: list[str], scores: dict[str, dict], k: int = TOP_K) -> Ensemble | None:
    members = _members(order, scores)[:k]
    if not members:
        return None
    weights = {t: 1 for t in members}
    return Ensemble(_score(weights, scores, "val"), _score(weights, scores, "test"), weights)


def greedy(order: list[str], scores: dict[str, dict], rounds: int = GREEDY_ROUNDS) -> Ensemble | None:
    """Caruana's forward selection with replacement on validation accuracy (see the module docstring)."""
    members = _members(order, scores)
    if not members:
        return None
    y = scores[members[0]]["val_y"]
    val = {t: scores[t]["val_scores"].astype(np.float64) for t in members}
    total, weights = val[members[0]].copy(), {members[0]: 1}
    best = (_val_fit(total, y), dict(weights))
    for _ in range(rounds - 1):
        fits = [(_val_fit(total + val[t], y), -rank, t) for rank, t in enumerate(members)]
        fit, _, chosen = max(fits)
        total += val[chosen]
        weights[chosen] = weights.get(chosen, 0) + 1
        if fit[0] > best[0][0]:  # strictly better accuracy: a tie keeps the smaller ensemble
            best = (fit, dict(weights))
    chosen_weights = best[1]
    return Ensemble(_score(chosen_weights, scores, "val"), _score(chosen_weights, scores, "test"), chosen_weights)


def _val_fit(total: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, -log-loss) of summed scores: the greedy step's objective, higher is better."""
    probs = total / np.clip(total.sum(1, keepdims=True), 1e-12, None)
    nll = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean() if len(y) else 0.0
    return (float((total.argmax(1) == y).mean()) if len(y) else 0.0, -float(nll))


def job_ensembles(trials: pd.DataFrame, scores: dict[str, dict]) -> dict[str, object]:
    """The ensemble columns (COLUMNS) of one job's trials; empty values when no trial stored scores."""
    order = selection.ranked(trials)["trial_id"].tolist()  # the single selected trial first; never test
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    for name, ensemble in (("top5", top_k(order, scores)), ("greedy", greedy(order, scores))):
        if ensemble is not None:
            row |= {f"{name}_val_acc": ensemble.val_acc, f"{name}_test_acc": ensemble.test_acc,
                    f"{name}_members": ensemble.describe()}
    return row

