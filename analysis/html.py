"""The morning report: `reports/index.html`, one self-contained page (no network: styles, a few lines of script to
sort tables, and every plot inline), rendered by Jinja2 with autoescape from analysis/templates/.

Everything here is a small function over the one results table (rows), the plan (sweep.json) and the selected
trials' histories: pivots and plots, no per-dataset branches. Selection is analysis.selection's, by validation
accuracy; a test number is shown only for the trial validation chose.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from analysis import cost, plots, tables
from core import cluster_use
from analysis.live import UNFINISHED
from core.pace import clock
from core.prices import SPOT_SOURCE, Prices
from analysis.anchors import load_anchors
from analysis.effects import method_effects
from core.results import load_histories
from analysis.selection import best_trials
from core.ledger import job_key
from core.registry import METHODS

TEMPLATES = Path(__file__).with_name("templates")
FULL_MATRIX_CLASSES = 30  # more classes than this: per-class accuracy and the most confused pairs instead


@dataclass
class JobDetail:
    key: str
    title: str
    groups: str
    outcome: str
    error: str | None
    selected: dict[str, Any] | None
    variants: list[dict[str, Any]] = field(default_factory=list)  # {param, rows: [{value, val, test, trial}]}
    curve: str | None = None
    confusion: dict[str, Any] | None = None
    trial_columns: list[str] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)


def overview(manifest: dict, trials: pd.DataFrame, prices: Prices) -> dict[str, Any]:
    """Section 1: what ran, on what, with what, and what it cost (and what the plan estimated)."""
    versions = json.loads(trials["versions"].dropna().iloc[0]) if trials["versions"].notna().any() else {}
    fingerprints = (trials.dropna(subset=["data_fingerprint"]).drop_duplicates("dataset")
                    .sort_values("dataset")[["dataset", "data_fingerprint"]].itertuples(index=False))
    spent = cost.summary(trials, prices)
    statuses = trials["status"].value_counts().sort_index().to_dict() if len(trials) else {}
    return {"sweep_id": manifest["sweep_id"], "budget": manifest["budget"], "weights": manifest["weights"],
            "demo": manifest.get("demo_data", False), "seed": manifest.get("seed"),
            "fingerprints": [(d, f) for d, f in fingerprints], "versions": versions,
            "git_shas": sorted(trials["git_sha"].dropna().unique()), "statuses": statuses,
            "devices": trials["device"].fillna("never ran").value_counts().sort_index().to_dict(),
            "nodes": sorted(trials["node_ip"].dropna().unique()), "cost": spent, "spot_source": SPOT_SOURCE,
            "estimate": manifest.get("estimate"), "trials": len(trials), "datasets": datasets_table(manifest),
            "forecast": cost.against_estimate(manifest, trials).to_dict("records")}


def datasets_table(manifest: dict) -> list[dict[str, Any]]:
    """Each dataset of the sweep: whose it is, where its files were, what they held, and how test was split."""
    rows = []
    for name, d in sorted((manifest.get("datasets") or {}).items()):
        counts = d.get("counts") or {}
        split = (f"held out here: {100 * d['test_fraction']:g} % stratified, seed {d['split_seed']}"
                 if d.get("test_fraction") is not None else "the files' own")
        rows.append({"name": name, "kind": d["kind"], "source": d["source"], "location": d["location"],
                     "classes": counts.get("n_classes"), "train": counts.get("n_train_files"),
                     "test": counts.get("n_test_files"), "split": split})
    return rows


def job_title(job: dict[str, Any]) -> str:
    """dataset · model · method, plus the framework when it is not the method's default."""
    framework = "" if job["framework"] == METHODS.get(job["method"]).framework else f" ({job['framework']})"
    return f"{job['dataset']} · {job['model']} · {job['method']}{framework}"


def selected_rows(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Section 2: each job's selected trial — what to tell a group — flagged when its test set was capped."""
    ok = jobs[jobs["outcome"] == "ok"] if len(jobs) else jobs
    return [r | {"title": job_title(r), "capped": bool(r["n_test"] < r["n_test_files"])}  # NaN (unknown): False
            for r in ok.to_dict("records")]


def group_entries(manifest: dict, jobs: pd.DataFrame, part: int) -> list[dict[str, Any]]:
    """Section 3: each group of a part in course order, its jobs side by side (each with its key for a link)."""
    from core.course import Group, group_jobs

    default = {r.key: r for r in jobs.itertuples(index=False) if r.framework == METHODS.get(r.method).framework}
    numbers = sorted(int(g.split("G")[1]) for g in manifest["groups"] if g.startswith(f"P{part}G"))
    entries = []
    for number in numbers:
        members = []
        for job in group_jobs(Group(part, number)):
            hit = default.get(job.key)
            members.append({"label": f"{job.dataset} · {job.model} · {job.method}", "key": job.key,
                            "value": None if hit is None or hit.outcome != "ok" else hit.test_acc,
                            "outcome": "missing" if hit is None else hit.outcome})
        entries.append({"name": f"P{part}G{number}", "jobs": members})
    return entries


def variants(mine: pd.DataFrame, method: str) -> list[dict[str, Any]]:
    """The best trial (by validation) for each value of the method's compared parameters (mode, augment, ...)."""
    out = []
    for name in METHODS.get(method).variants:
        column = f"param_{name}"
        if column not in mine or mine[column].astype(str).nunique() < 2:
            continue
        best = best_trials(mine.assign(_value=mine[column].astype(str)), ["_value"])
        rows = [{"value": r["_value"], "val": r["val_acc"], "test": r["test_acc"], "trial": r["trial_id"]}
                for r in best.assign(_value=best[column].astype(str)).to_dict("records")]
        out.append({"param": name, "rows": sorted(rows, key=lambda r: -r["val"])})
    return out


def confusion(selected: pd.Series) -> dict[str, Any] | None:
    """The selected trial's confusion matrix (rows: true class) and per-class accuracy, with its class names."""
    if not isinstance(selected.get("test_confusion"), str) or not isinstance(selected.get("classes"), str):
        return None
    classes, matrix = json.loads(selected["classes"]), json.loads(selected["test_confusion"])
    size = len(classes)
    padded = [[(row[j] if i < len(matrix) and j < len(row) else 0) for j in range(size)]
              for i, row in enumerate(matrix + [[]] * (size - len(matrix)))]
    support = [sum(row) for row in padded]
    per_class = [{"name": classes[i], "acc": padded[i][i] / support[i] if support[i] else None, "n": support[i]}
                 for i in range(size)]
    pairs = sorted(((padded[i][j], classes[i], classes[j]) for i in range(size) for j in range(size)
                    if i != j and padded[i][j]), key=lambda p: (-p[0], p[1], p[2]))[:10]
    peak = max((max(row) for row in padded), default=0) or 1
    return {"classes": classes, "matrix": padded if size <= FULL_MATRIX_CLASSES else None, "peak": peak,
            "per_class": per_class, "pairs": [{"n": n, "true": t, "predicted": p} for n, t, p in pairs]}


def trial_rows(mine: pd.DataFrame, selected_id: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    """Every trial of a job: status, searched params, val, epochs, time; test only for the selected one."""
    params = [c for c in mine.columns if c.startswith("param_") and mine[c].notna().any()]
    varied = [c for c in params if mine[c].astype(str).nunique() > 1] or params
    rows = []
    for r in mine.sort_values(["val_acc", "trial_id"], ascending=[False, True], na_position="last").to_dict("records"):
        row = {"trial": r["trial_id"].rsplit("-", 2)[1], "trial_id": r["trial_id"], "status": r["status"],
               **{c.removeprefix("param_"): r[c] for c in varied}, "val": r["val_acc"], "epochs": r["epochs"],
               "wall_s": r["wall_s"], "selected": r["trial_id"] == selected_id,
               "test": r["test_acc"] if r["trial_id"] == selected_id else None, "error": r["error"]}
        rows.append(row)
    return [c.removeprefix("param_") for c in varied], rows


def job_details(jobs: pd.DataFrame, trials: pd.DataFrame, histories: dict[str, pd.DataFrame]) -> list[JobDetail]:
    """Section 3's per-job detail, in course order."""
    keys = job_key(trials) if len(trials) else pd.Series(dtype=str)
    by_id = trials.set_index("trial_id", drop=False) if len(trials) else trials
    details = []
    for job in jobs.to_dict("records"):
        mine = trials[keys == job["key"]] if len(trials) else trials
        chosen = by_id.loc[job["best_trial"]] if job["outcome"] == "ok" else None
        detail = JobDetail(job["key"], job_title(job), job["groups"], job["outcome"], job.get("error"),
                           None if chosen is None else job)
        if chosen is not None:
            detail.variants = variants(mine, job["method"])
            best_epoch = chosen.get("best_epoch")
            kept = int(best_epoch) if pd.notna(best_epoch) else None
            detail.curve = plots.learning_curve(histories.get(job["best_trial"], pd.DataFrame()), kept)
            detail.confusion = confusion(chosen)
        detail.trial_columns, detail.trials = trial_rows(mine, job.get("best_trial")) if len(mine) else ([], [])
        details.append(detail)
    return details


def cost_points(jobs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Section 5: each job's selected test accuracy and the trial hours all its trials took."""
    if trials.empty or jobs.empty:
        return pd.DataFrame(columns=["key", "method", "test_acc", "hours"])
    hours = cost.trial_hours(trials)["hours"].groupby(job_key(trials)).sum()
    return jobs.assign(hours=jobs["key"].map(hours))[["key", "method", "test_acc", "hours"]]


def anchor_rows(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Section 6: each published figure beside the best selected result of this sweep on that dataset and method."""
    rows = []
    for anchor in load_anchors():
        mine = jobs[(jobs["dataset"] == anchor.dataset) & (jobs["method"] == anchor.method)
                    & (jobs["outcome"] == "ok")] if len(jobs) else jobs
        # the job whose selected trial validated best: its test accuracy is the sweep's figure for this dataset
        best = mine.sort_values(["val_acc", "key"], ascending=[False, True]).head(1).to_dict("records")
        rows.append({"anchor": anchor, "ours": best[0] if best else None})
    return rows


def build_context(manifest: dict, trials: pd.DataFrame, jobs: pd.DataFrame, sweep_dir: str | os.PathLike,
                  prices: Prices, heatmaps: dict[int, bytes | None] | None = None, live: Any = None,
                  refresh_s: float = 60) -> dict[str, Any]:
    """Everything the template shows, from the rows, tables.job_results of them, and the PNG heatmaps that
    build_report already drew (part -> bytes); with `live` (analysis.live.LiveStatus) the sweep's state while it
    runs, at the top of a page that reloads every `refresh_s` seconds."""
    heatmaps = heatmaps or {}
    selected_ids = list(jobs["best_trial"].dropna()) if len(jobs) and "best_trial" in jobs else []
    histories = load_histories(sweep_dir, selected_ids)
    p1_num, _ = tables.part1_table(jobs)
    p2_num, _ = tables.part2_table(jobs)
    methods = [m for m in METHODS.names() if len(trials) and (trials["method"] == m).any()]
    selected = selected_rows(jobs)
    return {
        "overview": overview(manifest, trials, prices),
        "cluster_runs": cluster_runs(sweep_dir),
        "part_tables": [pivot_links(jobs, part, numeric, f"Part {part}: test accuracy of the selected trial",
                                    heatmaps.get(part)) for part, numeric in ((1, p1_num), (2, p2_num))],
        "selected": selected,
        "chance": tables.above_chance(jobs, trials).to_dict("records"),
        "capped": sum(r["capped"] for r in selected),
        "ensembles": [r for r in selected if pd.notna(r.get("top5_test_acc"))],
        "groups": [(1, group_entries(manifest, jobs, 1)), (2, group_entries(manifest, jobs, 2))],
        "jobs": job_details(jobs, trials, histories),
        "effects": [e for e in (method_effects(trials, m) for m in methods) if e is not None],
        "cost_plot": plots.accuracy_vs_cost(cost_points(jobs, trials)),
        "anchors": anchor_rows(jobs),
        "failed": jobs[~jobs["outcome"].isin(("ok",) + UNFINISHED)].to_dict("records") if len(jobs) else [],
        "live": live, "live_refresh_s": max(1, round(refresh_s)) if refresh_s else 0,  # 0: no reload
    }


def cluster_runs(sweep_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Each driver run that ran on a cluster of worker nodes: its figures and nodes over time (a local run, one
    node, has nothing to show)."""
    runs = []
    for use in cluster_use.read_all(str(sweep_dir)):
        if not any(len(s.nodes) > 1 for s in use.samples):
            continue
        full = use.time_to_full()
        runs.append({"started": use.started_utc, "trials": use.trials, "peak": use.peak_workers(),
                     "nodes_seen": len(use.spans()), "full": None if full is None else round(full),
                     "utilisation": use.utilisation(), "plot": plots.cluster_over_time(use)})
    return runs


def pivot_links(jobs: pd.DataFrame, part: int, numeric: pd.DataFrame, title: str,
                heatmap: bytes | None = None) -> dict[str, Any]:
    """A part's pivot as rows of (label, [(value, outcome, job key)]) so every number links to its job."""
    if numeric.empty:
        return {"title": title, "columns": [], "rows": [], "heatmap": None}
    mine = jobs[jobs["part"] == part]
    column = "method" if part == 1 else "model"
    index = ["dataset", "model"] if part == 1 else ["dataset"]
    lookup = {}
    for r in mine.to_dict("records"):
        where = tuple(r[i] for i in index)
        lookup[(where, r[column])] = r
        lookup[(where, f"{r[column]} ({r['framework']})")] = r  # tables.part2_table's label when frameworks mix
    rows = []
    for label in numeric.index:
        key = label if isinstance(label, tuple) else (label,)
        row = [lookup.get((key, c)) for c in numeric.columns]
        rows.append({"label": " / ".join(map(str, key)),
                     "jobs": [None if r is None else {"key": r["key"], "outcome": r["outcome"],
                                                      "value": r.get("test_acc")} for r in row]})
    return {"title": title, "columns": [str(c) for c in numeric.columns], "rows": rows,
            "heatmap": plots.data_uri(heatmap, "image/png") if heatmap else None}


def render(context: dict[str, Any]) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["pct"] = lambda v: "—" if v is None or v != v else f"{100 * v:.1f} %"
    environment.filters["num"] = _number
    environment.filters["clock"] = clock
    return environment.get_template("index.html.j2").render(**context)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
