"""What one sweep is asked to do (SweepOptions: jobs, budget, data, weights, storage, resume / fresh, where Ray runs),
validated once, and the error every driver stage raises when it cannot go on (ConfigError: one line to fix)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import store
from core.course import Group, Job
from sweeps.budgets import Budget
from sweeps.datasets import Catalog
from sweeps.storage import check_sweep_id


class ConfigError(ValueError):
    """The sweep cannot start; the message is one line saying what to fix."""


@dataclass
class SweepOptions:
    jobs: dict[Job, list[Group]]
    budget: Budget
    data_root: Path | str  # a folder, or an object-store URI that each node copies (trainables.data.sync)
    demo: bool
    weights: str
    storage: Path | str  # a folder, or an object-store URI (core.store)
    sweep_id: str
    seed: int = 0
    resume: bool = False
    fresh: bool = False
    address: str | None = None  # None: local Ray on this machine
    cpus_per_trial: int | None = None
    gpus_per_trial: float | None = None
    max_failures: int = 1
    shared_storage: bool = False  # the user vouches that every node sees --storage
    estimate_from: str | None = None  # a previous sweep whose measured hours estimate this one's (sweeps.cost.estimate)
    datasets: Catalog = field(default_factory=Catalog)  # the user's datasets, and course datasets living elsewhere
    test_fraction: float = 0.2  # of a dataset whose files hold no test split (held out here, stratified)
    upfront_request: bool = True  # on an autoscaling cluster, ask for the plan's first wave before Tune starts
    cache: bool = True  # decoded images and features kept on each node for every trial (False: --no-cache)
    mlflow: str | None = None  # an MLflow tracking URI every trial is logged to (sweeps.tracking.mlflow_log)
    command: str | None = None  # the command that continues this sweep (--resume), shown when its driver is gone

    def __post_init__(self) -> None:
        try:  # the id names the one folder this sweep may write and --fresh may delete
            check_sweep_id(self.sweep_id)
        except ValueError as exc:
            raise ConfigError(f"--sweep-id {exc}") from None

    @property
    def sweep_dir(self) -> str:
        return store.join(self.storage, self.sweep_id)
