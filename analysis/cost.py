"""What a sweep cost: trial hours by device kind (each trial's wall time times the CPUs or GPUs it reserved), an
estimated price (core.prices), and the sweep's wall time.
"""
from __future__ import annotations

import pandas as pd

from core.prices import Prices


def device_kind(device: pd.Series) -> pd.Series:
    """'GPU' for trials that ran on a CUDA device, else 'CPU'."""
    text = device.fillna("").astype(str).str.lower()
    return text.str.contains("cuda|gpu").map({True: "GPU", False: "CPU"})


def trial_hours(trials: pd.DataFrame) -> pd.DataFrame:
    """Per trial: device kind and resource-hours (GPU-hours on a GPU, vCPU-hours otherwise); rows without a
    wall time (never started) count zero. Rows from before `cpus`/`gpus` were recorded count one of each."""
    kind = device_kind(trials["device"]) if len(trials) else pd.Series(dtype=str)
    units = pd.Series(1.0, index=trials.index)
    for column, which in (("gpus", "GPU"), ("cpus", "CPU")):
        if column in trials:
            reserved = pd.to_numeric(trials[column], errors="coerce").where(lambda v: v > 0)
            units = units.where(kind != which, reserved.fillna(1.0))
    hours = pd.to_numeric(trials["wall_s"], errors="coerce").fillna(0.0) / 3600.0 * units
    return pd.DataFrame({"kind": kind, "hours": hours}, index=trials.index)


def summary(trials: pd.DataFrame, prices: Prices = Prices()) -> dict:
    """GPU-h, CPU-h, estimated cost and the sweep's wall time (first start to last finish)."""
    hours = trial_hours(trials)
    gpu_h = float(hours.loc[hours["kind"] == "GPU", "hours"].sum())
    cpu_h = float(hours.loc[hours["kind"] == "CPU", "hours"].sum())
    started = pd.to_datetime(trials.get("started_utc"), errors="coerce", utc=True)
    finished = pd.to_datetime(trials.get("finished_utc"), errors="coerce", utc=True)
    wall = (finished.max() - started.min()).total_seconds() if len(trials) and started.notna().any() else 0.0
    return {"gpu_hours": gpu_h, "cpu_hours": cpu_h, "cost": gpu_h * prices.gpu_hour + cpu_h * prices.cpu_hour,
            "cost_spot": gpu_h * prices.gpu_hour_spot + cpu_h * prices.cpu_hour,  # GPU workers on spot
            "wall_s": wall, "prices": prices}


def against_estimate(manifest: dict, trials: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """The plan's estimate per trial against what the ended trials took (wall seconds), per method (`by="key"`: per
    job): the expected figure (ASHA's stops counted), the upper bound, the actual mean and actual / expected. Empty
    for a sweep whose plan recorded no per-job estimate."""
    from core.ledger import job_key

    jobs = (manifest.get("estimate") or {}).get("jobs") or {}
    columns = [by, "trials", "expected_s", "upper_s", "actual_s", "actual_over_expected"]
    if not jobs or trials.empty:
        return pd.DataFrame(columns=columns)
    ended = trials[trials["status"].isin(["ok", "stopped", "error"]) & trials["wall_s"].notna()].copy()
    ended["key"] = job_key(ended) if len(ended) else []
    ended = ended[ended["key"].isin(jobs)]
    if ended.empty:
        return pd.DataFrame(columns=columns)
    ended["expected_s"] = [jobs[k]["expected_hours_per_trial"] * 3600 for k in ended["key"]]
    ended["upper_s"] = [jobs[k]["hours_per_trial"] * 3600 for k in ended["key"]]
    table = ended.groupby(by).agg(trials=("wall_s", "size"), expected_s=("expected_s", "mean"),
                                  upper_s=("upper_s", "mean"), actual_s=("wall_s", "mean")).reset_index()
    table["actual_over_expected"] = table["actual_s"] / table["expected_s"]
    return table[columns].round({"expected_s": 1, "upper_s": 1, "actual_s": 1, "actual_over_expected": 3})
