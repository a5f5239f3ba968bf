"""Comparison tables as pivots over the results table, with a deterministic sort in the course's order.

Model selection is honest: each cell's best trial is the finished one with the highest validation accuracy, and
the tables show that trial's test accuracy. Cells that failed or never ran stay in every table as `error` / `missing`.
"""
from __future__ import annotations

import pandas as pd

from trainables.registry import BACKBONES, CELLS, DATASETS, METHODS

FINISHED = ("ok", "stopped")
_ORDER = {name: i for i, name in enumerate(DATASETS.names() + BACKBONES.names() + CELLS.names() + METHODS.names())}


def _rank(values: pd.Series) -> pd.Series:
    return values.map(lambda v: _ORDER.get(v, len(_ORDER)))


def cell_results(manifest: dict, trials: pd.DataFrame) -> pd.DataFrame:
    """One row per planned cell: outcome, number of trials per status, and the selected trial's numbers."""
    rows = []
    for cell in manifest["cells"]:
        model_col = "model" if cell["part"] == 1 else "cell"
        mine = trials[(trials["part"] == cell["part"]) & (trials["dataset"] == cell["dataset"])
                      & (trials[model_col] == cell["model"]) & (trials["method"] == cell["method"])
                      & (trials["framework"] == cell["framework"])]
        done = mine[mine["status"].isin(FINISHED) & mine["test_acc"].notna()]
        row = {"part": cell["part"], "dataset": cell["dataset"], "model": cell["model"], "method": cell["method"],
               "framework": cell["framework"], "groups": " ".join(cell["groups"]), "trials": len(mine),
               "trials_error": int((mine["status"] == "error").sum())}
        if len(done):
            best = done.sort_values(["val_acc", "trial_id"], ascending=[False, True]).iloc[0]
            row.update(outcome="ok", test_acc=best["test_acc"], val_acc=best["val_acc"],
                       test_macro_f1=best["test_macro_f1"], best_trial=best["trial_id"])
        else:
            errors = mine["error"].dropna()
            row.update(outcome="error" if len(errors) else "missing", error=errors.iloc[0] if len(errors) else None)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    keys = [frame["part"], _rank(frame["dataset"]), _rank(frame["model"]), _rank(frame["method"])]
    order = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)}).sort_values([f"k{i}" for i in range(4)]).index
    return frame.loc[order].reset_index(drop=True)


def _display(cells: pd.DataFrame) -> pd.Series:
    """test_acc as text, or the outcome when there is no number (failures stay visible)."""
    return cells.apply(lambda r: f"{r['test_acc']:.3f}" if r["outcome"] == "ok" else r["outcome"], axis=1)


def pivot(cells: pd.DataFrame, part: int, index: list[str], column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numeric pivot of test accuracy, display pivot with error/missing marks), rows and columns in course order."""
    mine = cells[cells["part"] == part]
    if mine.empty:
        return pd.DataFrame(), pd.DataFrame()
    numeric = mine.pivot_table(index=index, columns=column, values="test_acc", aggfunc="first", dropna=False,
                               sort=False)
    shown = mine.assign(shown=_display(mine)).pivot(index=index, columns=column, values="shown")
    columns = sorted(mine[column].unique(), key=lambda v: (_ORDER.get(str(v).split(" ")[0], len(_ORDER)), str(v)))
    rows = list(dict.fromkeys(map(tuple, mine[index].itertuples(index=False))))
    rows = rows if len(index) > 1 else [r[0] for r in rows]
    return numeric.reindex(index=rows, columns=columns), shown.reindex(index=rows, columns=columns).fillna("missing")


def part1_table(cells: pd.DataFrame):
    return pivot(cells, 1, ["dataset", "model"], "method")


def part2_table(cells: pd.DataFrame):
    """dataset x cell type; when a sweep ran both frameworks, each cell type appears once per framework."""
    mine = cells[cells["part"] == 2] if len(cells) else cells
    if len(mine) and mine["framework"].nunique() > 1:
        cells = cells.assign(model=cells["model"].where(cells["part"] != 2,
                                                        cells["model"] + " (" + cells["framework"] + ")"))
    return pivot(cells, 2, ["dataset"], "model")


def groups_table(manifest: dict, cells: pd.DataFrame, part: int) -> pd.DataFrame:
    """Each group of one part in the course's assignment order, with its assignment and its cells' results."""
    from sweeps.groups import Group, group_cells

    from trainables.registry import METHODS

    lookup = {(r.part, r.dataset, r.model, r.method): r for r in cells.itertuples(index=False)
              if r.framework == METHODS.get(r.method).framework}  # groups are assigned the handout's framework
    numbers = sorted(int(g.split("G")[1]) for g in manifest["groups"] if g.startswith(f"P{part}G"))
    rows = []
    for number in numbers:
        row: dict = {"group": number}
        for i, cell in enumerate(group_cells(Group(part, number)), start=1):
            hit = lookup.get((cell.part, cell.dataset, cell.model, cell.method))
            value = "missing" if hit is None else (f"{hit.test_acc:.3f}" if hit.outcome == "ok" else hit.outcome)
            if part == 1:
                row.update(dataset=cell.dataset, model=cell.model, **{cell.method: value})
            else:
                row.update(cell=cell.model, **{f"dataset_{i}": cell.dataset, f"test_acc_{i}": value})
        rows.append(row)
    return pd.DataFrame(rows)
