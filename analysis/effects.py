"""Which hyperparameters mattered, per method across the whole sweep (Optuna's slice plot and importance, over the
results table).

Datasets differ far more than configurations do, so each trial's score is its validation accuracy minus the median
of its own job: what the configuration added or lost within its job. A parameter's importance is the share of
that score's variance its values explain on their own (fANOVA's first-order term, estimated as the correlation ratio
over its categories, numbers in up to BINS quantile bins); what no single parameter explains is interaction and
noise. It is stated with the number of trials it rests on and left out below MIN_TRIALS. Only validation accuracy
is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.selection import SELECTABLE
from core.ledger import job_key

MIN_TRIALS = 10
BINS = 4


@dataclass
class MethodEffects:
    method: str
    trials: int
    params: list[str]  # searched: at least two distinct values among the trials
    slices: dict[str, str]  # param -> plot URI
    importance: pd.Series | None  # param -> share, None when too few trials
    importance_plot: str | None
    parallel: str  # parallel coordinates: every searched parameter and the score, one line per trial


def centred_scores(trials: pd.DataFrame) -> pd.Series:
    """Validation accuracy minus the median of the trial's own job."""
    jobs = job_key(trials)
    return trials["val_acc"] - trials["val_acc"].groupby(jobs).transform("median")


def searched_params(trials: pd.DataFrame) -> list[str]:
    columns = [c for c in trials.columns if c.startswith("param_") and trials[c].notna().all()]
    return sorted(c for c in columns if trials[c].astype(str).nunique() > 1)


def importance(trials: pd.DataFrame, params: list[str], score: pd.Series) -> pd.Series:
    """Per parameter, the share of `score`'s variance explained by its values alone (between-group variance over
    total variance), sorted from most to least."""
    total = float(((score - score.mean()) ** 2).sum())
    shares = {}
    for param in params:
        groups = _groups(trials[param])
        means = score.groupby(groups).transform("mean")
        shares[param.removeprefix("param_")] = float(((means - score.mean()) ** 2).sum()) / total if total else 0.0
    return pd.Series(shares).sort_values(ascending=False)


def _groups(values: pd.Series) -> pd.Series:
    """Categories as they are; numbers (log-spaced when they span decades) in up to BINS quantile bins."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or values.map(lambda v: isinstance(v, (str, bool))).any() or numeric.nunique() <= BINS:
        return values.astype(str)
    positive = numeric[numeric > 0]
    if len(positive) == len(numeric) and positive.max() / positive.min() > 100:
        numeric = np.log10(numeric)
    return pd.qcut(numeric, BINS, duplicates="drop").astype(str)


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
    parallel = plots.parallel_coordinates(mine[params].rename(columns=lambda p: p.removeprefix("param_")), score)
    return MethodEffects(method, len(mine), [p.removeprefix("param_") for p in params], slices, shares, bars,
                         parallel)
