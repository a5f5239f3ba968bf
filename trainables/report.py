"""The result schema and the one helper that turns a trial's metrics into a row.

One row per trial, fixed column order (identity, param_*, metrics, cost, provenance, outcome), raw numbers only.
Rows and per-epoch histories are written whole (trainables.store: temp file + rename locally, one object upload
on a store), so a reader never sees half a file and a crashed trial never corrupts another trial's results.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

import pandas as pd

from trainables import store

IDENTITY = ["sweep_id", "part", "dataset", "model", "cell", "method", "framework", "trial_id", "seed"]
METRICS = ["train_loss", "train_acc", "val_acc", "test_acc", "test_macro_f1", "epochs"]
COST = ["wall_s", "extract_s", "fit_s", "items_per_s"]
PROVENANCE = ["device", "node_id", "node_ip", "versions", "git_sha", "data_fingerprint", "started_utc", "finished_utc"]
OUTCOME = ["status", "error", "retries"]
STATUSES = ("ok", "error", "stopped", "running")
SPLITS = ("train", "val", "test")


def flatten_metrics(split_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """{"train": {"loss": .3}, "test": {"acc": .9}} -> {"train_loss": .3, "test_acc": .9}."""
    flat: dict[str, Any] = {}
    for split, metrics in split_metrics.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        flat.update({f"{split}_{name}": value for name, value in metrics.items()})
    return flat


def column_order(columns: Iterable[str]) -> list[str]:
    """The schema's fixed order: known columns first, then param_* sorted, then any extra columns sorted."""
    columns = list(columns)
    params = sorted(c for c in columns if c.startswith("param_"))
    head = IDENTITY
    tail = METRICS + COST + PROVENANCE + OUTCOME
    extras = sorted(c for c in columns if c not in head and c not in tail and c not in params)
    return head + params + tail + extras


def make_row(values: Mapping[str, Any]) -> pd.DataFrame:
    """One trial as a one-row frame: every schema column present (missing = null), fixed order, scalars only."""
    row = {k: _scalar(v) if k.startswith("param_") else v for k, v in values.items()}
    row.update({c: None for c in IDENTITY + METRICS + COST + PROVENANCE + OUTCOME if c not in row})
    if row["status"] not in STATUSES:
        raise ValueError(f"status {row['status']!r} is not one of {STATUSES}")
    return pd.DataFrame([row])[column_order(row)]


def _scalar(value: Any) -> Any:
    """Parquet columns need scalars; lists/dicts in a config are stored as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict, tuple)) else value


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write `frame` to `path` (a local path or a store URI) whole: readers see the old file or the new one."""
    return store.write_parquet(frame, path)


def write_text_atomic(text: str, path: str | os.PathLike) -> str:
    return store.write_text(text, path)


def row_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    return store.join(results_dir, "trials", f"{trial_id}.parquet")


def history_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    return store.join(results_dir, "history", f"{trial_id}.parquet")


def checkpoint_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    """The trial's own checkpoint folder, which finished trials delete: the id must be one plain name."""
    if not trial_id or trial_id in (".", "..") or "/" in trial_id or "\\" in trial_id:
        raise ValueError(f"trial id {trial_id!r}: expected one folder name")
    return store.join(results_dir, "checkpoints", trial_id)


def read_row(results_dir: str | os.PathLike, trial_id: str) -> dict[str, Any] | None:
    """The stored row of one trial, or None when it has none yet."""
    return read_rows(results_dir, [trial_id])[trial_id]


def read_rows(results_dir: str | os.PathLike, trial_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """The stored rows of many trials (None for those without one), read together."""
    frames = store.read_parquets([row_path(results_dir, t) for t in trial_ids])
    return {t: None if f is None else f.iloc[0].to_dict() for t, f in zip(trial_ids, frames)}
