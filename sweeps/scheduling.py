"""A Tune scheduler that runs one ASHA per job inside a single Tuner.

All jobs of a sweep share one Tuner so trials of different jobs fill the cluster together, but early stopping
must only compare trials of the same job (validation accuracy on `faces` says nothing about `spam`). Trials of
methods that report once (features_svm) pass through FIFO. The driver hands the settings over per job (epochs and
the budget's `asha:`); the trials' configs only say which job each belongs to.
"""
from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from core.plan import Asha, Job

METRIC, MODE, TIME_ATTR = "val_acc", "max", "epochs"


class PerJobASHA(FIFOScheduler):
    def __init__(self, settings: dict[str, tuple[int, Asha]]):
        """settings: job key -> (max epochs, ASHA settings) for the jobs whose method reports epochs."""
        super().__init__()
        self._settings = settings
        self._jobs: dict[str, ASHAScheduler] = {}

    def _asha(self, trial) -> ASHAScheduler | None:
        key = Job(**trial.config["trial"]["job"]).key
        if key not in self._settings:
            return None
        if key not in self._jobs:
            max_t, asha = self._settings[key]
            self._jobs[key] = ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode=MODE, max_t=max_t,
                                            grace_period=min(asha.grace_period, max_t),
                                            reduction_factor=float(asha.reduction_factor))
        return self._jobs[key]

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
        return f"One ASHA per job ({len(self._jobs)} jobs)."
