"""--dry-run: the plan and its price before anything starts (the estimate from measured rows is in test_sweep)."""
from __future__ import annotations

import re

import pytest

from sweeps.budgets import load_budget
from core.course import Job, all_groups, expand
from tests.conftest import run_main


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path):
    result = run_main("--dry-run", "--budget", "full", "--storage", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    jobs = expand(all_groups())
    trials = sum(load_budget("full").method(c.method).num_samples for c in jobs)
    assert lines[0] == (f"plan for sweep full-demo: budget full, {len(jobs)} jobs, {trials} trials, "
                        "1 CPU + 0.25 GPU per trial")
    assert any(line.startswith("p1-caltech101-resnet18-finetune_aug") and line.split()[1:4] == ["16", "random", "30"]
               for line in lines)
    assert lines[-3].startswith("estimated: ") and "GPU-hours), about $" in lines[-3]
    spot = float(re.search(r"on demand, \$([0-9.]+) on spot at \$0.4/GPU-h", lines[-3]).group(1))
    assert spot == pytest.approx(0.25 * 0.40 * float(lines[-3].split()[1]), abs=0.006)  # of rounded figures
    expected = float(lines[-2].split(": ")[1].split()[0])
    assert lines[-2].startswith("expected with ASHA's early stops") and 0 < expected < float(lines[-3].split()[1])
    assert lines[-1] == "workers: the plan keeps 8 of the cluster's 8 busy (4 trials each; 36 waves of 32 trials)"
    assert not (tmp_path / "runs").exists()  # no storage, no demo data, no Ray


def test_the_planner_builds_typed_specs_that_survive_tunes_config(tmp_path, demo_root, make_options):
    """Every trial is a TrialSpec built once by the planner from the validated budget; Tune carries it as plain
    JSON-able values and run_trial rebuilds the same frozen object (nested caps, data and job included)."""
    import json

    from sweeps.launch import Placement
    from sweeps.planning import plan_trials
    from sweeps.preflight import check_data
    from core.plan import TrialSpec

    jobs = dict(list(expand(all_groups((2,))).items())[:2])
    options = make_options(jobs, demo_root)
    specs = plan_trials(options, check_data(jobs, demo_root, demo=True), Placement(cpus=1, gpus=0.0))
    assert specs and all(isinstance(s, TrialSpec) for s in specs)
    for spec in specs:
        assert TrialSpec.from_config(json.loads(json.dumps(spec.to_config()))) == spec
        assert spec.text == options.budget.text and spec.epochs <= spec.max_epochs


def test_every_named_budget_loads_and_a_shared_gpu_is_priced_slower():
    """Named budgets (gpu_check included) pass the load-time checks; the default estimate of a trial on a quarter of
    a card is its time alone times the measured sharing slowdown (sweeps.cost.estimate.SHARED_GPU_SLOWDOWN)."""
    from sweeps.cost import estimate
    from sweeps.budgets import list_budgets

    assert {"full", "smoke", "text_cpu", "gpu_check"} <= set(list_budgets())
    budgets = {name: load_budget(name) for name in list_budgets()}
    jobs = list(expand(all_groups((1,))))[:2]
    alone = estimate.plan_jobs(jobs, budgets["full"], gpus=1.0)
    shared = estimate.plan_jobs(jobs, budgets["full"], gpus=0.25)
    assert [s.hours_per_trial for s in shared] == pytest.approx(
        [a.hours_per_trial * estimate.SHARED_GPU_SLOWDOWN for a in alone])
    assert all("shared GPU" in s.source for s in shared) and not any("shared" in a.source for a in alone)


def test_a_plan_written_before_jobs_were_named_is_still_read(tmp_path):
    """sweep.json files from before the rename list the units of work under "cells": the analysis and --resume read
    them as "jobs" (rows are unchanged: their `cell` column is the recurrent cell type, as before)."""
    import json

    import pytest

    from core.results import load_manifest
    from sweeps.options import ConfigError
    from sweeps.sweep_folder import check_same_plan

    old = {"sweep_id": "s", "seed": 0, "cells": [{"key": "p2-spam-gru-recurrent"}]}
    (tmp_path / "sweep.json").write_text(json.dumps(old))
    assert load_manifest(tmp_path)["jobs"] == old["cells"]
    check_same_plan(str(tmp_path / "sweep.json"), {"seed": 0, "jobs": [{"key": "p2-spam-gru-recurrent"}]})
    with pytest.raises(ConfigError, match="another jobs"):
        check_same_plan(str(tmp_path / "sweep.json"), {"seed": 0, "jobs": [{"key": "p2-spam-lstm-recurrent"}]})


def test_no_cache_decodes_and_extracts_in_every_trial(demo_root, make_options):
    """--no-cache (SweepOptions.cache=False) reaches the trials as an empty cache_dir: two features_svm trials of one
    job both extract their own features and nothing is written under <storage>/cache; with the cache, the second
    trial reads the first one's features. The trials run outside Tune (trainables.trial.PLAIN), as bench does."""
    from core import ledger
    from core.course import Job
    from sweeps.runner import Placement, plan_sweep
    from sweeps.sweep_folder import write_splits
    from trainables.trial import PLAIN, run_trial

    jobs = {Job(1, "animals", "resnet18", "features_svm"): []}
    for cache, sweep_id in ((False, "off"), (True, "on")):
        options = make_options(jobs, demo_root, sweep_id=sweep_id, cache=cache)
        facts, trials = plan_sweep(options, Placement(cpus=1, gpus=0.0))
        write_splits(options, facts)
        assert len(trials) == 2 and all(bool(t.cache_dir) == cache for t in trials)
        for spec in trials:
            run_trial({"trial": spec.to_config()}, session=PLAIN)
        rows = [ledger.read_row(options.sweep_dir, t.trial_id) for t in trials]
        assert [r["status"] for r in rows] == ["ok", "ok"]
        assert [bool(r["features_cached"]) for r in rows] == ([False, True] if cache else [False, False])
        assert (options.storage / "cache").exists() == cache


def test_the_progress_line_ends_with_elapsed_and_remaining_time():
    """The remaining time is the sweep's pace so far (finished trials per second, trials side by side included)
    applied to the trials left, shown once three have finished; none on the last line."""
    from sweeps.tracking.progress import eta

    assert eta(35.0, 2, 8) == "   0:35 elapsed"
    assert eta(60.0, 3, 8) == "   1:00 elapsed, ~1:40 left"  # 20 s a trial, 5 to go
    assert eta(3600.0, 100, 1152) == "1:00:00 elapsed, ~10:31:12 left"
    assert eta(90.0, 8, 8) == "   1:30 elapsed"


def test_the_live_status_counts_the_plan_against_its_rows_and_this_runs_pace(tmp_path):
    """Eight planned trials in two jobs: an earlier driver run finished two, this one (started 10:00) finished three
    by 10:30 and has one running: 3 left, at this run's 10 minutes a trial."""
    import pandas as pd

    from analysis.live import live_status
    from core import cluster_use
    from core.cluster_use import ClusterUse

    a, b = "p1-animals-resnet18-finetune", "p2-spam-gru-recurrent"
    planned = [f"{a}-{i:02d}-abc" for i in range(4)] + [f"{b}-{i:02d}-abc" for i in range(4)]
    manifest = {"trials": planned, "jobs": [{"key": a}, {"key": b}]}
    ended_at = ["09:00", "09:10", "10:10", "10:20", "10:30"]
    rows = pd.DataFrame({"trial_id": planned[:6], "status": ["ok", "error", "ok", "stopped", "ok", "running"],
                         "epochs": [3, 1, 3, 2, 3, 1], "val_acc": [0.5, None, 0.6, 0.4, 0.7, 0.3],
                         "finished_utc": [f"2026-12-02T{t}:00+00:00" for t in ended_at + ["10:29"]]})
    cluster_use.write(str(tmp_path), ClusterUse("2026-12-02T10:00:00+00:00", 1, 0, 6, ()))
    now = pd.Timestamp("2026-12-02T10:30:00+00:00").to_pydatetime()
    status = live_status(manifest, rows, tmp_path, now)
    assert (status.total, status.ended, status.waiting) == (8, 5, 2)
    assert [(t.trial_id, t.job, t.epoch, t.val_acc, t.updated_s) for t in status.running] == \
        [(planned[5], b, 1, 0.3, 60.0)]
    assert status.jobs == {a: "done", b: "running"} and status.counts == {"done": 1, "running": 1, "waiting": 0}
    assert status.remaining_s == 3 * 600  # 3 trials left (1 running, 2 waiting) at 30 min / 3
    assert status.finish_utc == "2026-12-02T11:00+00:00" and not status.complete
    assert live_status(manifest, rows.head(2), tmp_path, now).remaining_s is None  # none finished in this run yet


def test_expected_epochs_follow_rays_asha_rule():
    """sweeps.cost.expected plays out the rule of Ray's own ASHA bracket: the same rungs, and for trials arriving in
    one order with given accuracies, the same trials stopped at the same rungs; a job's expected epochs lie between
    the first rung and the maximum, fewer with more trials to compare, all of them with one trial."""
    import random

    from ray.tune.schedulers import TrialScheduler
    from ray.tune.schedulers.async_hyperband import _Bracket

    from core.plan import Asha
    from sweeps.cost.expected import expected_epochs, milestones, play

    class Trial:
        def __init__(self, trial_id: str):
            self.trial_id = trial_id

    rng = random.Random(1)
    for max_epochs, asha in ((20, Asha(3, 3)), (30, Asha(5, 3)), (2, Asha(1, 2)), (8, Asha(1, 2))):
        bracket = _Bracket(asha.grace_period, max_epochs, asha.reduction_factor, 0, True)
        assert sorted(m for m, _ in bracket._rungs) == milestones(max_epochs, asha)
        qualities = [rng.random() for _ in range(12)]
        rays = []
        for n, quality in enumerate(qualities):
            trial, epochs = Trial(str(n)), max_epochs
            for epoch in range(1, max_epochs):
                if bracket.on_result(trial, epoch, quality) == TrialScheduler.STOP:
                    epochs = epoch
                    break
            rays.append(epochs)
        assert play(qualities, max_epochs, asha) == rays, (max_epochs, asha)
    few, many = expected_epochs(3, 20, Asha(3, 3)), expected_epochs(16, 20, Asha(3, 3))
    assert 3 < many < few < 20 and expected_epochs(1, 20, Asha(3, 3)) == 20
