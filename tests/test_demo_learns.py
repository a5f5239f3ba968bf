"""The demo convinces: on the generated demo data, with random weights, one trial of every method family — each
fine-tuning mode with and without augmentation, each recurrent cell type — run through the real Tune path reaches at
least twice chance on test. (Settings: the smoke budget's, with one learning rate and six epochs so that the
assertion is not a coin toss on 27 test images; the smoke budget itself draws its rates around this one.)"""
from __future__ import annotations

import dataclasses
import json

import pandas as pd

from sweeps.budgets import load_budget
from sweeps.domains import Cycle
from core.course import Job
from core.plan import Asha
from sweeps.runner import run_sweep

MODES = ("head", "head_lr", "last3", "all")
JOBS = {Job(1, "animals", "resnet18", "features_svm"): [], Job(1, "animals", "resnet18", "finetune"): [],
        Job(1, "animals", "resnet18", "finetune_aug"): [],
        **{Job(2, "questions", cell, "recurrent"): [] for cell in ("rnn", "lstm", "gru")}}


def demo_budget():
    smoke = load_budget("smoke")
    methods = dict(smoke.methods)
    for name in ("finetune", "finetune_aug"):  # every mode once, no early stopping
        mb = methods[name]
        methods[name] = dataclasses.replace(mb, num_samples=len(MODES), max_epochs=6, asha=Asha(grace_period=6),
                                            space=mb.space | {"mode": Cycle(MODES), "lr": 0.01, "weight_decay": 1e-4})
    methods["features_svm"] = dataclasses.replace(methods["features_svm"], num_samples=1)
    fixed = {"embed_dim": 32, "units": 32, "layers": 1, "bidirectional": False, "dropout": 0.1, "lr": 0.01,
             "optimizer": "adam", "max_len": 32}
    methods["recurrent"] = dataclasses.replace(methods["recurrent"], num_samples=1,
                                               space=methods["recurrent"].space | fixed)
    return dataclasses.replace(smoke, methods=methods)


def test_every_method_family_learns_on_the_demo_data(make_options, demo_root):
    options = make_options(JOBS, demo_root, budget=demo_budget(), sweep_id="learns")
    summary = run_sweep(options)
    assert summary.jobs_done == len(JOBS), summary.render()
    rows = pd.read_parquet(f"{options.sweep_dir}/trials")
    assert (rows["status"] == "ok").all() and len(rows) == 1 + 2 * len(MODES) + 3
    rows["times_chance"] = rows["test_acc"] * rows["classes"].map(lambda c: len(json.loads(c)))
    shown = rows[["method", "param_mode", "cell", "test_acc", "times_chance"]].to_string()
    assert (rows["times_chance"] >= 2).all(), shown
    assert sorted(rows.loc[rows["method"] == "finetune", "param_mode"]) == sorted(MODES)
