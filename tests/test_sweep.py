"""The real pipeline through Ray Tune on tiny generated data: every method, every cell type, rows, resume."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.results import load_trials
from analysis.report import build_report
from core.course import Job, Group, expand, parse_groups
from sweeps.runner import ConfigError, run_sweep
from core import ledger
from tests.conftest import own_cpus

# Every Part 1 method on one backbone, and every recurrent cell type (rnn is in no group, but supported).
CELLS = {**expand(parse_groups("P1G19")),
         Job(2, "sentiment", "lstm", "recurrent"): [Group(2, 1)],
         Job(2, "spam", "gru", "recurrent"): [Group(2, 7)],
         Job(2, "questions", "rnn", "recurrent"): [],
         Job(2, "spam", "gru", "recurrent", "torch"): []}  # the handout appendix's PyTorch twin


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory, demo_root, tiny_budget):
    from sweeps.runner import SweepOptions

    storage = tmp_path_factory.mktemp("runs")
    options = SweepOptions(jobs=CELLS, budget=tiny_budget, data_root=demo_root, demo=True, weights="random",
                           storage=storage, sweep_id="e2e", address=None)
    with own_cpus():  # this machine's cores: two local trials side by side
        summary = run_sweep(options)
    return options, summary


def test_every_method_and_cell_finishes(finished_sweep):
    options, summary = finished_sweep
    assert summary.failed == {} and summary.jobs_done == len(CELLS)
    trials = load_trials(options.sweep_dir)
    expected = sum((2, 2, 1, 1, 1, 1, 1))  # features_svm, finetune, finetune_aug, 3 x recurrent TF, 1 x torch
    assert len(trials) == expected
    assert set(trials["status"]) <= {"ok", "stopped"}
    assert set(trials["method"]) == {"features_svm", "finetune", "finetune_aug", "recurrent"}
    assert set(trials["cell"].dropna()) == {"rnn", "lstm", "gru"}


def test_driver_never_imports_tensorflow(finished_sweep):
    import sys

    assert "tensorflow" not in sys.modules  # TF lives only in the text trials' own processes


def test_rows_carry_the_full_schema(finished_sweep):
    options, _ = finished_sweep
    trials = load_trials(options.sweep_dir)
    for column in [*ledger.IDENTITY, *ledger.METRICS, *ledger.COST, *ledger.PROVENANCE, *ledger.OUTCOME]:
        assert column in trials.columns, column
    ok = trials[trials["status"] == "ok"]
    assert ok["test_acc"].between(0, 1).all() and ok["val_acc"].between(0, 1).all()
    assert ok["wall_s"].gt(0).all() and ok["fit_s"].gt(0).all() and ok["items_per_s"].gt(0).all()
    assert ok["n_train"].gt(0).all() and ok["n_val"].gt(0).all() and ok["n_test"].gt(0).all()  # after the caps
    text = ok[ok["method"] == "recurrent"]
    assert sorted(text["framework"]) == ["tensorflow"] * 3 + ["torch"]
    assert (ok.loc[ok["part"] == 1, "framework"] == "torch").all()
    assert text["max_len"].gt(0).all() and text["vocab_size"].gt(2).all()
    assert text.loc[text["framework"] == "tensorflow"].set_index("cell")["cudnn_eligible"].to_dict() == \
        {"lstm": True, "gru": True, "rnn": False}
    # the PyTorch twin records what ran: no cuDNN on a CPU
    assert text.loc[text["framework"] == "torch", "cudnn_eligible"].tolist() == [torch_cuda_available()]
    confusion = json.loads(ok.iloc[0]["test_confusion"])
    assert len(confusion) == len(json.loads(ok.iloc[0]["classes"]))
    versions = json.loads(ok["versions"].iloc[0])
    assert {"python", "ray", "torch"} <= set(versions)
    assert ok["seed"].notna().all() and ok["data_fingerprint"].str.len().eq(16).all()
    assert ok["node_id"].notna().all() and ok["git_sha"].notna().all()
    svm = ok[ok["method"] == "features_svm"]
    assert svm["param_C"].notna().all() and svm["param_kernel"].isin(["linear", "rbf"]).all()


def test_any_parquet_reader_opens_the_folders_as_one_table(finished_sweep):
    """Rows of every method (their param_* sets differ, failed and stopped rows hold nulls) and histories read as
    one table in pandas, pyarrow.dataset and DuckDB, with the same rows."""
    import duckdb
    import pyarrow.dataset as ds

    options, summary = finished_sweep
    for folder, key in (("trials", "trial_id"), ("history", "trial_id")):
        path = Path(options.sweep_dir) / folder
        frame = pd.read_parquet(path)
        table = ds.dataset(path, format="parquet").to_table()
        sql = duckdb.sql(f"select * from read_parquet('{path}/*.parquet')").df()
        assert len(frame) == table.num_rows == len(sql) > 0
        assert list(frame.columns) == table.column_names == list(sql.columns)
        assert sorted(frame[key]) == sorted(table.column(key).to_pylist()) == sorted(sql[key])
    trials = pd.read_parquet(Path(options.sweep_dir) / "trials")
    assert {"param_C", "param_mode", "param_units", "param_augment"} <= set(trials.columns)
    assert trials.loc[trials["method"] == "features_svm", "param_mode"].isna().all()


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.backends.cudnn.is_available()


def test_stored_scores_are_the_reported_trials(finished_sweep):
    """Every finished trial's stored class scores give back its row's test accuracy (float16 may flip a near tie),
    and rows record what the dataset's files hold beside what the budget let the trial use."""
    options, _ = finished_sweep
    trials = load_trials(options.sweep_dir)
    for row in trials[trials["status"] == "ok"].itertuples():
        stored = ledger.read_predictions(options.sweep_dir, row.trial_id)
        assert stored["test_scores"].shape[0] == len(stored["test_y"]) == row.n_test, row.trial_id
        assert abs((stored["test_scores"].argmax(1) == stored["test_y"]).mean() - row.test_acc) <= 2 / row.n_test
        assert row.n_test_files >= row.n_test and row.n_train_files >= row.n_train


def test_history_has_one_row_per_epoch(finished_sweep):
    options, _ = finished_sweep
    trials = load_trials(options.sweep_dir)
    for row in trials.itertuples():
        history = pd.read_parquet(ledger.history_path(options.sweep_dir, row.trial_id))
        assert list(history["epoch"]) == list(range(1, int(row.epochs) + 1))


def test_demo_features_are_learnable(finished_sweep):
    """Real training, not noise: random-weight features + SVM beat chance (1/30) by far on the demo shapes."""
    options, _ = finished_sweep
    trials = load_trials(options.sweep_dir)
    assert trials.loc[trials["method"] == "features_svm", "test_acc"].max() > 0.3


def test_analysis_tables_from_results(finished_sweep):
    options, _ = finished_sweep
    text = build_report(options.sweep_dir)
    assert "| caltech101 | resnet18 |" in text and "| questions |" in text
    assert "gru (torch)" in text  # both frameworks ran: Part 2 columns say which
    jobs = pd.read_csv(Path(options.sweep_dir) / "reports" / "jobs.csv")
    assert len(jobs) == len(CELLS) and (jobs["outcome"] == "ok").all()
    # ensembles beside the single trial: the 2-trial features_svm job has both, chosen on validation
    svm = jobs[jobs["method"] == "features_svm"].iloc[0]
    assert 0 <= svm["top5_test_acc"] <= 1 and 0 <= svm["greedy_test_acc"] <= 1
    assert svm["greedy_members"].startswith(svm["best_trial"])  # greedy selection starts from the selected trial
    assert "## Ensembles, chosen on validation" in text
    # the tiny budget tests on 2 images per class of the demo's larger test folders: said, per job
    capped = jobs[jobs["n_test"] < jobs["n_test_files"]]
    assert len(capped) and f"**{len(capped)} job(s) were tested on a capped test set**" in text
    part1 = pd.read_csv(Path(options.sweep_dir) / "reports" / "part1.csv", index_col=[0, 1])
    assert list(part1.columns) == ["features_svm", "finetune", "finetune_aug"]
    assert (Path(options.sweep_dir) / "reports" / "part1.png").stat().st_size > 1000


def test_html_report_links_every_cell_and_needs_no_network(finished_sweep):
    """reports/index.html: every job has its detail with the selected trial's numbers; epoch-based jobs have a
    learning curve, the image jobs a confusion matrix with their class names; nothing is fetched from outside."""

    options, _ = finished_sweep
    build_report(options.sweep_dir)
    page = (Path(options.sweep_dir) / "reports" / "index.html").read_text()
    trials = load_trials(options.sweep_dir)
    for key in {t.rsplit("-", 2)[0] for t in trials["trial_id"]}:
        assert f'id="job-{key}"' in page and f'href="#job-{key}"' in page
    jobs = pd.read_csv(Path(options.sweep_dir) / "reports" / "jobs.csv")
    assert page.count('alt="learning curves"') == (jobs["epochs"] >= 2).sum() >= 4  # a curve needs two epochs
    assert "Confusion matrix (rows: true class)" in page and "class_29" in page
    assert 'class="bad capped"' in page and 'id="ensembles"' in page
    assert "Best trial per mode (chosen by val)" in page or "Best trial per kernel (chosen by val)" in page
    for section in ("1. Overview", "2. Results", "3. Groups", "4. Hyperparameter effects", "5. Accuracy against cost",
                    "6. Published anchors", "7. Failed or missing jobs"):
        assert section in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no network: every plot is a data URI
    assert "@import" not in page and "url(http" not in page


def test_estimate_from_a_finished_run_uses_its_measured_hours(finished_sweep, tmp_path):
    """The same plan again: each job's measured hours, scaled by items x epochs (near 1 here: the same demo data and
    caps; 1.8 for questions, whose 50 classes' per-class rounding of the caps the estimator leaves out). Twice the
    epochs cost twice, images of twice the side four times (the backbone's work); a run that is no guide is refused
    in one line: CPU trials for a GPU plan where no rate table links the two, demo data for the real files."""
    from core.ledger import job_key
    from sweeps.cost import estimate
    options, _ = finished_sweep
    budget, run = options.budget, options.sweep_dir
    plans = estimate.plan_jobs(list(CELLS), budget, run, gpus=0, demo=True)
    assert all(p.source.startswith("measured: same job, x") for p in plans), [p.source for p in plans]
    trials = load_trials(run)
    for plan in plans:  # the ratio is this plan's items x epochs over what the trials trained on: ~1 here
        mine = trials[job_key(trials) == plan.key]
        ratio = plan.hours_per_trial / (mine["wall_s"].mean() / 3600)
        assert f"x{ratio:.3g} " in plan.source + " " and 0.5 < ratio * mine["epochs"].mean() / plan.epochs < 2
    for plan in plans:  # expected: the epochs the run's own trials trained of those they planned (ASHA, patience)
        mine = trials[job_key(trials) == plan.key]
        if plan.method != "features_svm":
            assert (mine["planned_epochs"] == budget.method(plan.method).max_epochs).all()  # no searched epochs
            share = mine["epochs"].sum() / mine["planned_epochs"].sum()
            assert plan.expected_hours_per_trial == pytest.approx(plan.hours_per_trial * share)
            assert plan.source.endswith(f"; expected: its trials' stops (x{share:.2f} of their epochs)")
    summary = estimate.estimate(plans, cpus=1, gpus=0, run=run)
    assert summary["trial_hours"] == sum(p.trials * p.hours_per_trial for p in plans)
    recorded = json.loads((Path(run) / "sweep.json").read_text())["estimate"]
    assert recorded["source"].startswith("measured: cpu-2core.yaml") and recorded["source"].endswith(
        "; defaults per method for 1 job(s)")  # the run's own plan: the cost model, the PyTorch twin by default
    rnn = dataclasses.replace(budget.method("recurrent"), max_epochs=2 * budget.method("recurrent").max_epochs)
    longer = dataclasses.replace(budget, methods=budget.methods | {"recurrent": rnn})
    text = [job for job in CELLS if job.method == "recurrent"]
    assert [p.hours_per_trial for p in estimate.plan_jobs(text, longer, run, gpus=0, demo=True)] == pytest.approx(
        [2 * p.hours_per_trial for p in plans if p.method == "recurrent"])
    # images at twice the side: the same items, four times the backbone's work
    bigger = dataclasses.replace(budget, images=dataclasses.replace(budget.images, image_size=64))
    at_64 = {p.key: p for p in estimate.plan_jobs(list(CELLS), bigger, run, gpus=0, demo=True)}
    for plan in plans:
        ratio = at_64[plan.key].hours_per_trial / plan.hours_per_trial
        assert ratio == pytest.approx(4.0 if plan.method != "recurrent" else 1.0), (plan.key, ratio)
    assert "x resnet18's GFLOPs at 64 px" in at_64["p1-caltech101-resnet18-finetune"].source
    # CPU trials for a GPU plan: through the rate tables (the committed CPU table, a GPU's by the stated rule)
    priced = [job for job in CELLS if job.framework != "torch"]  # the table has no rates for the PyTorch twin
    on_gpu = {p.key: p for p in estimate.plan_jobs(priced, budget, run, gpus=1.0, demo=True)}
    key = "p1-caltech101-resnet18-finetune"
    assert re.search(r", x[0-9.e-]+ from CPU to GPU \(cpu-2core.yaml and the GPU rule\);", on_gpu[key].source)
    assert on_gpu[key].hours_per_trial < next(p.hours_per_trial for p in plans if p.key == key)
    for plan_budget, gpus, demo, why, tables in (
            (budget, 0.25, True, "ran on CPUs, this plan's run on GPUs, and no rate table links the two", tmp_path),
            (budget, 0, False, "it ran on the generated demo data, this plan on the", estimate.COST_DIR)):
        with pytest.raises(ConfigError, match=why):
            estimate.plan_jobs(list(CELLS), plan_budget, run, gpus=gpus, demo=demo, cost_dir=tables)


def test_export_writes_one_rows_file_and_one_history_file(finished_sweep, tmp_path):
    import json

    import pyarrow.parquet as pq

    from analysis.__main__ import main as analysis_main

    options, _ = finished_sweep
    assert analysis_main(["export", options.sweep_dir, "--out", str(tmp_path / "e2e.parquet")]) == 0
    rows, history = pq.read_table(tmp_path / "e2e.parquet"), pd.read_parquet(tmp_path / "e2e.history.parquet")
    assert rows.num_rows == len(load_trials(options.sweep_dir))
    assert json.loads(rows.schema.metadata[b"groupsweep.sweep"])["sweep_id"] == "e2e"
    assert set(history["trial_id"]) <= set(rows.column("trial_id").to_pylist()) and len(history) >= rows.num_rows


def test_rerun_requires_resume_and_resume_skips_finished(finished_sweep, capsys):
    options, _ = finished_sweep
    with pytest.raises(ConfigError, match="already holds .* --resume"):
        run_sweep(options)
    before = {p.name: p.stat().st_mtime_ns for p in (Path(options.sweep_dir) / "trials").iterdir()}
    options.resume = True
    summary = run_sweep(options)
    options.resume = False
    assert summary.failed == {}
    assert "(9 already finished)" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in (Path(options.sweep_dir) / "trials").iterdir()}
    assert before == after  # nothing was rerun or rewritten


@pytest.mark.parametrize("framework", ["", "torch"])
def test_trial_that_raises_once_resumes_from_its_checkpoint(demo_root, make_options, tiny_budget, monkeypatch,
                                                            framework):
    """Epoch 1 is checkpointed, the trial then fails; Tune restarts it from that checkpoint: epoch 1 is not
    trained again, the history has each epoch once, and the row counts the retry. Max pooling is pinned so the
    checkpoint holds the custom masked-pooling layer, which must load back."""
    from trainables.faults import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "p2-spam-gru-recurrent@1")
    recurrent = tiny_budget.methods["recurrent"]
    space = recurrent.space | {"pooling": "max"}
    budget = dataclasses.replace(tiny_budget, methods=tiny_budget.methods | {
        "recurrent": dataclasses.replace(recurrent, space=space)})
    jobs = {Job(2, "spam", "gru", "recurrent", framework): []}
    summary = run_sweep(make_options(jobs, demo_root, budget=budget, max_failures=1))
    assert summary.failed == {} and summary.statuses == {"ok": 1}
    row = load_trials(summary.sweep_dir).iloc[0]
    assert row["retries"] == 1 and row["epochs"] == 2 and row["param_pooling"] == "max"
    history = pd.read_parquet(ledger.history_path(summary.sweep_dir, row["trial_id"]))
    assert list(history["epoch"]) == [1, 2]


def test_report_of_a_sweep_without_rows_lists_its_cells_as_missing(tmp_path):
    """A sweep whose trials never wrote a row still gets every page: the planned job stays, as missing."""
    job = {"key": "p2-spam-lstm-recurrent", "part": 2, "dataset": "spam", "model": "lstm", "method": "recurrent",
           "framework": "tensorflow", "groups": ["P2G1"]}
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(json.dumps({"sweep_id": "s", "budget": "smoke", "seed": 0,
                                                            "weights": "random", "groups": ["P2G1"],
                                                            "jobs": [job], "trials": []}))
    text = build_report(tmp_path / "s")
    assert "| 2 | spam | lstm | recurrent | missing |" in text
    page = (tmp_path / "s" / "reports" / "index.html").read_text()
    assert 'id="job-p2-spam-lstm-recurrent"' in page and "7. Failed or missing jobs" in page


def test_status_says_finished_left_or_not_started(finished_sweep, tmp_path, capsys):
    """`groupsweep status RUN`, what a Slurm job asks first: 0 finished, 1 with trials left for --resume (a row
    removed here), 3 before the sweep has a plan."""
    import shutil

    from groupsweep.cli import main

    options, _ = finished_sweep
    assert main(["status", str(options.sweep_dir)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("; finished")
    copy = tmp_path / "e2e"
    shutil.copytree(options.sweep_dir, copy)
    next((copy / "trials").glob("*.parquet")).unlink()
    assert main(["status", str(copy)]) == 1
    assert capsys.readouterr().out.rstrip().endswith("; 1 trial(s) left for --resume")
    assert main(["status", str(tmp_path / "none")]) == 3
    assert capsys.readouterr().out == f"{tmp_path / 'none'}: not started (no sweep.json)\n"


def test_the_report_sets_the_plans_estimate_beside_what_the_trials_took(finished_sweep, tmp_path):
    """sweep.json records each job's estimate; the report compares it per method (report.md, the page's overview)
    and per job (estimate_vs_actual.csv) with the ended trials' mean wall seconds."""
    from analysis import cost
    from core.ledger import job_key
    from core.results import load_manifest

    options, _ = finished_sweep
    manifest, trials = load_manifest(options.sweep_dir), load_trials(options.sweep_dir)
    assert set(manifest["estimate"]["jobs"]) == {job.key for job in CELLS}
    per_method = cost.against_estimate(manifest, trials).set_index("method")
    assert set(per_method.index) == set(trials["method"])
    for method, row in per_method.iterrows():
        mine = trials[trials["method"] == method]
        assert row["trials"] == len(mine) and row["actual_s"] == pytest.approx(mine["wall_s"].mean(), abs=0.05)
        assert 0 < row["expected_s"] <= row["upper_s"]
        expected = [manifest["estimate"]["jobs"][k]["expected_hours_per_trial"] * 3600 for k in job_key(mine)]
        assert row["actual_over_expected"] == pytest.approx(mine["wall_s"].mean() / np.mean(expected), abs=0.001)
    build_report(options.sweep_dir, tmp_path / "reports")
    per_job = pd.read_csv(tmp_path / "reports" / "estimate_vs_actual.csv")
    assert set(per_job["key"]) == {job.key for job in CELLS}
    # the plan priced by the cost model at the committed CPU table's rates, against this sweep's own rows. This is not
    # a speed test (bench/forecast_check.py holds the model to +-30 % on an idle machine): a test machine running two
    # other workers has made trials up to 9.2x slower than priced. The bound only refuses what no load explains: the
    # per-method defaults (16-48x over, 0.02-0.06 here) or a unit slip (ms for s, hours for s: >=1000x). The PyTorch
    # twin, which the table does not measure, keeps the default and says so.
    sources = {k: job["source"] for k, job in manifest["estimate"]["jobs"].items()}
    assert sources["p2-spam-gru-recurrent-torch"].startswith("default per method (gru (torch) not in cpu-2core.yaml")
    priced = per_job[[sources[k].startswith("measured: cpu-2core.yaml") for k in per_job["key"]]]
    assert len(priced) == len(CELLS) - 1
    assert priced["actual_over_expected"].between(1 / 12, 40).all(), priced.to_string()
    assert "## The plan's estimate against what the trials took" in (tmp_path / "reports" / "report.md").read_text()
    assert "estimate vs actual" in (tmp_path / "reports" / "index.html").read_text()
