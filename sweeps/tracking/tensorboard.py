"""Every trial's curves and searched parameters as TensorBoard shows them, written while the sweep runs.

Ray Tune writes TensorBoard event files for each trial by default, but under `ray/tune/<key>` tags for every number
in a report (timings, sizes, the test accuracy of the last epoch), stepped by Tune's iteration, with the whole trial
spec flattened into its HParams. `TrialBoard` takes its place (Tune adds its own only when no callback is a
`TBXLoggerCallback`): one TensorBoard run per trial in Tune's trial folder `<sweep>/tune/<trial id>` (the trial id
names the job and the sample), the ledger's per-epoch curves under their own names stepped by epoch (so a resumed
trial continues its curve), and when the trial ends its HParams: the job's facts and its searched parameters beside
its validation accuracy. Test accuracy is left out on purpose: it is the report's, for what validation chose.

View: `tensorboard --logdir <sweep>/tune`, or `python -m analysis tensorboard RUN` (which also reads a bucket).
"""
from __future__ import annotations

import math
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from core.ledger import CURVES
HPARAM_METRIC = "val_acc"


def hparams_of(config: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """A trial's HParams: which job it belongs to and its searched configuration (values TensorBoard can show:
    numbers, booleans and text; a list such as `hidden: [64, 32]` as its text)."""
    spec = config["trial"]
    job = spec["job"]
    facts: dict[str, Any] = {"dataset": job["dataset"], "model": job["model"], "method": job["method"],
                             "sample": spec["sample"]}
    for name, value in spec["params"].items():
        facts[name] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return facts


class TrialBoard(TBXLoggerCallback):
    """Tune's TensorBoard writer, with the course's names (see the module docstring)."""

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        step = int(result.get("epochs") or iteration)
        writer = self._trial_writer[trial]
        curves = {k: float(result[k]) for k in CURVES
                  if isinstance(result.get(k), (int, float)) and not math.isnan(result[k])}
        for name, value in curves.items():
            writer.add_scalar(name, value, global_step=step)
        self._trial_result[trial] = curves
        writer.flush()  # a curve should show while the trial runs, not 30 s later

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial not in self._trial_writer:
            return
        last = self._trial_result.pop(trial)
        writer = self._trial_writer.pop(trial)
        if HPARAM_METRIC in last:
            from tensorboardX.summary import hparams

            for summary in hparams(hparams_of(trial.config), {HPARAM_METRIC: last[HPARAM_METRIC]}):
                writer.file_writer.add_summary(summary)
        writer.close()
