"""Read a sweep folder (local or on an object store): its plan (sweep.json) and its own trial rows (trials/*.parquet)
and histories as one table each, with the sweep's schema (core.ledger.read_folder). What the analysis, the export,
`--estimate-from` and the benches read results through."""
from __future__ import annotations

import contextlib
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from core import ledger, store
from core.ledger import column_order


READ_BATCH = 500


class ResultsError(ValueError):
    """The folder is not a sweep's results folder, or its files are unreadable."""


def load_manifest(sweep_dir: str | os.PathLike) -> dict:
    path = store.join(sweep_dir, "sweep.json")
    if not store.is_uri(sweep_dir) and os.path.isfile(sweep_dir):
        raise ResultsError(f"{sweep_dir}: a file, not a sweep results folder; pass the folder <storage>/<sweep-id> "
                           f"(the one holding sweep.json)")
    text = store.read_text(path)
    if text is None:
        raise ResultsError(f"{sweep_dir}: not a sweep results folder (no sweep.json); pass <storage>/<sweep-id>")
    try:
        return ledger.parse_plan(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None


def _read_all(folder: str) -> list[pd.DataFrame]:
    """Every Parquet file in `folder`, for a sweep whose plan records no row schema (written before it did): files
    of one schema are read as one dataset, else file by file, which names a damaged file."""
    locations = store.list_files(folder, ".parquet")
    if not locations:
        return []
    with contextlib.suppress(pa.ArrowException, OSError):
        fs, _ = store.resolve(folder)
        paths = [store.resolve(location)[1] for location in locations]
        batches = [ds.dataset(paths[i:i + READ_BATCH], format="parquet", filesystem=fs).to_table()
                   for i in range(0, len(paths), READ_BATCH)]
        return [pa.concat_tables(batches).combine_chunks().to_pandas()]
    try:
        frames = store.read_parquets(locations)
    except store.UnreadableFile as exc:
        raise ResultsError(str(exc)) from None
    return [f for f in frames if f is not None]  # one may vanish between listing and reading (a --fresh rerun)


def _read_own(folder: str, manifest: dict, schema: pa.Schema, required: tuple[str, ...]) -> pd.DataFrame:
    """The sweep's own files in `folder`, read with its own schema (core.ledger.read_folder): a file that is
    not one of its trials' rows is named in one warning and left out."""
    own = set(manifest["trials"]) if isinstance(manifest.get("trials"), list) else None
    try:
        return ledger.read_folder(folder, schema, own, required, READ_BATCH).to_pandas()
    except store.UnreadableFile as exc:
        raise ResultsError(str(exc)) from None


def plan_if_any(sweep_dir: str | os.PathLike) -> dict:
    """The sweep's plan, or {} for rows without one (a removed sweep.json): those are read as they are."""
    return load_manifest(sweep_dir) if store.exists(store.join(sweep_dir, "sweep.json")) else {}


def row_schema(manifest: dict) -> pa.Schema | None:
    """The sweep's row schema from its plan's param types; None for a plan that predates them."""
    types = manifest.get("param_types")
    return ledger.row_schema(types) if isinstance(types, dict) else None


def load_trials(sweep_dir: str | os.PathLike, manifest: dict | None = None) -> pd.DataFrame:
    """All of the sweep's trial rows, in the schema's column order, sorted by trial id (deterministic)."""
    manifest = manifest if manifest is not None else plan_if_any(sweep_dir)
    folder, schema = store.join(sweep_dir, "trials"), row_schema(manifest)
    if schema is not None:
        trials = _read_own(folder, manifest, schema, ledger.REQUIRED["rows"])
    else:
        frames = _read_all(folder)
        trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=column_order([]))
    if trials.empty and not len(trials.columns):
        return pd.DataFrame(columns=column_order([]))
    return trials[column_order(trials.columns)].sort_values("trial_id", ignore_index=True)


def load_history(sweep_dir: str | os.PathLike, manifest: dict | None = None) -> pd.DataFrame:
    manifest = manifest if manifest is not None else plan_if_any(sweep_dir)
    folder = store.join(sweep_dir, "history")
    if row_schema(manifest) is not None:
        return _read_own(folder, manifest, ledger.HISTORY_SCHEMA, ledger.REQUIRED["history"])
    frames = _read_all(folder)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_histories(sweep_dir: str | os.PathLike, trial_ids: list[str]) -> dict[str, pd.DataFrame]:
    """The per-epoch history of just these trials (the report needs the selected ones, not all of them)."""
    from core.ledger import history_path

    try:
        frames = store.read_parquets([history_path(sweep_dir, t) for t in trial_ids])
    except store.UnreadableFile as exc:
        raise ResultsError(str(exc)) from None
    return {t: f for t, f in zip(trial_ids, frames) if f is not None}


def load_scores(sweep_dir: str | os.PathLike, trial_ids: list[str]) -> dict[str, dict | None]:
    """The stored validation / test class scores of these trials (core.ledger.read_predictions), read in
    threads (an object store answers one request at a time per connection); None for a trial without a file."""
    from concurrent.futures import ThreadPoolExecutor

    from core.ledger import read_predictions

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(lambda t: read_predictions(sweep_dir, t), trial_ids))
    except (OSError, ValueError) as exc:  # a damaged .npz: say which sweep, not a traceback
        raise ResultsError(f"{store.join(sweep_dir, 'predictions')}: unreadable scores file ({exc})") from None
    return dict(zip(trial_ids, found))
