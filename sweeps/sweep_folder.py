"""Stage 3 of a sweep: its folder, `<storage>/<sweep-id>/` — started fresh (--fresh removes only this sweep's own
entries), resumed (--resume refuses another plan than the stored one, naming each field), or new; the plan written
(sweep.json, the held-out splits' manifests) and the trials still to run read from the rows, which are the ledger:
a trial whose row (one of this sweep's own) says ok or stopped is finished."""
from __future__ import annotations

import json
import sys
from typing import Any, Callable

from core import ledger, store
from core.plan import TrialSpec
from core.registry import METHODS
from sweeps.options import ConfigError, SweepOptions
from sweeps.storage import ForeignFolder, remove_sweep


def open_sweep(options: SweepOptions) -> None:
    """--fresh: this sweep's earlier folder removed; --resume: the stored plan is this one; neither: the sweep has
    no rows yet (refused here, before Ray starts)."""
    if options.fresh:
        clear_sweep(options)
    if options.resume:
        check_same_plan(store.join(options.sweep_dir, "sweep.json"), plan_fields(options))
    else:
        refuse_rows(options)


def refuse_rows(options: SweepOptions) -> None:
    """A sweep that holds rows is continued (--resume), started over (--fresh) or left alone (another --sweep-id)."""
    existing = store.list_files(store.join(options.sweep_dir, "trials"), ".parquet")
    if existing:
        raise ConfigError(f"{options.sweep_dir}: already holds {len(existing)} trial rows; pass --resume to continue "
                          f"it, --fresh to start over, or --sweep-id NAME for a new sweep")


def clear_sweep(options: SweepOptions) -> None:
    """--fresh: delete this sweep's own earlier folder (storage.remove_sweep refuses anything else)."""
    try:
        removed = remove_sweep(options.storage, options.sweep_id)
    except ForeignFolder as exc:
        raise ConfigError(str(exc)) from None
    if removed:
        print(f"--fresh: removed {options.sweep_dir} ({', '.join(removed)})")


def split_location(options: SweepOptions, name: str) -> str:
    """Where a held-out test split's manifest lives: in the sweep's folder, read by every trial and every resume."""
    return store.join(options.sweep_dir, "splits", f"{name}.json")


def earlier_split(options: SweepOptions) -> Callable[[str], dict | None]:
    """A resumed sweep's own split manifests (a new or --fresh sweep makes its splits anew)."""
    def read(name: str) -> dict | None:
        text = store.read_text(split_location(options, name)) if options.resume else None
        return json.loads(text) if text else None
    return read


def write_splits(options: SweepOptions, facts: dict[str, Any]) -> None:
    """Each held-out test split's manifest, before any trial reads it (atomic: a trial never sees half of one)."""
    for name, fact in facts.items():
        if fact.split:
            ledger.write_text_atomic(json.dumps(fact.split, indent=0), split_location(options, name))


def prepare_sweep_dir(options: SweepOptions, trials: list[TrialSpec], estimate: dict | None = None,
                      datasets: dict[str, dict] | None = None, facts: dict[str, Any] | None = None) -> list[TrialSpec]:
    """Create or reuse the results folder (open_sweep has refused a sweep with rows unless --resume) and write the
    plan (sweep.json, then each held-out split's manifest from the datasets' `facts`); returns the trials still to
    run."""
    sweep_dir = options.sweep_dir
    manifest = {"sweep_id": options.sweep_id, **plan_fields(options), "demo_data": options.demo,
                "command": options.command,  # how to continue it (analysis.live says so once its driver is gone)
                "trials": [t.trial_id for t in trials],
                "param_types": trials[0].param_types if trials else {}, "estimate": estimate,
                "datasets": datasets or {}}
    ledger.write_text_atomic(json.dumps(manifest, indent=1), store.join(sweep_dir, "sweep.json"))
    write_splits(options, facts or {})
    finished = finished_trials(sweep_dir, [t.trial_id for t in trials], sweep_schema(trials))
    return [t for t in trials if t.trial_id not in finished]


def sweep_schema(trials: list[TrialSpec]) -> Any:
    """The sweep's row schema (its param types are every trial's): what its own rows are read with."""
    return ledger.row_schema(trials[0].param_types if trials else {})


def plan_fields(options: SweepOptions) -> dict:
    """What sweep.json records of the options, and what a resumed sweep must share with it."""
    return {"budget": options.budget.name, "data_root": str(options.data_root), "weights": options.weights,
            "seed": options.seed, "test_fraction": options.test_fraction,
            "groups": sorted({g.name for gs in options.jobs.values() for g in gs}),
            "jobs": [{"key": c.key, "part": c.part, "dataset": c.dataset, "model": c.model, "method": c.method,
                      "framework": c.framework or METHODS.get(c.method).framework,
                      "groups": [g.name for g in gs]} for c, gs in options.jobs.items()],
            # how each job chooses its configurations (a plan from before the choice existed has none)
            "searches": {c.key: options.budget.method(c.method).search for c in options.jobs}}


def _shown(value: Any) -> str:
    if not isinstance(value, list):
        return str(value)
    return f"{len(value)} ({', '.join(map(str, value[:3]))}{', ...' if len(value) > 3 else ''})"


def check_same_plan(path: str, plan: dict) -> None:
    """--resume refuses a plan other than the stored one (another budget, data, weights, seed or selection would
    mix two sweeps' rows in one table), naming each differing field; a damaged sweep.json is named too."""
    text = store.read_text(path)
    if text is None:
        return  # rows without a plan (a removed sweep.json): they are the ledger; the plan is written anew
    try:
        stored = ledger.parse_plan(text)
        stored["jobs"] = sorted(c["key"] for c in stored.get("jobs", []))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # not JSON, or not a plan's shape
        raise ConfigError(f"{path}: damaged, not a sweep plan ({type(exc).__name__}: {str(exc)[:80]}); remove it "
                          f"and rerun with --resume to continue from the rows, or --fresh to start over") from None
    plan = plan | {"jobs": sorted(c["key"] for c in plan["jobs"])}
    differ = [f"{field} {_shown(stored[field])} -> {_shown(plan[field])}" for field in plan
              if field in stored and stored[field] != plan[field]]  # a field an older plan lacks is not compared
    if differ:
        raise ConfigError(f"{path}: --resume with another {'; '.join(differ)} than the stored plan; rerun with its "
                          f"options, --fresh to start over, or --sweep-id NAME for a new sweep")


def finished_trials(sweep_dir: str, trial_ids: list[str], schema: Any = None) -> set[str]:
    """The trials whose stored row (one that fits the sweep's `schema`) says ok or stopped. A damaged row file, or
    one that is not the sweep's, is named, and its trial runs again (its new row replaces the file)."""
    try:
        rows = ledger.read_rows(sweep_dir, trial_ids, schema)
    except store.UnreadableFile:
        rows = {}
        for trial_id in trial_ids:
            try:
                rows[trial_id] = ledger.read_row(sweep_dir, trial_id, schema)
            except store.UnreadableFile as exc:  # removed: every later reader would stop on it
                print(f"warning: {exc}; removed, its trial runs again", file=sys.stderr, flush=True)
                store.remove_file(ledger.row_path(sweep_dir, trial_id))
                rows[trial_id] = None
    return {trial_id for trial_id, row in rows.items() if row and row["status"] in ledger.FINISHED}
