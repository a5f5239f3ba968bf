"""Read a sweep folder: its plan (sweep.json) and every trial row (trials/*.parquet) as one table."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trainables.report import column_order


class ResultsError(ValueError):
    """The folder is not a sweep's results folder, or its files are unreadable."""


def load_manifest(sweep_dir: Path) -> dict:
    path = sweep_dir / "sweep.json"
    if not path.is_file():
        raise ResultsError(f"{sweep_dir}: not a sweep results folder (no sweep.json); pass <storage>/<sweep-id>")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None


def load_trials(sweep_dir: Path) -> pd.DataFrame:
    """All trial rows, in the schema's column order, sorted by trial id (deterministic)."""
    frames = []
    for path in sorted((sweep_dir / "trials").glob("*.parquet")):
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # a row file is written atomically, so this is outside damage
            raise ResultsError(f"{path}: unreadable Parquet ({type(exc).__name__}: {exc})") from None
    if not frames:
        return pd.DataFrame(columns=column_order([]))
    trials = pd.concat(frames, ignore_index=True)
    return trials[column_order(trials.columns)].sort_values("trial_id", ignore_index=True)


def load_history(sweep_dir: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((sweep_dir / "history").glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
