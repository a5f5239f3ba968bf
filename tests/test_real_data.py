"""The real course files beside the project (../shared/data), read in place: one text job, one image job."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from core.course import Job
from core.plan import ImageCaps, TextCaps
from sweeps.runner import run_sweep
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "text" / "spam").is_dir(),
                                reason=f"real data not found at {SHARED_DATA} (set GROUPSWEEP_SHARED_DATA)")
CALTECH_CLASSES = ("Motorbikes", "airplanes", "sunflower", "starfish", "umbrella")


def majority_rate(row) -> float:
    """The accuracy of always predicting the most frequent class of the test set the trial was scored on."""
    confusion = json.loads(row["test_confusion"])
    return max(sum(r) for r in confusion) / sum(sum(r) for r in confusion)


@pytest.fixture
def caltech_subset(tmp_path) -> Path:
    """A data root whose caltech101 holds five real classes, as links to the files in place (nothing copied)."""
    root = tmp_path / "data"
    for split in ("train", "test"):
        (root / "caltech101" / split).mkdir(parents=True)
        for name in CALTECH_CLASSES:
            (root / "caltech101" / split / name).symlink_to(SHARED_DATA / "images" / "caltech101" / split / name)
    return root


def test_text_cell_on_real_spam(make_options, tiny_budget):
    budget = dataclasses.replace(tiny_budget, text=TextCaps(max_train=600, max_test=300, max_tokens=5000))
    jobs = {Job(2, "spam", "gru", "recurrent"): []}
    summary = run_sweep(make_options(jobs, SHARED_DATA / "text", budget=budget, demo=False))
    assert summary.failed == {}
    from core.results import load_trials

    row = load_trials(summary.sweep_dir).iloc[0]
    assert row["status"] == "ok" and row["test_acc"] > majority_rate(row) + 0.05  # ham is 0.71: it must learn


def test_features_svm_on_real_caltech_classes(make_options, caltech_subset, tiny_budget):
    budget = dataclasses.replace(tiny_budget, images=ImageCaps(image_size=64, max_train_per_class=20,
                                                               max_test_per_class=10))
    jobs = {Job(1, "caltech101", "resnet18", "features_svm"): []}
    summary = run_sweep(make_options(jobs, caltech_subset, budget=budget, demo=False))
    assert summary.failed == {}
    from core.results import load_trials

    trials = load_trials(summary.sweep_dir)
    assert (trials["status"] == "ok").all()
    best = trials.loc[trials["test_acc"].idxmax()]
    assert best["test_acc"] > majority_rate(best) + 0.15  # random-weight features, 5 classes: majority is 0.2


def test_real_transfer_learning_with_mobilenet_weights(make_options, caltech_subset, tiny_budget, torch_home):
    """ImageNet MobileNetV2 (the real torchvision file, offline): features and a head-only fine-tune on real
    Caltech images beat random weights by far — the transfer-learning premise of Part 1."""
    images = ImageCaps(image_size=None, max_train_per_class=16, max_test_per_class=8)
    methods = dict(tiny_budget.methods)
    methods["finetune"] = dataclasses.replace(methods["finetune"], num_samples=1, max_epochs=10, space=dict(
        methods["finetune"].space, mode="head", lr=0.05, schedule="cosine"))
    budget = dataclasses.replace(tiny_budget, images=images, methods=methods)
    jobs = {Job(1, "caltech101", "mobilenet_v2", "features_svm"): [],
            Job(1, "caltech101", "mobilenet_v2", "finetune"): []}
    summary = run_sweep(make_options(jobs, caltech_subset, budget=budget, demo=False, weights="imagenet"))
    assert summary.failed == {}
    from core.results import load_trials

    trials = load_trials(summary.sweep_dir)
    assert (trials["status"] == "ok").all()
    assert trials.loc[trials["method"] == "features_svm", "test_acc"].max() >= 0.9
    head = trials[trials["method"] == "finetune"].iloc[0]
    assert bool(head["trained_on_features"]) and head["test_acc"] >= 0.9 > majority_rate(head) + 0.5
    # One extraction serves every trial: the SVM trials and the head-only fine-tune read one cache entry.
    assert (~trials.loc[trials["method"] == "features_svm", "features_cached"].astype(bool)).sum() <= 1


def test_the_files_counts_are_compared_with_the_handout_once(capsys):
    """The newsgroups files hold 14,134 / 4,712 rows against the handout's 14,121 / 4,707: one warning line names
    the folder and both counts; spam matches and says nothing; the plan carries the files' counts into the rows."""
    from sweeps.preflight import check_data

    jobs = {Job(2, "newsgroups", "gru", "recurrent"): [], Job(2, "spam", "gru", "recurrent"): [],
            Job(2, "newsgroups", "lstm", "recurrent"): []}
    facts = check_data(jobs, SHARED_DATA / "text")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "newsgroups" in warnings[0]
    assert "train 14,134 (handout 14,121), test 4,712 (handout 4,707)" in warnings[0]
    assert facts["newsgroups"].counts == {"n_classes": 20, "n_train_files": 14134, "n_test_files": 4712}
    assert facts["spam"].counts["n_test_files"] == 1293
