"""Read a sweep folder (local or on an object store): its plan (sweep.json) and every trial row (trials/*.parquet)
as one table."""
from __future__ import annotations

import contextlib
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from trainables import ledger, store
from trainables.ledger import column_order


READ_BATCH = 500


class ResultsError(ValueError):
    """The folder is not a sweep's results folder, or its files are unreadable."""


def load_manifest(sweep_dir: str | os.PathLike) -> dict:
    path = store.join(sweep_dir, "sweep.json")
    text = store.read_text(path)
    if text is None:
        raise ResultsError(f"{sweep_dir}: not a sweep results folder (no sweep.json); pass <storage>/<sweep-id>")
    try:
        return ledger.parse_plan(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None


def _read_all(folder: str) -> list[pd.DataFrame]:
    """Every Parquet file in `folder`. Files of one schema (trainables.ledger) are read as one dataset, in threads;
    folders written before that schema, or with a damaged file, are read file by file, which names the file."""
    locations = store.list_files(folder, ".parquet")
    if not locations:
        return []
    with contextlib.suppress(pa.ArrowException, OSError):
        fs, _ = store.resolve(folder)
        paths = [store.resolve(location)[1] for location in locations]
        # batches: a dataset keeps every file's footer, ~0.2 MB each at a full sweep's width (10,000 rows: 2.4 GB
        # read at once, 0.8 GB in batches of 500); one chunk per column after, since pandas' Arrow-backed
        # columns take() chunk by chunk
        batches = [ds.dataset(paths[i:i + READ_BATCH], format="parquet", filesystem=fs).to_table()
                   for i in range(0, len(paths), READ_BATCH)]
        return [pa.concat_tables(batches).combine_chunks().to_pandas()]
    try:
        frames = store.read_parquets(locations)
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


def load_histories(sweep_dir: str | os.PathLike, trial_ids: list[str]) -> dict[str, pd.DataFrame]:
    """The per-epoch history of just these trials (the report needs the selected ones, not all of them)."""
    from trainables.ledger import history_path

    try:
        frames = store.read_parquets([history_path(sweep_dir, t) for t in trial_ids])
    except store.UnreadableFile as exc:
        raise ResultsError(str(exc)) from None
    return {t: f for t, f in zip(trial_ids, frames) if f is not None}


def load_scores(sweep_dir: str | os.PathLike, trial_ids: list[str]) -> dict[str, dict | None]:
    """The stored validation / test class scores of these trials (trainables.ledger.read_predictions), read in
    threads (an object store answers one request at a time per connection); None for a trial without a file."""
    from concurrent.futures import ThreadPoolExecutor

    from trainables.ledger import read_predictions

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(lambda t: read_predictions(sweep_dir, t), trial_ids))
    except (OSError, ValueError) as exc:  # a damaged .npz: say which sweep, not a traceback
        raise ResultsError(f"{store.join(sweep_dir, 'predictions')}: unreadable scores file ({exc})") from None
    return dict(zip(trial_ids, found))
