"""A sweep, start to end: jobs -> checked data -> sampled trials -> one Ray Tune run -> Parquet rows -> summary.

`run_sweep` is the composition of the driver's stages, each a module of its own:

    sweeps.preflight     every check that needs no Ray (names, data, weights, storage); the datasets' facts
    sweeps.sweep_folder  one driver (sweeps.lock), --fresh / --resume, the plan written, what is left to run
    sweeps.launch        Ray started or joined, each trial's placement, the Tune run
    sweeps.planning      every trial as a TrialSpec
    sweeps.summary       what the sweep did, from its rows

Everything that can be wrong with the input is checked before any trial starts. The results folder holds
`sweep.json` (the plan), `trials/` (one row per trial) and `history/`; the rows are the ledger: `--resume` skips
every trial whose row says ok or stopped.
"""
from __future__ import annotations

import time

from core.plan import TrialSpec
from sweeps.interrupt import SignalStop
from sweeps.launch import Placement, ray_session, run_tune, tracking
from sweeps.lock import DriverLock
from sweeps.options import ConfigError, SweepOptions
from sweeps.planning import describe_data, plan_estimate, plan_trials
from sweeps.preflight import DatasetFacts, preflight
from sweeps.summary import Summary, summarize
from sweeps.sweep_folder import open_sweep, prepare_sweep_dir

__all__ = ["ConfigError", "Placement", "SweepOptions", "Summary", "plan_sweep", "run_sweep"]


def run_sweep(options: SweepOptions) -> Summary:
    """Check everything, then run every unfinished trial; returns the summary (raises ConfigError early)."""
    t0 = time.time()
    with SignalStop() as stop:
        facts = preflight(options)
        # --mlflow's server probed before the lock is taken: a refusal leaves nothing behind
        with tracking(options, stop) as tracker, DriverLock(options.storage, options.sweep_id):
            open_sweep(options)
            with ray_session(options, stop) as placement:
                trials = plan_trials(options, facts, placement)
                todo = prepare_sweep_dir(options, trials, plan_estimate(options, placement), describe_data(facts),
                                         facts)
                announce(options, len(trials), len(todo), placement)
                if todo:
                    run_tune(options, todo, stop, tracker)
            return summarize(options, trials, t0)


def plan_sweep(options: SweepOptions, placement: Placement) -> tuple[dict[str, DatasetFacts], list[TrialSpec]]:
    """The preflight and the trials, without Ray or a sweep folder (for a bench that times the trials itself: it
    writes the plan with sweeps.sweep_folder.prepare_sweep_dir and runs them in sweeps.launch.ray_session)."""
    facts = preflight(options)
    return facts, plan_trials(options, facts, placement)


def announce(options: SweepOptions, trials: int, todo: int, placement: Placement) -> None:
    print(f"sweep {options.sweep_id}: {len(options.jobs)} jobs, {trials} trials ({trials - todo} already "
          f"finished), budget {options.budget.name}, weights {options.weights}, {placement.cpus} CPU + "
          f"{placement.gpus:g} GPU per trial", flush=True)
