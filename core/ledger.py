"""The ledger of a sweep: what a trial's row holds, its statuses, and where and how rows, histories, predictions and
checkpoints are written and read. Rows are the ledger: `--resume` skips every trial whose row says ok or stopped.

One Arrow schema for every row and history file, so that any Parquet reader opens a sweep's `trials/` (or
`history/`) folder as one table: pandas, `pyarrow.dataset`, DuckDB's `read_parquet('trials/*.parquet')`. Every file
has every column, in the same order (identity, param_*, metrics, cost, provenance, outcome, then the trainables'
detail), with the same type, whatever its trial did: a column a trial has no value for is a typed null, never
Arrow's `null` type (which other files' `double` cannot be cast to). Known columns are declared here; `param_*`
columns are typed from the budget's search spaces of the sweep's jobs (`param_types`), and the sweep passes those
types to every trial. A row value that is not declared is an error in the code that produced it, caught by the
first test that runs that trainable.

Files are written whole (core.store: temp file + rename locally, one object upload on a store), so a reader
never sees half a file and a crashed trial never corrupts another trial's results.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pyarrow as pa

from core import store

if TYPE_CHECKING:
    import pandas as pd

TYPES = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}
STR, INT, FLT, BOOL = "string", "int64", "double", "bool"

IDENTITY = {"sweep_id": STR, "part": INT, "dataset": STR, "model": STR, "cell": STR, "method": STR, "framework": STR,
            "trial_id": STR, "seed": INT}
METRICS = {"train_loss": FLT, "train_acc": FLT, "val_acc": FLT, "test_acc": FLT, "test_macro_f1": FLT, "epochs": INT}
# phases of wall_s: import (the method's libraries), extract (data), fit (training), eval (scoring val / test),
# write (rows, history, predictions, checkpoints); cpus / gpus: what the trial reserved
COST = {"wall_s": FLT, "import_s": FLT, "extract_s": FLT, "fit_s": FLT, "eval_s": FLT, "write_s": FLT,
        "items_per_s": FLT, "cpus": FLT, "gpus": FLT}
PROVENANCE = {"device": STR, "node_id": STR, "node_ip": STR, "versions": STR, "git_sha": STR, "data_fingerprint": STR,
              "started_utc": STR, "finished_utc": STR}
OUTCOME = {"status": STR, "error": STR, "retries": INT, "node_losses": INT}  # trainables.faults
# What trainables add to a row (sorted after the schema's groups): facts of the data and of the training run.
DETAIL = {"best_epoch": INT, "early_stopped": BOOL, "classes": STR, "test_per_class_acc": STR, "test_confusion": STR,
          "skipped_images": INT, "skipped_rows": INT, "skipped_first": STR,  # left out by reading, the first named
          "trained_on_features": BOOL, "features_cached": BOOL, "preset": STR,  # images: how they were sized,
          "input_side": INT,  # and the side of the backbone's input (sweeps.cost.estimate compares runs by it)
          "search": STR,  # how the trial's configuration was chosen: random (drawn up front) or tpe
          "gpu_ids": STR,  # the GPUs Ray gave the trial (trainables.trial.assigned_gpus)
          "cudnn_eligible": BOOL, "max_len": INT, "vocab_size": INT, "data_sync_s": FLT,
          "planned_epochs": INT,  # its searched epochs capped by the budget's: what ASHA or patience may cut short
          "n_train": INT, "n_val": INT, "n_test": INT,  # items actually used, after the budget's caps
          "n_train_files": INT, "n_test_files": INT,  # what the dataset's files hold (the driver's preflight)
          "test_fraction": FLT, "split_seed": INT,  # a test split held out here (sweeps.datasets.make_split)
          "parameters": INT}  # a network trained from scratch: its size
# What a trial reports each epoch that is worth a curve (TensorBoard, MLflow): HISTORY less the test metrics.
CURVES = ("val_acc", "train_acc", "train_loss", "items_per_s")
# One row per epoch; the last also carries the test metrics. Per-class detail lives in the row only.
HISTORY = {"trial_id": STR, "epoch": INT, "train_loss": FLT, "train_acc": FLT, "val_acc": FLT, "test_acc": FLT,
           "test_macro_f1": FLT, "items_per_s": FLT, "best_epoch": INT, "early_stopped": BOOL}


class SchemaError(ValueError):
    """A value the schema does not declare, or one that does not fit its column's type."""


def value_type(values: Iterable[Any]) -> str:
    """The column type that holds every value: bool, int64, double or string (lists, dicts and mixed values
    such as `max_len: [auto, 64]` are stored as text)."""
    seen = {type(v) for v in values if v is not None}
    if not seen:
        return STR
    if seen == {bool}:
        return BOOL
    if seen <= {int}:
        return INT
    if seen <= {int, float}:
        return FLT
    return STR


def param_types(spaces: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """`param_<name>` -> type over every search space of a sweep (tune domains or fixed values), sorted."""
    values: dict[str, list[Any]] = {}
    for space in spaces:
        for name, domain in space.items():
            values.setdefault(name, []).extend(_domain_values(domain))
    return {f"param_{name}": value_type(vals) for name, vals in sorted(values.items())}


def _domain_values(domain: Any) -> list[Any]:
    """Example values of a search domain (its categories, or one number of its kind) or the fixed value itself."""
    if hasattr(domain, "categories"):
        return list(domain.categories)
    if hasattr(domain, "sample"):  # a numeric domain (sweeps.domains, or a Ray Tune Integer / Float)
        return [1] if getattr(domain, "integer", False) or type(domain).__name__ == "Integer" else [1.0]
    return [domain]


def row_schema(params: Mapping[str, str]) -> pa.Schema:
    """Identity, param_* (sorted), metrics, cost, provenance, outcome, then the trainables' detail columns."""
    ordered = (IDENTITY | dict(sorted(params.items())) | METRICS | COST | PROVENANCE | OUTCOME
               | dict(sorted(DETAIL.items())))
    return pa.schema([(name, TYPES[kind]) for name, kind in ordered.items()])


HISTORY_SCHEMA = pa.schema([(name, TYPES[kind]) for name, kind in HISTORY.items()])


def to_table(records: list[Mapping[str, Any]], schema: pa.Schema, what: str) -> pa.Table:
    """Records as a table of exactly `schema`: missing values are typed nulls; an undeclared key is an error."""
    extra = sorted({key for record in records for key in record} - set(schema.names))
    if extra:
        raise SchemaError(f"{what}: {', '.join(extra)} not in the result schema (core/ledger.py)")
    columns = []
    for field in schema:
        values = [_coerce(record.get(field.name), field.type) for record in records]
        try:
            columns.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise SchemaError(f"{what}: column {field.name} ({field.type}): {exc}") from None
    return pa.Table.from_arrays(columns, schema=schema)


def _coerce(value: Any, kind: pa.DataType) -> Any:
    """NaN is null (what pandas reads a null number as); numpy scalars become Python ones; a whole float fits an
    integer column (a row read back through pandas); text columns take any scalar as text."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value):
        return None
    if kind == pa.string() and not isinstance(value, str):
        return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict, tuple)) else str(value)
    if kind == pa.int64() and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


STATUSES = ("ok", "error", "stopped", "running")
FINISHED = ("ok", "stopped")  # a trial whose row says so is done: --resume skips it
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
    head = list(IDENTITY)
    tail = [*METRICS, *COST, *PROVENANCE, *OUTCOME]
    extras = sorted(c for c in columns if c not in head and c not in tail and c not in params)
    return head + params + tail + extras


def make_row(values: Mapping[str, Any], param_types: Mapping[str, str] | None = None) -> pa.Table:
    """One trial as a one-row Arrow table of the sweep's schema (row_schema): every column present
    (missing = typed null), fixed order. `param_types` come from the sweep's plan; without them (a lone row) the
    values' own types are used."""
    if values.get("status") not in STATUSES:
        raise ValueError(f"status {values.get('status')!r} is not one of {STATUSES}")
    if param_types is None:
        param_types = {k: value_type([v]) for k, v in values.items() if k.startswith("param_")}
    return to_table([values], row_schema(param_types), f"row {values.get('trial_id')}")


def history_table(epochs: list[Mapping[str, Any]], trial_id: str) -> pa.Table:
    """A trial's per-epoch records in the history schema; values that belong to the row only are left out."""
    keep = [{k: v for k, v in e.items() if k in HISTORY} | {"trial_id": trial_id} for e in epochs]
    return to_table(keep, HISTORY_SCHEMA, f"history of {trial_id}")


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike) -> str:
    """Write `table` to `path` (a local path or a store URI) whole: readers see the old file or the new one."""
    return store.write_parquet(table, path)


def write_text_atomic(text: str, path: str | os.PathLike) -> str:
    return store.write_text(text, path)


def parse_plan(text: str) -> dict:
    """A sweep.json's plan. Plans written before the unit of work was called a job list it under "cells"; they
    are read as "jobs" (raises ValueError when the text is not JSON)."""
    plan = json.loads(text)
    if isinstance(plan, dict) and "cells" in plan and "jobs" not in plan:
        plan["jobs"] = plan.pop("cells")
    return plan


def job_key(trials: pd.DataFrame) -> pd.Series:
    """The job each trial belongs to: its id is `<job key>-<sample>-<digest>` (sweeps.planning.plan_trials)."""
    return trials["trial_id"].str.rsplit("-", n=2).str[0]


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


def read_row(results_dir: str | os.PathLike, trial_id: str, schema: pa.Schema | None = None) -> dict[str, Any] | None:
    """The stored row of one trial, or None when it has none yet (or, given the sweep's `schema`, none that fits)."""
    return read_rows(results_dir, [trial_id], schema)[trial_id]


def read_rows(results_dir: str | os.PathLike, trial_ids: list[str],
              schema: pa.Schema | None = None) -> dict[str, dict[str, Any] | None]:
    """The stored rows of many trials (None for those without one), read together. Given the sweep's `schema`
    (row_schema of its plan's param types), a file that does not fit it is named in one warning and left out."""
    locations = [row_path(results_dir, t) for t in trial_ids]
    tables = store.read_tables(locations)
    if schema is not None:
        misfits = {loc: misfit(t.schema, schema) for loc, t in zip(locations, tables) if t is not None}
        warn_strangers(store.join(results_dir, "trials"), {loc: why for loc, why in misfits.items() if why})
        tables = [None if t is None or misfits[loc] else t for loc, t in zip(locations, tables)]
    return {t: None if table is None else table.to_pandas().iloc[0].to_dict() for t, table in zip(trial_ids, tables)}


# Columns a file must have to be read as a row of a sweep: it names its trial and says how it ended.
REQUIRED = {"rows": ("trial_id", "status"), "history": ("trial_id", "epoch")}


def misfit(found: pa.Schema, expected: pa.Schema, required: tuple[str, ...] = REQUIRED["rows"]) -> str | None:
    """Why a file with schema `found` is not one of the sweep's (schema `expected`), or None when it fits: a
    required column missing, a column the sweep does not write, or one of another type. A column the file lacks
    is a typed null (rows written before a detail column existed still read)."""
    missing = [name for name in required if name not in found.names]
    if missing:
        return f"no column {', '.join(missing)}"
    for column in found:
        if column.name not in expected.names:
            return f"column {column.name!r} is not one this sweep writes"
        want = expected.field(column.name).type
        if column.type != want and not (column.type == pa.large_string() and want == pa.string()):
            return f"column {column.name} is {column.type}, this sweep's is {want}"  # (pandas writes large text)
    return None


def warn_strangers(folder: str, strangers: Mapping[str, str]) -> None:
    """One warning line naming the files of a results folder that are not the sweep's and were left out."""
    if not strangers:
        return
    import posixpath
    import sys

    shown = "; ".join(f"{posixpath.basename(str(loc))} ({why})" for loc, why in list(strangers.items())[:3])
    more = f"; and {len(strangers) - 3} more" if len(strangers) > 3 else ""
    print(f"warning: {folder}: left out {len(strangers)} file(s) that are not this sweep's: {shown}{more}",
          file=sys.stderr, flush=True)


def read_folder(folder: str, expected: pa.Schema, own: set[str] | None = None,
                required: tuple[str, ...] = REQUIRED["rows"], batch: int = 500) -> pa.Table:
    """Every file of `folder` (trials/ or history/) that is one of the sweep's, as one table of exactly `expected`:
    a file named for a trial the plan does not list (`own`: trial ids), or whose schema does not fit (misfit), is
    named in one warning and left out. Files are read as datasets of `batch` files (a dataset keeps every file's
    footer: ~0.2 MB each at a full sweep's width); a damaged file raises store.UnreadableFile naming it.

    Each file is read whole, once, before it is decoded: a running sweep replaces a trial's row every epoch, and a
    fragment read by path would take its footer from one version of the file and its data from the next. Whole
    reads see one version (a local rename keeps the open file; an object GET is one version); a file that vanished
    between listing and reading (a --fresh rerun) is left out."""
    import pyarrow.dataset as ds

    locations = store.list_files(folder, ".parquet")
    fs, _ = store.resolve(folder)
    parquet = ds.ParquetFileFormat()
    strangers: dict[str, str] = {}
    tables = []
    for start in range(0, len(locations), batch):
        fragments = []
        for location in locations[start:start + batch]:
            trial_id = str(location).rsplit("/", 1)[-1].removesuffix(".parquet")
            data = store.read_bytes(location)
            if data is None:
                continue
            try:
                fragment = parquet.make_fragment(pa.py_buffer(data))
                why = misfit(fragment.physical_schema, expected, required) or (
                    "not a trial of this sweep's plan" if own is not None and trial_id not in own else None)
            except (pa.ArrowException, OSError) as exc:
                raise store.UnreadableFile(f"{location}: unreadable Parquet ({type(exc).__name__}: {exc})") from None
            if why:
                strangers[location] = why
            else:
                fragments.append(fragment)
        if fragments:
            tables.append(ds.FileSystemDataset(fragments, expected, parquet, fs).to_table())
    warn_strangers(folder, strangers)
    return pa.concat_tables(tables).combine_chunks() if tables else expected.empty_table()
