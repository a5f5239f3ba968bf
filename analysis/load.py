"""Read a sweep folder (local or on an object store): its plan (sweep.json) and every trial row (trials/*.parquet)
as one table."""
from __future__ import annotations

import json
import os

import pandas as pd

from trainables import store
from trainables.report import column_order


class ResultsError(ValueError):
    """The folder is not a sweep's results folder, or its files are unreadable."""


def load_manifest(sweep_dir: str | os.PathLike) -> dict:
    path = store.join(sweep_dir, "sweep.json")
    text = store.read_text(path)
    if text is None:
        raise ResultsError(f"{sweep_dir}: not a sweep results folder (no sweep.json); pass <storage>/<sweep-id>")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None


def _read_all(folder: str) -> list[pd.DataFrame]:
    try:
        frames = store.read_parquets(store.list_files(folder, ".parquet"))
    except store.UnreadableFile as exc:
        raise ResultsError(str(exc)) from None
    return [f for f in frames if f is not None]  # one may vanish between listing and reading (a --fresh rerun)


def load_trials(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """All trial rows, in the schema's column order, sorted by trial id (deterministic)."""
    frames = _read_all(store.join(sweep_dir, "trials"))
    if not frames:
        return pd.DataFrame(columns=column_order([]))
    trials = pd.concat(frames, ignore_index=True)
    return trials[column_order(trials.columns)].sort_values("trial_id", ignore_index=True)


def load_history(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    frames = _read_all(store.join(sweep_dir, "history"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
