"""A Tune scheduler that runs one ASHA per cell inside a single Tuner.

All cells of a sweep share one Tuner so trials of different cells fill the cluster together, but early stopping
must only compare trials of the same cell (validation accuracy on `faces` says nothing about `spam`). Trials of
methods that report once (features_svm) pass through FIFO.
"""
from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

METRIC, MODE, TIME_ATTR = "val_acc", "max", "epochs"


class PerCellASHA(FIFOScheduler):
    def __init__(self, reduction_factor: float = 2, grace_period: int = 1):
        super().__init__()
        self._reduction_factor = reduction_factor
        self._grace_period = grace_period
        self._cells: dict[str, ASHAScheduler] = {}

    def _asha(self, trial) -> ASHAScheduler | None:
        spec: dict[str, Any] = trial.config["trial"]
        if not spec.get("epoch_based"):
            return None
        key = spec["cell_key"]
        if key not in self._cells:
            max_t = int(spec["max_epochs"])
            asha = spec.get("asha") or {}  # the budget may tune early stopping per method
            grace = int(asha.get("grace_period", self._grace_period))
            self._cells[key] = ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode=MODE, max_t=max_t,
                                             grace_period=min(grace, max_t),
                                             reduction_factor=float(asha.get("reduction_factor",
                                                                             self._reduction_factor)))
        return self._cells[key]

    def on_trial_add(self, tune_controller, trial) -> None:
        if asha := self._asha(trial):
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        asha = self._asha(trial)
        return asha.on_trial_result(tune_controller, trial, result) if asha else TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if asha := self._asha(trial):
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        if (asha := self._asha(trial)) and trial.trial_id in asha._trial_info:
            asha.on_trial_remove(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self.on_trial_error(tune_controller, trial)

    def debug_string(self) -> str:
        return f"One ASHA per cell ({len(self._cells)} cells)."
