"""What the tests on a cluster (the loopback one, the autoscaling one) share: reading a sweep's rows while its
trials write them, and waiting for a state of the sweep."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from core import ledger, store


def rows(sweep_dir: Path) -> pd.DataFrame:
    """Every row now. Each file is read whole first (store.read_parquet), as the harness reads them: pyarrow reading
    a path sizes the file before it reads it, and a trial replacing its row in between reads as a torn file."""
    files = sorted((sweep_dir / "trials").glob("*.parquet"))
    return pd.concat([store.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def wait_for(predicate, what: str, timeout: float = 240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()  # None until ready
        if value is not None:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def running_at(sweep_dir: Path, dataset: str, min_epoch: int, cell: str | None = None):
    """The row of `dataset`'s trial (of that recurrent `cell`, if given) once it has checkpointed `min_epoch` epochs
    and is still running."""
    frame = rows(sweep_dir)
    if frame.empty:
        return None
    mine = frame[(frame["dataset"] == dataset) & (frame["status"] == "running") & (frame["epochs"] >= min_epoch)
                 & ((frame["cell"] == cell) if cell else True)]
    if mine.empty:
        return None
    committed = Path(ledger.checkpoint_path(sweep_dir, mine.iloc[0]["trial_id"])) / "latest.json"
    return mine.iloc[0] if committed.exists() else None


def ledger_still(sweep_dir: Path, seconds: float):
    """True once no row has changed for `seconds` (the cluster has ended a dead driver's trials), else None."""
    newest = max(p.stat().st_mtime for p in (sweep_dir / "trials").glob("*.parquet"))
    return True if time.time() - newest >= seconds else None


def epochs_of(sweep_dir: Path, trial_id: str) -> list[int]:
    return list(pd.read_parquet(ledger.history_path(sweep_dir, trial_id))["epoch"])
