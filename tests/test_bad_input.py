"""Bad input: one clear line naming the path or field, before any trial starts; faults inside a trial become rows."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sweeps.groups import Cell
from sweeps.runner import ConfigError, run_sweep
from tests.conftest import run_cli


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def copy_dataset(demo_root: Path, name: str, dest: Path) -> Path:
    shutil.copytree(demo_root / name, dest / name)
    return dest / name


def test_unknown_group(tmp_path):
    assert_one_line_error(run_cli("--groups", "42", "--storage", str(tmp_path)), "--groups", "'42'")


def test_unknown_budget(tmp_path):
    assert_one_line_error(run_cli("--budget", "huge", "--storage", str(tmp_path)), "--budget", "smoke")


def test_data_root_lacking_a_dataset(tmp_path, demo_root):
    copy_dataset(demo_root, "caltech101", tmp_path / "data")
    result = run_cli("--groups", "P1G19,P2G1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path))
    assert_one_line_error(result, "no dataset folder 'sentiment'", str(tmp_path / "data" / "sentiment"))


def test_empty_dataset_folder(tmp_path):
    for name in ("sentiment", "spam"):
        (tmp_path / "data" / name).mkdir(parents=True)
    result = run_cli("--part", "2", "--groups", "1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path))
    assert_one_line_error(result, "sentiment/train.csv: missing file")


def test_empty_class_folder(tmp_path, demo_root):
    root = copy_dataset(demo_root, "caltech101", tmp_path / "data")
    for image in (root / "train" / "class_03").iterdir():
        image.unlink()
    result = run_cli("--groups", "P1G19", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path))
    assert_one_line_error(result, "train/class_03: empty class folder")


def test_csv_without_label_column(tmp_path, demo_root):
    root = copy_dataset(demo_root, "sentiment", tmp_path / "data")
    copy_dataset(demo_root, "spam", tmp_path / "data")
    pd.read_csv(root / "train.csv").rename(columns={"label": "class"}).to_csv(root / "train.csv", index=False)
    result = run_cli("--groups", "P2G1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path))
    assert_one_line_error(result, "sentiment/train.csv: missing column(s) label", "found text, class")


def test_test_label_missing_from_train(tmp_path, demo_root):
    root = copy_dataset(demo_root, "sentiment", tmp_path / "data")
    test = pd.read_csv(root / "test.csv")
    test.loc[0, "label"] = "surprise"
    test.to_csv(root / "test.csv", index=False)
    with pytest.raises(ConfigError, match=r"test.csv: label\(s\) 'surprise' do not occur in train.csv"):
        from sweeps.runner import check_data

        check_data({Cell(2, "sentiment", "lstm", "recurrent"): []}, tmp_path / "data")


def test_undecodable_image_fails_its_trials_only(tmp_path, demo_root, make_options):
    """A corrupt JPEG is a fault inside the image trials: error rows naming the file; the text cell finishes."""
    data = tmp_path / "data"
    root = copy_dataset(demo_root, "caltech101", data)
    copy_dataset(demo_root, "spam", data)
    for bad in (root / "train" / "class_00").iterdir():  # all of them: the budget's cap samples a few
        bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    cells = {Cell(1, "caltech101", "resnet18", "features_svm"): [], Cell(2, "spam", "gru", "recurrent"): []}
    summary = run_sweep(make_options(cells, data, max_failures=0))
    assert summary.cells_done == 1 and list(summary.failed) == ["p1-caltech101-resnet18-features_svm"]
    error = summary.failed["p1-caltech101-resnet18-features_svm"]
    assert "train/class_00/caltech101_0" in error and "jpg: cannot decode image" in error and "\n" not in error
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "runs" / "test" / "trials").glob("*.parquet"))
    assert sorted(rows["status"]) == ["error", "error", "ok"]  # both SVM samples failed, the GRU trial did not


def test_gpu_request_without_gpus_fails_fast(demo_root, make_options):
    cells = {Cell(2, "spam", "gru", "recurrent"): []}
    with pytest.raises(ConfigError, match="--gpus-per-trial 1: no node has that many GPUs"):
        run_sweep(make_options(cells, demo_root, gpus_per_trial=1.0))
