"""The cost model's arithmetic (sweeps.cost.model, .workload, .table) on a hand-written rate table, and the plan it
prices; the plan of a real sweep against its own rows is in test_sweep."""
from __future__ import annotations

import dataclasses

import pytest

from core.course import Job
from sweeps.budgets import load_budget

TABLE = """\
card: Test CPU, 2 cores
device: cpu
date: 2026-12-07
command: python bench/cost_table.py --out {out}
slots: 2
import_s: {torch: 3.0, tensorflow: 5.0}
sweep: {start_s: 10.0, end_s: 2.0, per_trial_s: 0.5}
images: {decode_ms: {photo: 2.0, demo: 1.0}, head_ms_per_item: 0.01}
svm: {fit_ns_per_n2d: 0.1}
text: {extract: {fixed_s: 0.1, ms_per_item: 0.02}}
backbones:
"""
BACKBONE = ("  {name}: {{build_s: 1.0, train_side: 32, forward: {{32: 10.0, 128: 40.0}}, train: {{all: {{gflop_s: 5.0, "
            "step_ms: 100.0}}, last3: {{gflop_s: 8.0, step_ms: 80.0}}, head: {{gflop_s: 9.0, step_ms: 10.0}}}}}}\n")
CELL = ("  {name}: {{build_s: 0.2, train: {{call_ms: 50.0, step_us: 100.0, weight_ns: 2.0, gflop_s: 10.0}}, "
        "predict: {{call_ms: 40.0, step_us: 50.0, weight_ns: 1.0, gflop_s: 40.0}}, "
        "trace_train: {{fixed_s: 0.5, per_layer_s: 1.0}}, trace_predict: {{fixed_s: 0.1, per_layer_s: 0.2}}}}\n")


def write_table(folder, backbones=("alexnet", "vgg16", "resnet18", "mobilenet_v2"), cells=("lstm", "gru")):
    text = TABLE + "".join(BACKBONE.format(name=n) for n in backbones) + "cells:\n" + \
        "".join(CELL.format(name=n) for n in cells)
    (folder / "test.yaml").write_text(text)
    return folder / "test.yaml"


def test_work_measures_and_makespan():
    """FLOPs per token of a recurrent stack (per layer and direction: gates x 2 x units x (inputs + units)), and list
    scheduling in order onto the first free slot."""
    from sweeps.cost.model import makespan, token_flops

    assert token_flops("lstm", 16, 8, 1, False) == 4 * 2 * 16 * (8 + 16)
    assert token_flops("gru", 16, 8, 2, True) == 2 * 3 * 2 * 16 * (8 + 16) + 2 * 3 * 2 * 16 * (32 + 16)
    assert token_flops("rnn", 10, 10, 1, False) == 2 * 10 * 20
    assert makespan([3, 1, 1, 1], 2) == 3 and makespan([1, 1, 1], 2) == 2 and makespan([], 2) == 0


def test_rates_interpolate_in_log_side_and_hold_beyond(tmp_path):
    from sweeps.cost.table import load_cost_table

    table = load_cost_table(write_table(tmp_path))
    rates = table.backbones["resnet18"]
    assert rates.forward_rate(32) == 10.0 and rates.forward_rate(224) == 40.0 and rates.forward_rate(16) == 10.0
    assert rates.forward_rate(64) == pytest.approx(25.0)  # halfway in log side between 32 and 128
    assert rates.train_rate("all", 32) == 5.0 and rates.train_rate("head_lr", 128) == pytest.approx(20.0)


def test_trials_are_priced_phase_by_phase(tmp_path):
    """By hand: a whole-network fine-tune (decode once per dataset and side, build, per epoch the training images
    and the optimiser's steps and the validation images forward, the test images at the end), a features_svm trial
    (extraction once per dataset x backbone x side, then n^2 x d), a Keras trial (vectorise, build, traces, per
    epoch the batches — per call, per batch and token its recurrent steps and weights, per FLOP — and the validation
    predictions), and each of the two slots' first import per framework."""
    from core.registry import BACKBONES
    from sweeps.cost.model import Pricer, Sizes, TrialWork, token_flops
    from sweeps.cost.table import load_cost_table

    pricer = Pricer(load_cost_table(write_table(tmp_path)), slots=2)
    sizes = Sizes(files=50, train=40, val=10, test=20)
    g = BACKBONES.get("resnet18").gflops_at(32)
    tune = TrialWork(Job(1, "animals", "resnet18", "finetune"), {"mode": "all", "batch_size": 8}, 4, sizes, True, 32)
    cost = pricer.trial(tune, "torch")
    assert cost.fixed_s == pytest.approx(3.0 + 70 * 1.0 / 1000 + 1.0)  # import, decode 50 + 20 files, build
    assert cost.epoch_s == pytest.approx(40 * g / 5.0 + 5 * 0.1 + 10 * g / 10.0)
    assert cost.final_s == pytest.approx(20 * g / 10.0)
    assert cost.seconds(2) == pytest.approx(cost.fixed_s + 2 * cost.epoch_s + cost.final_s)
    again = pricer.trial(tune, "torch")  # the second slot's import; the decoded images are cached
    assert again.fixed_s == pytest.approx(3.0 + 1.0)
    assert pricer.trial(tune, "torch").fixed_s == pytest.approx(1.0)  # both slots have torch now
    svm = TrialWork(Job(1, "animals", "resnet18", "features_svm"), {}, 1, sizes, True, 32)
    first, second = pricer.trial(svm, "torch"), pricer.trial(svm, "torch")
    fit = 0.1e-9 * 40 * 70 * 512
    assert first.fixed_s == pytest.approx(1.0 + 70 * g / 10.0 + fit)  # decoded already: build + forward + fit
    assert second.fixed_s == pytest.approx(fit) and first.epoch_s == 0
    on_a_cluster = Pricer(load_cost_table(tmp_path / "test.yaml"), slots=1, shared=False)  # each job its own cache
    other = dataclasses.replace(tune, job=Job(1, "animals", "resnet18", "finetune_aug"), params=tune.params)
    assert on_a_cluster.trial(tune, "torch").fixed_s == pytest.approx(3.0 + 70 * 1.0 / 1000 + 1.0)
    assert on_a_cluster.trial(other, "torch").fixed_s == pytest.approx(2 * 70 * 1.0 / 1000 + 1.0)  # + source squares
    params = {"units": 16, "embed_dim": 8, "layers": 2, "bidirectional": True, "batch_size": 8}
    text = TrialWork(Job(2, "spam", "lstm", "recurrent"), params, 3, sizes, True, tokens=32)
    cost = pricer.trial(text, "tensorflow")
    flops = token_flops("lstm", 16, 8, 2, True) * 32
    chain = 32 * 2 * 2
    assert cost.fixed_s == pytest.approx(5.0 + 0.1 + 70 * 0.02e-3 + 0.2 + (0.5 + 4 * 1.0) + (0.1 + 4 * 0.2))
    weights = flops / 2  # each token of a batch reads every recurrent weight once
    assert cost.epoch_s == pytest.approx(0.05 + 5 * (chain * 100e-6 + weights * 2e-9) + 40 * flops / 10e9
                                         + 0.04 + 1 * (chain * 50e-6 + weights * 1e-9) + 10 * flops / 40e9)
    assert cost.final_s == pytest.approx(0.04 + chain * 50e-6 + weights * 1e-9 + 20 * flops / 40e9)


def test_the_plan_prices_work_and_names_its_rates(tmp_path):
    """The full budget on GPUs without a GPU table: the CPU table's rates by the stated rule, said on every line; a
    vgg16 fine-tune costs more than an alexnet one by their work per image (equal rates here), caltech101's 1,500
    training images more than faces' 1,021; a cell or backbone the table lacks keeps the default and says why; a CPU
    plan prices CPU slots and a local wall time."""
    from sweeps.cost import estimate
    from sweeps.cost.workload import GPU_RULE

    write_table(tmp_path)
    budget = load_budget("full")
    head = {"mode": "all"}  # every trial of these jobs at one mode: only the work differs
    one = budget.method("finetune")
    fixed = dataclasses.replace(budget, methods=budget.methods | {"finetune": dataclasses.replace(
        one, space=one.space | head | {"epochs": 30, "batch_size": 32})})
    jobs = [Job(1, "caltech101", "vgg16", "finetune"), Job(1, "caltech101", "alexnet", "finetune"),
            Job(1, "faces", "alexnet", "finetune"), Job(1, "caltech101", "densenet121", "finetune"),
            Job(2, "questions", "rnn", "recurrent")]
    plans = {p.key: p for j in jobs for p in estimate.plan_jobs([j], fixed, gpus=1.0, cost_dir=tmp_path)}
    vgg, alex, faces = (plans[j.key] for j in jobs[:3])
    assert all(p.source == GPU_RULE.replace("the CPU table", "test.yaml") for p in (vgg, alex, faces))
    assert vgg.hours_per_trial > alex.hours_per_trial > faces.hours_per_trial
    work = 15.47 / 0.714
    assert 0.5 * work < vgg.hours_per_trial / alex.hours_per_trial <= work
    assert plans[jobs[3].key].source == "default per method (densenet121 not in test.yaml)"
    assert plans[jobs[4].key].source == "default per method (rnn (tensorflow) not in test.yaml)"
    shared = {p.key: p for p in estimate.plan_jobs(jobs, fixed, gpus=0.25, cost_dir=tmp_path)}
    assert shared[vgg.key].hours_per_trial == pytest.approx(1.5 * vgg.hours_per_trial)
    assert shared[vgg.key].source.endswith(", x1.5 on a shared GPU")
    demo = estimate.plan_jobs(jobs[:3], load_budget("smoke"), gpus=0, demo=True, cost_dir=tmp_path, slots=2)
    assert all(p.source == "measured: test.yaml (Test CPU, 2 cores, 2026-12-07)" and p.trial_s for p in demo)
    wall = estimate.local_wall(demo, tmp_path, 2)
    assert wall > 10.0 + 2.0 + max(max(p.trial_s) for p in demo)
    summary = estimate.estimate(demo, cpus=1, gpus=0, wall_s=wall)
    assert summary["wall_s"] == wall and summary["cost_spot"] is None  # vCPU-hours, no GPU price


def test_a_malformed_table_is_one_line_naming_the_field(tmp_path):
    from sweeps.cost.table import CostTableError, load_cost_table

    path = write_table(tmp_path)
    path.write_text(path.read_text().replace("step_us: 100.0", "step_us: fast", 1))
    with pytest.raises(CostTableError, match=r"test.yaml: cells.lstm.train.step_us: expected a non-negative number"):
        load_cost_table(path)
    path.write_text(path.read_text().replace("slots: 2\n", ""))
    with pytest.raises(CostTableError, match=r"test.yaml: expected the fields card, device"):
        load_cost_table(path)


def test_the_committed_cpu_table_prices_every_backbone_and_cell():
    """sweeps/costs holds this project's measured CPU table: every backbone and cell type of the registry in it."""
    from core.registry import BACKBONES, CELLS
    from sweeps.cost.table import table_for

    table = table_for("cpu")
    assert table is not None and table.device == "cpu" and table.command.startswith("python bench/cost_table.py")
    assert set(table.backbones) == set(BACKBONES.names()) and set(table.cells) == set(CELLS.names())
