"""Model-based search for the jobs whose budget says `search: tpe`, with the ledger as the truth.

A random job's configurations are drawn by the plan (sweeps.planning), so its trial ids name them. A tpe job's
trials are slots (`<job key>-<NN>-tpe`) whose configuration Optuna's TPE — through Ray Tune's `OptunaSearch`, one
per job, seeded by the sweep seed and the job — chooses when the slot starts, from the job's trials finished so far
(their validation accuracy). A sweep with such jobs runs its trials through `SweepSearcher`, a Tune `Searcher` that
hands out the plan's trials in the plan's order, asking a tpe job's searcher for each of its slots and telling it
each finished trial's validation accuracy.

On `--resume` the searchers are rebuilt from the rows: every finished trial of a tpe job (ok or stopped, with a
validation accuracy) is told to its job's searcher before anything is asked (OptunaSearch's evaluated points), so
no finished trial is forgotten or run again; a slot whose row already holds a configuration (a trial interrupted
mid-run) runs that configuration again, from its checkpoint, instead of asking anew. Only validation accuracy is
ever told: test accuracy never reaches a searcher.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ray.tune.search import Searcher

from core import ledger
from core.plan import TrialSpec
from sweeps.budgets import derive_seed
from sweeps.domains import Choice, LogUniform, RandInt, Uniform
from sweeps.options import SweepOptions

METRIC = "val_acc"


def optuna_space(space: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A budget's space as Optuna distributions (its domains) and constants (its fixed values)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    convert = {Choice: lambda d: CategoricalDistribution(list(d.values)),
               Uniform: lambda d: FloatDistribution(d.lower, d.upper),
               LogUniform: lambda d: FloatDistribution(d.lower, d.upper, log=True),
               RandInt: lambda d: IntDistribution(d.lower, d.upper - 1)}  # randint's high is excluded
    searched = {k: convert[type(v)](v) for k, v in space.items() if type(v) in convert}
    return searched, {k: v for k, v in space.items() if k not in searched}


def startup_trials(trials: int) -> int:
    """Random trials before TPE models a job of `trials`: a third of them, at least 2 and at most Optuna's 10."""
    return max(2, min(10, trials // 3))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class JobSearch:
    """One tpe job: its OptunaSearch, told the job's finished trials, and its constants."""

    def __init__(self, space: dict[str, Any], trials: int, seed: int, finished: list[tuple[dict, float]]):
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study: ours says what it was told
        self.searched, self.constants = optuna_space(space)
        points = [{k: p[k] for k in self.searched} for p, _ in finished]
        # TPE models the trials once a few random ones have finished (Optuna's default waits for 10, which would
        # make a job of 10 trials a random search); constant_liar: trials running side by side are not asked the
        # same point. The seed counts the finished trials: a resumed driver does not replay the first one's draws.
        sampler = optuna.samplers.TPESampler(seed=seed + len(finished), n_startup_trials=startup_trials(trials),
                                             constant_liar=True)
        self.optuna = OptunaSearch(self.searched, metric=METRIC, mode="max", sampler=sampler,
                                   points_to_evaluate=points or None,
                                   evaluated_rewards=[v for _, v in finished] or None)
        self.told = len(finished)

    def ask(self, tune_trial_id: str) -> dict[str, Any]:
        return self.constants | {k: _plain(v) for k, v in self.optuna.suggest(tune_trial_id).items()}


class SweepSearcher(Searcher):
    """Tune's searcher for a sweep with tpe jobs (see the module docstring)."""

    def __init__(self, trials: list[TrialSpec], run: str, jobs: dict[str, JobSearch]):
        super().__init__(metric=METRIC, mode="max")
        self.queue = list(trials)
        self.run = run
        self.jobs = jobs
        self.asked: dict[str, str] = {}  # Tune's trial id -> job key

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # the trials carry their own configuration

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not self.queue:
            return Searcher.FINISHED
        spec = self.queue.pop(0)
        if spec.search != "random" and not spec.params:
            spec = dataclasses.replace(spec, params=self.jobs[spec.job.key].ask(trial_id))
            self.asked[trial_id] = spec.job.key
        return {"trial": spec.to_config(), "run": self.run}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        key = self.asked.pop(trial_id, None)
        if key is not None:  # a stopped trial's last validation accuracy is what it reached
            self.jobs[key].optuna.on_trial_complete(trial_id, result, error or not result or METRIC not in result)


def searched_trials(options: SweepOptions, trials: list[TrialSpec]) -> tuple[list[TrialSpec], dict[str, JobSearch]]:
    """The trials to run — a tpe slot whose row holds a configuration keeps it — and a searcher per tpe job, told
    the job's finished trials from their rows."""
    schema = ledger.row_schema(trials[0].param_types) if trials else None
    jobs: dict[str, JobSearch] = {}
    rows: dict[str, dict] = {}  # the tpe jobs' stored rows, by trial id
    out = []
    for spec in trials:
        job, mb = spec.job, options.budget.method(spec.job.method)
        if spec.search == "random":
            out.append(spec)
            continue
        space = mb.space_for(job.dataset)
        if job.key not in jobs:
            slots = [f"{job.key}-{i:02d}-{spec.search}" for i in range(mb.num_samples)]
            mine = {t: r for t, r in ledger.read_rows(options.sweep_dir, slots, schema).items() if r}
            rows |= mine
            finished = [(_params(r, space), float(r[METRIC])) for r in mine.values() if _told(r)]
            jobs[job.key] = JobSearch(space, mb.num_samples, derive_seed(options.seed, job.key, spec.search),
                                      finished)
        row = rows.get(spec.trial_id)
        out.append(dataclasses.replace(spec, params=_params(row, space)) if row else spec)
    return out, jobs


def _told(row: dict) -> bool:
    """A finished trial whose validation accuracy its job's searcher learns from."""
    value = row.get(METRIC)
    return row["status"] in ledger.FINISHED and value is not None and value == value


def _params(row: dict, space: dict[str, Any]) -> dict[str, Any]:
    """The configuration a row records (its param_* columns of the job's space; NaN / None: not recorded)."""
    values = {k: row.get(f"param_{k}") for k in space}
    return {k: _plain(v) for k, v in values.items() if v is not None and v == v}
