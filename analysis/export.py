"""One file to share a sweep: every row (one table, the sweep's schema) and every history record, compacted from
the per-trial files. The plan (sweep.json) travels in the rows file's Arrow metadata (`groupsweep.sweep`)."""
from __future__ import annotations

import json
import os

import pyarrow as pa

from core.results import ResultsError, load_history, load_manifest, load_trials
from core import store


def export(sweep_dir: str | os.PathLike, out: str) -> tuple[str, str]:
    """Write `out` (rows, sorted by trial id) and `<out stem>.history.parquet` (sorted by trial and epoch)."""
    if not out.endswith(".parquet"):
        raise ResultsError(f"--out {out}: expected a file name ending in .parquet")
    manifest = load_manifest(sweep_dir)
    rows = pa.Table.from_pandas(load_trials(sweep_dir, manifest), preserve_index=False)
    rows = rows.replace_schema_metadata({**(rows.schema.metadata or {}),
                                         b"groupsweep.sweep": json.dumps(manifest).encode()})
    history = load_history(sweep_dir, manifest)
    if len(history):
        history = history.sort_values(["trial_id", "epoch"], kind="mergesort", ignore_index=True)
    history_out = out.removesuffix(".parquet") + ".history.parquet"
    store.write_parquet(rows, out)
    store.write_parquet(pa.Table.from_pandas(history, preserve_index=False), history_out)
    return out, history_out
