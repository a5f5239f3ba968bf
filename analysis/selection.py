"""Model selection, in one place: a group's selected trial is its completed trial with the highest validation
accuracy, ties broken by the smaller trial id. Nothing here reads a `test_*` column: test accuracy is only ever
looked up afterwards, for the trial that validation chose.
"""
from __future__ import annotations

import pandas as pd

SELECTABLE = "ok"  # a completed trial: a scheduler-stopped one never reached its test evaluation
SELECTION_COLUMNS = ("status", "val_acc", "trial_id")


def ranked(trials: pd.DataFrame, by: list[str] = ()) -> pd.DataFrame:
    """The completed trials (columns `by` + SELECTION_COLUMNS), best validation accuracy first, ties by trial id:
    the order selection and ensembles (analysis.ensembles) read."""
    view = trials[list(dict.fromkeys([*by, *SELECTION_COLUMNS]))]
    done = view[(view["status"] == SELECTABLE) & view["val_acc"].notna()]
    return done.sort_values(["val_acc", "trial_id"], ascending=[False, True], kind="mergesort")


def best_trials(trials: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The selected trial of each group of `by` (one row per group that has a completed trial), in group order."""
    if trials.empty:
        return trials
    ordered = ranked(trials, by)
    chosen = ordered.drop_duplicates(by, keep="first") if by else ordered.head(1)
    return trials.loc[chosen.sort_values(by or ["trial_id"], kind="mergesort").index]


def best_trial(trials: pd.DataFrame) -> pd.Series | None:
    """The one selected trial among `trials`, or None when none completed."""
    chosen = best_trials(trials, [])
    return None if chosen.empty else chosen.iloc[0]
