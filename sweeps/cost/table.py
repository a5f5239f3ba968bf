"""Measured trial costs (sweeps/costs/<name>.yaml), read by the estimator in place of the per-method defaults.

A table is what `bench/cost_table.py` measured through the harness on one machine: for each backbone x Part 1
method and each text dataset x cell type, the milliseconds a trial spends per training item per epoch (its wall
time less its start), alone on the card and at the `full` budget's sharing, plus the seconds a trial takes to
start, at each backbone's own input size (a plan at another size keeps the defaults). It names the card and
driver it ran on, the date and the command, so an estimate read from it says where its figures came from. A job
the table lacks keeps the default per method, and the plan says so.

    card: NVIDIA H200 (driver 570.86, CUDA 12.8)
    device: gpu                 # gpu or cpu: which plans it prices
    date: 2026-12-03
    command: python bench/cost_table.py --data-root ... --out sweeps/costs/h200.yaml
    start_s: {alone: 21.0, shared: 30.5}   # a CPU table: alone only
    ms_per_item_epoch:          # "<backbone> <method>" for Part 1, "<dataset> <cell>" for Part 2
      resnet18 finetune: {alone: 1.9, shared: 2.6}
      sentiment gru: {alone: 0.8, shared: 1.1}
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from core import yamlfile
from core.course import Job
from core.registry import BACKBONES, METHODS

COST_DIR = Path(__file__).resolve().parents[1] / "costs"
SHARES = ("alone", "shared")  # one trial per card; the full budget's 0.25 GPU per trial


class CostTableError(ValueError):
    """A cost table is missing or malformed."""


@dataclass(frozen=True)
class CostTable:
    path: str
    card: str
    device: str  # "gpu" or "cpu"
    date: str
    command: str
    start_s: dict[str, float]  # share -> seconds
    ms_per_item_epoch: dict[str, dict[str, float]]  # entry ("resnet18 finetune") -> share -> ms

    def entry(self, job: Job) -> str:
        return entry_name(job.dataset, job.model, job.method, job.framework)

    def hours(self, job: Job, items: int, epochs: int, gpus: float) -> float | None:
        """A trial's hours for `items` training items x `epochs` at this share of a card; None: not measured."""
        share = SHARES[1] if 0 < gpus < 1 else SHARES[0]
        per_item = self.ms_per_item_epoch.get(self.entry(job), {}).get(share)
        if per_item is None:
            return None
        return (self.start_s[share] + per_item * items * epochs / 1000.0) / 3600.0


def entry_name(dataset: str, model: str, method: str, framework: str = "") -> str:
    """A job's name in a table: its backbone and method (Part 1: an image costs the same in every dataset at one
    input side) or its dataset and cell type (Part 2: texts differ in length), and a framework other than the
    method's own (the PyTorch twin)."""
    other = f" {framework}" if framework and framework != METHODS.get(method).framework else ""
    return (f"{model} {method}" if model in BACKBONES else f"{dataset} {model}") + other


def _shares(where: str, value: object, shares: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) != set(shares) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()):
        expected = ", ".join(f"{s}: <number>" for s in shares)
        raise CostTableError(f"{where}: expected {{{expected}}} (non-negative), got {value!r}")
    return {k: float(v) for k, v in value.items()}


def shares_of(device: str) -> tuple[str, ...]:
    """The shares a table on this device measures: a CPU trial has its cores to itself, a GPU trial may share."""
    return SHARES if device == "gpu" else SHARES[:1]


def load_cost_table(path: str | Path) -> CostTable:
    """One table, checked whole: every field present and typed; an error names the file and the field."""
    path = Path(path)
    try:
        raw = yamlfile.loads(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CostTableError(yamlfile.describe_error(path, exc)) from None
    fields = ("card", "device", "date", "command", "start_s", "ms_per_item_epoch")
    if not isinstance(raw, dict) or set(raw) != set(fields):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CostTableError(f"{path}: expected the fields {', '.join(fields)}; got {got}")
    if raw["device"] not in ("gpu", "cpu"):
        raise CostTableError(f"{path}: device: expected gpu or cpu, got {raw['device']!r}")
    entries = raw["ms_per_item_epoch"]
    if not isinstance(entries, dict) or not entries:
        raise CostTableError(f"{path}: ms_per_item_epoch: expected a mapping of entries like 'resnet18 finetune'")
    shares = shares_of(raw["device"])
    return CostTable(str(path), str(raw["card"]), raw["device"], str(raw["date"]), str(raw["command"]),
                     _shares(f"{path}: start_s", raw["start_s"], shares),
                     {str(k): _shares(f"{path}: ms_per_item_epoch.{k}", v, shares) for k, v in entries.items()})


def table_for(gpus: float, folder: Path = COST_DIR) -> CostTable | None:
    """The newest table measured on the plan's kind of device (GPU when trials take a GPU), or None."""
    device = "gpu" if gpus > 0 else "cpu"
    tables = [load_cost_table(p) for p in sorted(folder.glob("*.yaml"))]
    mine = sorted((t for t in tables if t.device == device), key=lambda t: t.date)
    return mine[-1] if mine else None


def derive(runs: list[str]) -> dict:
    """A table's measured part from finished runs' rows: per entry and share, the mean of each trial's wall time less
    its start (import_s) per training item per epoch, and the mean start. Trials on a whole card count as `alone`,
    on a share of one as `shared`; a share no run measured is left out (the table then needs another run)."""
    import pandas as pd

    from core.results import load_trials

    frames = [load_trials(run) for run in runs]
    rows = pd.concat(frames, ignore_index=True)
    done = rows[rows["status"].isin(["ok", "stopped"]) & (rows["n_train"] > 0) & (rows["epochs"] > 0)].copy()
    if done.empty:
        raise CostTableError(f"{', '.join(runs)}: no completed trial with its items and epochs to measure")
    done["share"] = [SHARES[1] if 0 < g < 1 else SHARES[0] for g in done["gpus"].fillna(0)]
    done["ms"] = (done["wall_s"] - done["import_s"]) / (done["n_train"] * done["epochs"]) * 1000.0
    models = done["model"].where(done["model"].notna(), done["cell"])  # text rows name their cell type
    done["entry"] = [entry_name(d, m, meth, f) for d, m, meth, f in
                     zip(done["dataset"], models, done["method"], done["framework"])]
    per_entry: dict[str, dict[str, float]] = {}
    for (entry, share), mine in done.groupby(["entry", "share"]):
        per_entry.setdefault(entry, {})[share] = round(float(mine["ms"].mean()), 4)
    start = done.groupby("share")["import_s"].mean()
    return {"start_s": {share: round(float(v), 2) for share, v in start.items()},
            "ms_per_item_epoch": dict(sorted(per_entry.items()))}
