"""Which hyperparameters mattered, per method across the whole sweep (Optuna's slice plot and importance, over the
results table).

Datasets differ far more than configurations do, so each trial's score is its validation accuracy minus the median
of its own cell: what the configuration added or lost within its cell. Importance is the share of a random
forest's impurity reduction per parameter, fitted on (params -> that score); it is stated with the number of trials
it rests on and left out below MIN_TRIALS. Only validation accuracy is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.selection import SELECTABLE, cell_key

MIN_TRIALS = 10


@dataclass
class MethodEffects:
    method: str
    trials: int
    params: list[str]  # searched: at least two distinct values among the trials
    slices: dict[str, str]  # param -> plot URI
    importance: pd.Series | None  # param -> share, None when too few trials
    importance_plot: str | None


def centred_scores(trials: pd.DataFrame) -> pd.Series:
    """Validation accuracy minus the median of the trial's own cell."""
    cells = cell_key(trials)
    return trials["val_acc"] - trials["val_acc"].groupby(cells).transform("median")


def searched_params(trials: pd.DataFrame) -> list[str]:
    columns = [c for c in trials.columns if c.startswith("param_") and trials[c].notna().all()]
    return sorted(c for c in columns if trials[c].astype(str).nunique() > 1)


def importance(trials: pd.DataFrame, params: list[str], score: pd.Series) -> pd.Series:
    """Random-forest impurity importance of each parameter for `score`, normalised to sum to 1."""
    from sklearn.ensemble import RandomForestRegressor

    features = pd.DataFrame({p: _encode(trials[p]) for p in params})
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0)
    forest.fit(features.to_numpy(), score.to_numpy())
    shares = pd.Series(forest.feature_importances_, index=[p.removeprefix("param_") for p in params])
    return shares / shares.sum() if shares.sum() > 0 else shares


def _encode(values: pd.Series) -> np.ndarray:
    """Numbers as numbers (log10 when they span decades), anything else as its category's rank."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and not values.map(lambda v: isinstance(v, (str, bool))).any():
        positive = numeric[numeric > 0]
        if len(positive) == len(numeric) and positive.max() / positive.min() > 100:
            return np.log10(numeric.to_numpy(dtype=float))
        return numeric.to_numpy(dtype=float)
    labels = {label: i for i, label in enumerate(sorted(values.astype(str).unique()))}
    return values.astype(str).map(labels).to_numpy(dtype=float)


def method_effects(trials: pd.DataFrame, method: str) -> MethodEffects | None:
    """The slices and importance of one method's completed trials; None when nothing was searched."""
    from analysis import plots

    mine = trials[(trials["method"] == method) & (trials["status"] == SELECTABLE) & trials["val_acc"].notna()]
    params = searched_params(mine) if len(mine) else []
    if not params:
        return None
    score = centred_scores(mine)
    slices = {p.removeprefix("param_"): plots.slice_plot(mine[p], score, p.removeprefix("param_")) for p in params}
    shares = importance(mine, params, score) if len(mine) >= MIN_TRIALS else None
    bars = plots.importance_bars(shares) if shares is not None else None
    return MethodEffects(method, len(mine), [p.removeprefix("param_") for p in params], slices, shares, bars)
