"""The result schema and the one helper that turns a trial's metrics into a row.

One row per trial, fixed column order (identity, param_*, metrics, cost, provenance, outcome), raw numbers only.
Rows and per-epoch histories are written whole (trainables.store: temp file + rename locally, one object upload
on a store), so a reader never sees half a file and a crashed trial never corrupts another trial's results.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import pyarrow as pa

from trainables import schema, store

IDENTITY = list(schema.IDENTITY)
METRICS = list(schema.METRICS)
COST = list(schema.COST)
PROVENANCE = list(schema.PROVENANCE)
OUTCOME = list(schema.OUTCOME)
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


def make_row(values: Mapping[str, Any], param_types: Mapping[str, str] | None = None) -> pa.Table:
    """One trial as a one-row Arrow table of the sweep's schema (trainables.schema): every column present
    (missing = typed null), fixed order. `param_types` come from the sweep's plan; without them (a lone row) the
    values' own types are used."""
    if values.get("status") not in STATUSES:
        raise ValueError(f"status {values.get('status')!r} is not one of {STATUSES}")
    if param_types is None:
        param_types = {k: schema.value_type([v]) for k, v in values.items() if k.startswith("param_")}
    return schema.to_table([values], schema.row_schema(param_types), f"row {values.get('trial_id')}")


def history_table(epochs: list[Mapping[str, Any]], trial_id: str) -> pa.Table:
    """A trial's per-epoch records in the history schema; values that belong to the row only are left out."""
    keep = [{k: v for k, v in e.items() if k in schema.HISTORY} | {"trial_id": trial_id} for e in epochs]
    return schema.to_table(keep, schema.HISTORY_SCHEMA, f"history of {trial_id}")


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike) -> str:
    """Write `table` to `path` (a local path or a store URI) whole: readers see the old file or the new one."""
    return store.write_parquet(table, path)


def write_text_atomic(text: str, path: str | os.PathLike) -> str:
    return store.write_text(text, path)


def row_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    return store.join(results_dir, "trials", f"{trial_id}.parquet")


def history_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    return store.join(results_dir, "history", f"{trial_id}.parquet")


def predictions_path(results_dir: str | os.PathLike, trial_id: str) -> str:
    return store.join(results_dir, "predictions", f"{trial_id}.npz")


def write_predictions(results_dir: str | os.PathLike, trial_id: str, splits: Mapping[str, tuple]) -> str:
    """A finished trial's class scores per split ({"val": (labels, scores), "test": ...}) as one compressed
    .npz, scores in float16 (ensembles average them; 3 significant digits are plenty), written whole."""
    import io

    import numpy as np

    arrays = {}
    for split, (labels, scores) in splits.items():
        arrays[f"{split}_y"] = np.asarray(labels, dtype=np.int32)
        arrays[f"{split}_scores"] = np.asarray(scores, dtype=np.float16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return store.write_bytes(buffer.getvalue(), predictions_path(results_dir, trial_id))


def read_predictions(results_dir: str | os.PathLike, trial_id: str) -> dict | None:
    """{"val_y", "val_scores", "test_y", "test_scores"} of one trial (scores as float32), or None without a file."""
    import io

    import numpy as np

    data = store.read_bytes(predictions_path(results_dir, trial_id))
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k].astype(np.float32) if k.endswith("_scores") else arrays[k] for k in arrays.files}


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
