"""The handout's CIFAR-100 warm-up: scratch_cnn in PyTorch and Keras through the real Tune path on the demo's tiny
CIFAR-format folder, one row schema for both; broken CIFAR files are one line before Ray starts."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis import tables
from core.results import load_manifest
from core.course import Job
from sweeps.preflight import check_data
from sweeps.runner import ConfigError, run_sweep
from trainables.images.cifar import read_split

JOBS = {Job(1, "cifar100", "small_cnn", "scratch_cnn"): [],
        Job(1, "cifar100", "small_cnn", "scratch_cnn", "tensorflow"): []}


def test_demo_writes_cifar_format(demo_root):
    x, y = read_split(demo_root / "cifar100", "train")
    assert x.shape == (600, 32, 32, 3) and x.dtype.name == "uint8" and sorted(set(y)) == list(range(100))


def test_scratch_cnn_in_both_frameworks(make_options, demo_root):
    options = make_options(JOBS, demo_root)
    summary = run_sweep(options)
    assert summary.jobs_done == 2, summary.render()
    rows = pd.read_parquet(f"{options.sweep_dir}/trials")
    assert sorted(rows["framework"]) == ["tensorflow", "torch"] and set(rows["status"]) == {"ok"}
    # the same network written twice: the same number of weights, and both really trained two epochs
    assert rows["parameters"].nunique() == 1 and rows["parameters"].iloc[0] > 100_000
    assert (rows["epochs"] == 2).all() and rows["train_loss"].notna().all()
    assert (rows["n_train_files"] == 600).all() and (rows["n_test_files"] == 200).all()
    shown = tables.part1_table(tables.job_results(load_manifest(options.sweep_dir), rows))[1]
    assert list(shown.columns) == ["scratch_cnn (torch)", "scratch_cnn (tensorflow)"]


def test_broken_cifar_file_is_one_line(tmp_path, demo_root):
    root = tmp_path / "data" / "cifar100"
    shutil.copytree(demo_root / "cifar100", root)
    (root / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match=r"cifar-100-python/train: not a CIFAR python pickle"):
        check_data(JOBS, tmp_path / "data")


def test_flip_crop_is_a_crop_of_the_padded_image_or_its_mirror():
    import torch
    import torch.nn.functional as F

    from trainables.images.cifar import PAD
    from trainables.images.scratch import flip_crop

    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).reshape(4, 3, 8, 8)
    out, padded = flip_crop(x, torch.Generator().manual_seed(3)), F.pad(x, (PAD,) * 4)
    for image, source in zip(out, padded):
        crops = [source[:, dy:dy + 8, dx:dx + 8] for dy in range(2 * PAD + 1) for dx in range(2 * PAD + 1)]
        assert any(torch.equal(image, c) or torch.equal(image, c.flip(-1)) for c in crops)
