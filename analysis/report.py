"""Render a sweep's results under <sweep>/reports/: the HTML report (analysis.html), and the Markdown, CSV and PNG
heatmaps that scripts and READMEs take."""
from __future__ import annotations

import os

import pandas as pd

from analysis import cost, html, plots, tables
from analysis.live import UNFINISHED, LiveStatus
from core.prices import Prices
from core.results import load_manifest, load_scores, load_trials
from core import store
from core.ledger import write_text_atomic


def markdown(frame: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table without optional dependencies."""
    if frame.empty:
        return "_(nothing planned)_\n"
    frame = frame.reset_index() if index else frame
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def build_report(sweep_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                 prices: Prices = Prices(), live: LiveStatus | None = None, refresh_s: float = 60) -> str:
    """Compute every table for one sweep, write them under `out` (default <sweep>/reports, a folder or a store
    URI like the sweep itself), and return the Markdown report. With `live` (the sweep still runs: analysis.live)
    a job without a result yet is running or waiting, not failed, and the page says where the sweep stands."""
    manifest = load_manifest(sweep_dir)
    trials = load_trials(sweep_dir, manifest)
    jobs = tables.job_results(manifest, trials, lambda ids: load_scores(sweep_dir, ids))
    if live is not None and not live.stopped and len(jobs):
        state = jobs["key"].map(live.jobs)
        unfinished = (jobs["outcome"] != "ok") & state.isin(UNFINISHED)
        jobs.loc[unfinished, "outcome"] = state[unfinished]
        jobs.loc[unfinished, "error"] = None
    out = str(out or store.join(sweep_dir, "reports"))
    p1_num, p1_shown = tables.part1_table(jobs)
    p2_num, p2_shown = tables.part2_table(jobs)
    groups1, groups2 = tables.groups_table(manifest, jobs, 1), tables.groups_table(manifest, jobs, 2)
    counts = trials["status"].value_counts().sort_index().to_dict() if len(trials) else {}
    note = " — generated demo data, numbers mean nothing" if manifest.get("demo_data") else ""
    sections = [
        f"# Sweep {manifest['sweep_id']} (budget {manifest['budget']}, weights {manifest['weights']}){note}\n",
        f"{len(jobs)} jobs, {int((jobs['outcome'] == 'ok').sum()) if len(jobs) else 0} with results; trials: "
        + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none") + ".\n"
        "Each number is the test accuracy of the job's trial with the best validation accuracy.\n",
        "## Datasets\n", markdown(pd.DataFrame(html.datasets_table(manifest)), index=False),
        "## Part 1: best test accuracy, dataset × model × method\n", markdown(p1_shown),
        "## Part 2: best test accuracy, dataset × cell type\n", markdown(p2_shown),
        "## Above chance: jobs whose selected trial reaches 2x chance on test, per method\n",
        markdown(tables.above_chance(jobs, trials), index=False),
        "## Part 1 groups (course order)\n", markdown(groups1, index=False),
        "## Part 2 groups (course order)\n", markdown(groups2, index=False),
    ]
    with_ensembles = jobs[jobs["top5_test_acc"].notna()] if len(jobs) else jobs
    if len(with_ensembles):
        sections += ["## Ensembles, chosen on validation (beside the single selected trial)\n",
                     markdown(with_ensembles[["part", "dataset", "model", "method", "framework", "val_acc", "test_acc",
                                              "top5_val_acc", "top5_test_acc", "greedy_val_acc",
                                              "greedy_test_acc"]].round(4), index=False)]
    capped = jobs[jobs["n_test"] < jobs["n_test_files"]] if len(jobs) else jobs
    if len(capped):
        shown = [f"{r.key} {int(r.n_test)} of {int(r.n_test_files)}" for r in capped.head(5).itertuples()]
        more = f" and {len(capped) - 5} more (jobs.csv: n_test, n_test_files)" if len(capped) > 5 else ""
        sections += [f"**{len(capped)} job(s) were tested on a capped test set** (the budget's caps): "
                     + ", ".join(shown) + more + ".\n"]
    forecast = cost.against_estimate(manifest, trials)
    if len(forecast):
        sections += ["## The plan's estimate against what the trials took (wall seconds per trial)\n",
                     markdown(forecast, index=False)]
    failed = jobs[~jobs["outcome"].isin(("ok",) + UNFINISHED)] if len(jobs) else jobs
    if len(failed):
        sections += ["## Failed or missing jobs\n",
                     markdown(failed[["part", "dataset", "model", "method", "outcome", "error"]], index=False)]
    text = "\n".join(sections)
    write_text_atomic(text, store.join(out, "report.md"))
    per_job = cost.against_estimate(manifest, trials, by="key")
    for name, frame in (("jobs", jobs), ("part1", p1_num), ("part2", p2_num), ("groups_part1", groups1),
                        ("groups_part2", groups2), ("estimate_vs_actual", per_job)):
        write_text_atomic(frame.to_csv(index=name in ("part1", "part2")), store.join(out, f"{name}.csv"))
    heatmaps = {}
    for part, numeric in ((1, p1_num), (2, p2_num)):
        heatmaps[part] = plots.heatmap_png(numeric, f"Part {part}: test accuracy")
        if heatmaps[part]:
            store.write_bytes(heatmaps[part], store.join(out, f"part{part}.png"))
    page = html.render(html.build_context(manifest, trials, jobs, sweep_dir, prices, heatmaps, live, refresh_s))
    write_text_atomic(page, store.join(out, "index.html"))
    return text
