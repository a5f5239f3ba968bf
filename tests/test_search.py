"""`search: tpe`: a job's configurations chosen by Optuna's TPE through Ray Tune's OptunaSearch (sweeps.search).

The budget is checked at load like the rest; a real TPE sweep (one trial at a time) is SIGKILLed once one of its
four trials finished, and resumed: the searcher is rebuilt from the rows (told what finished), no finished trial
runs again, an interrupted one keeps its configuration, and while it ran Tune kept every waiting trial pending — as
a plain search does (Tune's default for it: up to 200), not one (its default for any other searcher).
What one machine cannot show: an autoscaler starting workers for those pending trials (tests/test_autoscaling.py
shows that for the plain search, through the same TUNE_MAX_PENDING_TRIALS_PG setting).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sweeps.budgets import BudgetError, parse_budget
from tests.conftest import ROOT, TINY

TPE_RECURRENT = {"search": "tpe", "num_samples": 4, "max_epochs": 2, "asha": {"grace_period": 2},  # none stopped
                 "space": {"embed_dim": 16, "units": {"choice": [8, 16]}, "layers": 1, "bidirectional": False,
                           "dropout": {"uniform": [0.0, 0.3]}, "lr": {"loguniform": [0.001, 0.03]},
                           "batch_size": 16, "max_len": 32}}


def tiny_with(**methods) -> dict:
    raw = yaml.safe_load(TINY.read_text())
    raw["methods"].update(methods)
    return raw


def test_a_tpe_budget_is_checked_at_load():
    budget = parse_budget(Path("tpe.yaml"), tiny_with(recurrent=TPE_RECURRENT))
    assert budget.method("recurrent").search == "tpe" and budget.method("features_svm").search == "random"
    with pytest.raises(BudgetError, match=r"tpe.yaml: methods.recurrent.search: expected one of random, tpe, "
                                          r"got 'bayes'"):
        parse_budget(Path("tpe.yaml"), tiny_with(recurrent=TPE_RECURRENT | {"search": "bayes"}))
    cycled = TPE_RECURRENT | {"space": TPE_RECURRENT["space"] | {"units": {"cycle": [8, 16]}}}
    with pytest.raises(BudgetError, match=r"methods.recurrent.space.units: cycle assigns values by sample number"):
        parse_budget(Path("tpe.yaml"), tiny_with(recurrent=cycled))
    fixed = TPE_RECURRENT | {"space": {"embed_dim": 16, "units": 8, "layers": 1, "bidirectional": False, "dropout": 0.1,
                                       "lr": 0.01, "batch_size": 16, "max_len": 32}}
    with pytest.raises(BudgetError, match=r"methods.recurrent.space: search: tpe has nothing to search \(every "
                                          r"parameter is a fixed value\)"):
        parse_budget(Path("tpe.yaml"), tiny_with(recurrent=fixed))
    only_spam = fixed | {"datasets": {"spam": {"units": {"choice": [8, 16]}}}}  # questions would search nothing
    with pytest.raises(BudgetError, match=r"methods.recurrent.space: search: tpe has nothing to search"):
        parse_budget(Path("tpe.yaml"), tiny_with(recurrent=only_spam))


def test_the_space_becomes_optuna_distributions_and_constants():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from sweeps.budgets import space_entry
    from sweeps.search import optuna_space

    space = {k: space_entry(k, v) for k, v in {"a": {"choice": [8, 16]}, "b": {"loguniform": [0.001, 0.1]},
                                               "c": {"uniform": [0.0, 0.5]}, "d": {"randint": [1, 4]},
                                               "e": 32}.items()}
    searched, constants = optuna_space(space)
    assert searched == {"a": CategoricalDistribution([8, 16]), "b": FloatDistribution(0.001, 0.1, log=True),
                        "c": FloatDistribution(0.0, 0.5), "d": IntDistribution(1, 3)}  # randint's high excluded
    assert constants == {"e": 32}


def test_the_dry_run_says_which_search_each_job_uses(tmp_path):
    from tests.conftest import run_main

    (tmp_path / "tpe.yaml").write_text(yaml.safe_dump(tiny_with(recurrent=TPE_RECURRENT)))
    done = run_main("--budget", str(tmp_path / "tpe.yaml"), "--datasets", "spam,animals", "--models", "gru,resnet18",
                    "--methods", "recurrent,features_svm", "--dry-run", script="matrix.py")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.startswith("p")}
    assert lines["p2-spam-gru-recurrent"][1:3] == ["4", "tpe"]
    assert lines["p1-animals-resnet18-features_svm"][1:3] == ["2", "random"]


def rows(sweep: Path):
    import pandas as pd

    files = sorted((sweep / "trials").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


@pytest.mark.sweep
def test_a_tpe_sweep_killed_and_resumed_neither_reruns_nor_forgets_a_finished_trial(demo_root, tmp_path):
    import psutil

    from core import cluster_use

    (tmp_path / "tpe.yaml").write_text(yaml.safe_dump(tiny_with(recurrent=TPE_RECURRENT)))
    sweep = tmp_path / "runs" / "tpe"
    command = [sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--local", "--budget", str(tmp_path / "tpe.yaml"),
               "--weights", "random", "--data-root", str(demo_root), "--datasets", "spam", "--models", "gru",
               "--methods", "recurrent", "--storage", str(tmp_path / "runs"), "--sweep-id", "tpe",
               "--cpus-per-trial", "2"]  # one trial at a time on 2 cores: the other three wait
    driver = subprocess.Popen(command, cwd=ROOT, stdout=(tmp_path / "first.log").open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and (rows(sweep).empty or (rows(sweep)["status"] == "ok").sum() < 1):
        time.sleep(0.2)
    watcher = subprocess.Popen([sys.executable, "-m", "analysis", str(sweep), "--watch", "1"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    family = psutil.Process(driver.pid).children(recursive=True)
    os.kill(driver.pid, signal.SIGKILL)
    killed = time.monotonic()
    driver.wait()
    psutil.wait_procs(family, timeout=10)  # Ray's processes share the driver's fate; end what did not
    for proc in family:
        if proc.is_running():
            proc.kill()
    watched, _ = watcher.communicate(timeout=120)  # the watcher sees no driver, says so, and ends by itself
    assert watcher.returncode == 1 and time.monotonic() - killed < 60, watched
    resume = f"python sweeps/matrix.py {' '.join(command[2:])} --resume"
    assert f"stopped: no driver since " in watched and f"continue with `{resume}`" in watched, watched
    page = (sweep / "reports" / "index.html").read_text()
    assert '<p id="stopped">' in page and 'http-equiv="refresh"' not in page and "<h2>Stopped:" in page
    before = rows(sweep).set_index("trial_id")
    finished = before[before["status"] == "ok"]
    assert len(finished) == 1 and len(before) <= 4, before[["status", "param_lr"]]

    done = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"search: p2-spam-gru-recurrent: tpe, told {len(finished)} finished trial(s)" in done.stdout
    after = rows(sweep).set_index("trial_id")
    assert sorted(after.index) == [f"p2-spam-gru-recurrent-{i:02d}-tpe" for i in range(4)]
    assert (after["status"] == "ok").all() and (after["search"] == "tpe").all()
    for trial_id, row in finished.iterrows():  # not rerun: the same row, written before the kill
        assert after.loc[trial_id, "started_utc"] == row["started_utc"]
        assert after.loc[trial_id, "param_lr"] == row["param_lr"]
    for trial_id in before.index.difference(finished.index):  # interrupted: its configuration kept
        assert after.loc[trial_id, "param_lr"] == before.loc[trial_id, "param_lr"]
    assert after["param_lr"].nunique() == 4  # four configurations asked, none twice
    resumed = cluster_use.read_all(str(sweep))[-1]  # the resumed run's record (the killed one's is cut short)
    assert max(s.pending for s in resumed.samples) >= 2  # the two not running waited (a searcher's default: 1)

    from analysis.report import build_report

    build_report(sweep)  # the report says the search beside the job's result
    assert (sweep / "reports" / "jobs.csv").read_text().splitlines()[1].split(",")[7] == "tpe"
    assert "<td>tpe</td>" in (sweep / "reports" / "index.html").read_text()
