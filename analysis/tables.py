"""Comparison tables as pivots over the results table, with a deterministic sort in the course's order.

Model selection is honest: each job's selected trial is the completed one with the highest validation accuracy
(analysis.selection), and the tables show that trial's test accuracy. Jobs that failed or never ran stay in every
table as `error` / `missing`.
"""
from __future__ import annotations

import json
from typing import Callable

import pandas as pd

from analysis import ensembles
from analysis.selection import best_trials
from core.ledger import job_key
from core.registry import BACKBONES, CELLS, DATASETS, METHODS

_ORDER = {name: i for i, name in enumerate(DATASETS.names() + BACKBONES.names() + CELLS.names() + METHODS.names())}


def _rank(values: pd.Series) -> pd.Series:
    return values.map(lambda v: _ORDER.get(v, len(_ORDER)))


JOB_COLUMNS = ["key", "part", "dataset", "model", "method", "framework", "groups", "search", "trials", "trials_error",
               "outcome", "test_acc", "val_acc", "test_macro_f1", "epochs", "best_trial", "params", "error",
               "n_test", "n_test_files", *ensembles.COLUMNS]


def job_results(manifest: dict, trials: pd.DataFrame,
                scores: Callable[[list[str]], dict[str, dict | None]] | None = None) -> pd.DataFrame:
    """One row per planned job: outcome, number of trials per status, the selected trial's numbers and
    hyperparameters (analysis.selection: by validation accuracy only), and with `scores` (trial ids -> their stored
    class scores, e.g. core.results.load_scores) the job's ensembles chosen on validation (analysis.ensembles),
    in columns of their own. Scores are read one job at a time: a large sweep's never sit in memory together."""
    keys = job_key(trials) if len(trials) else pd.Series(dtype=str)
    chosen = best_trials(trials.assign(job_key=keys), ["job_key"]).set_index("job_key") if len(trials) else None
    rows = []
    for job in manifest["jobs"]:
        mine = trials[keys == job["key"]] if len(trials) else trials
        row = {"key": job["key"], "part": job["part"], "dataset": job["dataset"], "model": job["model"],
               "method": job["method"], "framework": job["framework"], "groups": " ".join(job["groups"]),
               "search": manifest.get("searches", {}).get(job["key"], "random"),
               "trials": len(mine), "trials_error": int((mine["status"] == "error").sum()) if len(mine) else 0}
        if chosen is not None and job["key"] in chosen.index:
            best = chosen.loc[job["key"]]
            row.update(outcome="ok", test_acc=best["test_acc"], val_acc=best["val_acc"],
                       test_macro_f1=best["test_macro_f1"], epochs=best["epochs"], best_trial=best["trial_id"],
                       params=format_params(best), n_test=best.get("n_test"), n_test_files=best.get("n_test_files"))
            if scores is not None:
                finished = mine.loc[mine["status"] == "ok", "trial_id"].tolist()
                row.update(ensembles.job_ensembles(mine, scores(finished)))
        elif len(mine):  # trials ran, none can be chosen: a failure with its reason, never "missing"
            errors = mine["error"].dropna()
            statuses = ", ".join(f"{n} {s}" for s, n in mine["status"].value_counts().sort_index().items())
            row.update(outcome="error", error=errors.iloc[0] if len(errors) else
                       f"no trial finished ok with a validation accuracy ({statuses})")
        else:
            row.update(outcome="missing")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=JOB_COLUMNS)  # every column, even when no job has a result
    for column in ("n_test", "n_test_files"):  # rows written before the column existed: NaN, never flagged
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame.empty:
        return frame
    keys = [frame["part"], _rank(frame["dataset"]), _rank(frame["model"]), _rank(frame["method"])]
    order = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)}).sort_values([f"k{i}" for i in range(4)]).index
    return frame.loc[order].reset_index(drop=True)


def above_chance(jobs: pd.DataFrame, trials: pd.DataFrame, times: float = 2.0) -> pd.DataFrame:
    """Per method: jobs with a selected trial, and how many of those reach `times` x chance (1 / classes) on test —
    whether a method learned at all, the first question on demo data or a new dataset."""
    columns = ["method", "jobs", f"at_{times:g}x_chance", "lowest_x_chance"]
    done = jobs[jobs["outcome"] == "ok"] if len(jobs) else jobs
    if not len(done) or "classes" not in trials:
        return pd.DataFrame(columns=columns)
    classes = trials.set_index("trial_id")["classes"].map(lambda c: len(json.loads(c)) if isinstance(c, str) else None)
    ratio = done["test_acc"] * done["best_trial"].map(classes)
    rows = [(method, len(r), int((r >= times).sum()), round(float(r.min()), 2))
            for method, r in ratio.groupby(done["method"], sort=False)]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.iloc[_rank(frame["method"]).argsort(kind="stable")].reset_index(drop=True)


def format_params(trial: pd.Series) -> str:
    """A trial's hyperparameters as `name=value, ...` (what to tell a group), numbers to 3 significant digits."""
    items = []
    for column in sorted(c for c in trial.index if c.startswith("param_")):
        value = trial[column]
        if value is None or (isinstance(value, float) and value != value):
            continue
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        items.append(f"{column.removeprefix('param_')}={shown}")
    return ", ".join(items)


def _display(jobs: pd.DataFrame) -> pd.Series:
    """test_acc as text, or the outcome when there is no number (failures stay visible)."""
    return jobs.apply(lambda r: f"{r['test_acc']:.3f}" if r["outcome"] == "ok" else r["outcome"], axis=1)


def pivot(jobs: pd.DataFrame, part: int, index: list[str], column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numeric pivot of test accuracy, display pivot with error/missing marks), rows and columns in course order."""
    mine = jobs[jobs["part"] == part]
    if mine.empty:
        return pd.DataFrame(), pd.DataFrame()
    # one method run in several frameworks (scratch_cnn in torch and tensorflow): a column per framework
    twins = mine.duplicated(subset=index + [column], keep=False)
    mine = mine.assign(**{column: mine[column].where(~twins, mine[column] + " (" + mine["framework"] + ")")})
    numeric = mine.pivot_table(index=index, columns=column, values="test_acc", aggfunc="first", dropna=False,
                               sort=False)
    shown = mine.assign(shown=_display(mine)).pivot(index=index, columns=column, values="shown")
    seen = list(dict.fromkeys(mine[column]))  # a method's frameworks in the plan's order (its default first)
    columns = sorted(seen, key=lambda v: (_ORDER.get(str(v).split(" ")[0], len(_ORDER)), seen.index(v)))
    rows = list(dict.fromkeys(map(tuple, mine[index].itertuples(index=False))))
    rows = rows if len(index) > 1 else [r[0] for r in rows]
    return numeric.reindex(index=rows, columns=columns), shown.reindex(index=rows, columns=columns).fillna("missing")


def part1_table(jobs: pd.DataFrame):
    return pivot(jobs, 1, ["dataset", "model"], "method")


def part2_table(jobs: pd.DataFrame):
    """dataset x cell type; when a sweep ran both frameworks, each cell type appears once per framework."""
    mine = jobs[jobs["part"] == 2] if len(jobs) else jobs
    if len(mine) and mine["framework"].nunique() > 1:
        jobs = jobs.assign(model=jobs["model"].where(jobs["part"] != 2,
                                                     jobs["model"] + " (" + jobs["framework"] + ")"))
    return pivot(jobs, 2, ["dataset"], "model")


def groups_table(manifest: dict, jobs: pd.DataFrame, part: int) -> pd.DataFrame:
    """Each group of one part in the course's assignment order, with its assignment and its jobs' results."""
    from core.course import Group, group_jobs

    from core.registry import METHODS

    lookup = {(r.part, r.dataset, r.model, r.method): r for r in jobs.itertuples(index=False)
              if r.framework == METHODS.get(r.method).framework}  # groups are assigned the handout's framework
    numbers = sorted(int(g.split("G")[1]) for g in manifest["groups"] if g.startswith(f"P{part}G"))
    rows = []
    for number in numbers:
        row: dict = {"group": number}
        for i, job in enumerate(group_jobs(Group(part, number)), start=1):
            hit = lookup.get((job.part, job.dataset, job.model, job.method))
            value = "missing" if hit is None else (f"{hit.test_acc:.3f}" if hit.outcome == "ok" else hit.outcome)
            if part == 1:
                row.update(dataset=job.dataset, model=job.model, **{job.method: value})
            else:
                row.update(cell=job.model, **{f"dataset_{i}": job.dataset, f"test_acc_{i}": value})
        rows.append(row)
    return pd.DataFrame(rows)
