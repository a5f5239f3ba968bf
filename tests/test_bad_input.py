"""Bad input: one clear line naming the path or field, before any trial starts; faults inside a trial become rows."""
from __future__ import annotations

import copy
import functools
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sweeps.budgets import BudgetError, load_budget
from core.course import Job
from sweeps.runner import ConfigError, run_sweep
from tests.conftest import ROOT, run_main, trial_spec


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
    assert_one_line_error(run_main("--groups", "42", "--storage", str(tmp_path)), "--groups", "'42'")


def test_unknown_budget(tmp_path):
    assert_one_line_error(run_main("--budget", "huge", "--storage", str(tmp_path)), "--budget", "smoke")


def test_data_root_lacking_a_dataset(tmp_path, demo_root):
    copy_dataset(demo_root, "caltech101", tmp_path / "data")
    result = run_main("--groups", "P1G19,P2G1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, "no dataset folder 'sentiment'", str(tmp_path / "data" / "sentiment"))


def test_empty_dataset_folder(tmp_path):
    for name in ("sentiment", "spam"):
        (tmp_path / "data" / name).mkdir(parents=True)
    result = run_main("--part", "2", "--groups", "1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, "sentiment/train.csv: missing file")


def test_empty_class_folder(tmp_path, demo_root):
    root = copy_dataset(demo_root, "caltech101", tmp_path / "data")
    for image in (root / "train" / "class_03").iterdir():
        image.unlink()
    result = run_main("--groups", "P1G19", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, "train/class_03: empty class folder")


def test_csv_without_label_column(tmp_path, demo_root):
    root = copy_dataset(demo_root, "sentiment", tmp_path / "data")
    copy_dataset(demo_root, "spam", tmp_path / "data")
    pd.read_csv(root / "train.csv").rename(columns={"label": "class"}).to_csv(root / "train.csv", index=False)
    result = run_main("--groups", "P2G1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, "sentiment/train.csv: missing column(s) label", "found text, class")


def test_test_label_missing_from_train(tmp_path, demo_root):
    root = copy_dataset(demo_root, "sentiment", tmp_path / "data")
    test = pd.read_csv(root / "test.csv")
    test.loc[0, "label"] = "surprise"
    test.to_csv(root / "test.csv", index=False)
    with pytest.raises(ConfigError, match=r"test.csv: label\(s\) 'surprise' do not occur in train.csv"):
        from sweeps.preflight import check_data

        check_data({Job(2, "sentiment", "lstm", "recurrent"): []}, tmp_path / "data")


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_bytes(b""), "train.csv: empty file; expected a CSV with columns text,label"),
    (lambda p: p.write_bytes(b"text,label\ncaf\xe9 au lait,pos\n"), "train.csv: not UTF-8 text (byte 14)"),
    (lambda p: p.write_text("text,label\ngood,pos\nfine,pos\n"), "train.csv: column label has a single class"),
    (lambda p: p.write_text("text,label\n  ,pos\n,neg\n"), "train.csv: no rows with non-empty text"),
    (lambda p: p.write_text("text,label\n"), "train.csv: no rows with non-empty text"),  # header only
    (lambda p: p.write_text("a fine film,pos\na dull one,neg\n"),  # no header: its first row is read as one
     "train.csv: missing column(s) text, label; expected a CSV with columns text,label (found a fine film, pos)"),
])
def test_broken_text_csv_is_one_line(tmp_path, demo_root, damage, needle):
    root = copy_dataset(demo_root, "sentiment", tmp_path / "data")
    copy_dataset(demo_root, "spam", tmp_path / "data")
    damage(root / "train.csv")
    result = run_main("--groups", "P2G1", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, needle)


def test_quoted_newlines_and_empty_texts_are_read_right(tmp_path):
    from trainables.text.data import read_dataset

    (tmp_path / "train.csv").write_text('text,label\n"line one\nline two, with comma",spam\nNA,ham\n"   ",ham\n')
    (tmp_path / "test.csv").write_text("text,label\nnull,ham\n")
    classes, train, test = read_dataset(tmp_path)
    assert classes == ["ham", "spam"] and list(train["text"]) == ["line one\nline two, with comma", "NA"]
    assert list(test["text"]) == ["null"]  # "NA" / "null" stay text
    assert train.attrs["skipped"] == ["train.csv data row 3"]  # the empty text is dropped and named


def _odd_images(folder: Path) -> None:
    """Replace a class's images with every kind of odd file a scraped dataset holds."""
    from PIL import Image

    source = sorted(folder.iterdir())
    base = Image.open(source[0]).convert("RGB")
    for path in source:
        path.unlink()
    base.save(folder / "plain.jpg")
    base.convert("L").save(folder / "grey.jpg")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    base.convert("RGBA").save(folder / "alpha.png")
    base.convert("P").save(folder / "palette.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (folder / "truncated.jpg").write_bytes((folder / "plain.jpg").read_bytes()[:300])
    (folder / "notes.txt").write_text("not an image")


def test_odd_images_are_converted_or_skipped_and_counted(tmp_path, demo_root, make_options, tiny_budget, capsys):
    """Greyscale, CMYK, alpha and palette images are converted; corrupt, truncated and non-image files are skipped,
    counted and named in the row, and the driver shows them once for the dataset; the sweep finishes."""
    import dataclasses

    data = tmp_path / "data"
    root = copy_dataset(demo_root, "caltech101", data)
    _odd_images(root / "train" / "class_00")
    budget = dataclasses.replace(tiny_budget, images=dataclasses.replace(tiny_budget.images, max_train_per_class=None))
    jobs = {Job(1, "caltech101", "resnet18", "features_svm"): [], Job(1, "caltech101", "resnet18", "finetune"): []}
    summary = run_sweep(make_options(jobs, data, budget=budget))
    assert summary.failed == {}
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "runs" / "test" / "trials").glob("*.parquet"))
    assert (rows["status"] != "error").all()
    assert (rows["skipped_images"] == 3).all()  # corrupt.jpg, truncated.jpg, notes.txt
    first = rows["skipped_first"].iloc[0]
    assert first.startswith("train/class_00/") and (rows["skipped_first"] == first).all()
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: caltech101:")]
    assert warnings == [f"warning: caltech101: 3 files (not images, or unreadable) skipped; first: {first} "
                        f"(rows: skipped_images)"]


def test_decode_converts_every_mode_to_rgb(tmp_path):
    from PIL import Image

    from trainables.images.data import decode

    image = Image.new("RGB", (40, 30), (200, 10, 10))
    for mode, suffix in (("L", "jpg"), ("CMYK", "jpg"), ("RGBA", "png"), ("P", "png"), ("I;16", "png")):
        path = tmp_path / f"{mode.replace(';', '')}.{suffix}"
        image.convert(mode).save(path)
        tensor = decode(path, 16)
        assert tuple(tensor.shape) == (3, 16, 16), mode
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    assert decode(tmp_path / "bad.jpg", 16) is None


def test_split_without_any_decodable_image_is_an_error_row(tmp_path, demo_root, make_options):
    data = tmp_path / "data"
    root = copy_dataset(demo_root, "caltech101", data)
    copy_dataset(demo_root, "spam", data)
    for image in (root / "test").rglob("*.jpg"):
        image.write_bytes(b"broken")
    jobs = {Job(1, "caltech101", "resnet18", "features_svm"): [], Job(2, "spam", "gru", "recurrent"): []}
    summary = run_sweep(make_options(jobs, data, max_failures=0))
    assert list(summary.failed) == ["p1-caltech101-resnet18-features_svm"] and summary.jobs_done == 1
    error = summary.failed["p1-caltech101-resnet18-features_svm"]
    assert "caltech101/test: no decodable image" in error and "\n" not in error


def test_gpu_request_without_gpus_fails_fast(demo_root, make_options):
    jobs = {Job(2, "spam", "gru", "recurrent"): []}
    with pytest.raises(ConfigError, match="--gpus-per-trial 1: no node has that many GPUs"):
        run_sweep(make_options(jobs, demo_root, gpus_per_trial=1.0))


def test_trial_given_a_gpu_it_cannot_see_stops_at_start(monkeypatch, tmp_path):
    """The trial-side check (a cluster advertising GPUs its nodes cannot use): torch really sees none here."""
    import torch

    from trainables.trial import LOGICAL_GPUS_ENV, GPUUnavailable, check_gpu

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.delenv(LOGICAL_GPUS_ENV, raising=False)
    check_gpu(trial_spec(tmp_path, gpus=0, framework="torch"))  # no GPU asked: nothing to check
    with pytest.raises(GPUUnavailable, match=r"trial asked for 0.5 GPU .* torch sees no CUDA device"):
        check_gpu(trial_spec(tmp_path, gpus=0.5, framework="torch"))
    monkeypatch.setenv(LOGICAL_GPUS_ENV, "1")
    check_gpu(trial_spec(tmp_path, gpus=0.5, framework="torch"))  # logical GPUs (the loopback cluster): accepted


def test_matrix_unknown_model_is_one_line(tmp_path):
    result = run_main("--datasets", "caltech101", "--models", "resnet9000", "--methods", "features_svm", "--storage",
                      str(tmp_path), script="matrix.py")
    assert_one_line_error(result, "unknown backbone 'resnet9000'", "alexnet")


def test_image_test_class_missing_from_train(tmp_path, demo_root):
    root = copy_dataset(demo_root, "caltech101", tmp_path / "data")
    shutil.rmtree(root / "train" / "class_07")
    result = run_main("--groups", "P1G19", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path),
                     "--budget", "smoke")
    assert_one_line_error(result, "caltech101/test: classes ['class_07'] have no training folder")


def test_real_data_needs_a_named_budget(tmp_path, demo_root):
    """Real data never silently gets the smoke budget's caps (a few hundred items of thousands)."""
    copy_dataset(demo_root, "spam", tmp_path / "data")
    result = run_main("--part", "2", "--groups", "7", "--data-root", str(tmp_path / "data"), "--storage", str(tmp_path))
    assert_one_line_error(result, "without --budget", "--budget full", "--budget smoke to accept the caps")


@pytest.mark.parametrize("args, needle", [
    (("--cpus-per-trial", "-2"), "argument --cpus-per-trial: '-2': expected a whole number >= 1"),
    (("--cpus-per-trial", "0"), "expected a whole number >= 1"),
    (("--gpus-per-trial", "-1"), "argument --gpus-per-trial: '-1': expected a finite number >= 0"),
    (("--max-failures", "-5"), "argument --max-failures: '-5': expected a whole number >= 0"),
])
def test_numeric_options_are_checked_before_anything_starts(tmp_path, args, needle):
    result = run_main(*args, "--storage", str(tmp_path), "--dry-run")
    assert result.returncode == 2 and needle in result.stderr, result.stderr


def test_an_empty_group_selection_is_an_error(tmp_path):
    assert_one_line_error(run_main("--groups", ",", "--storage", str(tmp_path)), "--groups ','", "no group named")


SMOKE = yaml.safe_load((ROOT / "sweeps" / "budgets" / "smoke.yaml").read_text())


def edited_smoke(tmp_path: Path, path: str, value) -> Path:
    """A copy of smoke.yaml with one key path (a.b.c) set to `value`, or renamed when `value` is a ("rename", new)."""
    raw = copy.deepcopy(SMOKE)
    *parents, last = path.split(".")
    node = functools.reduce(lambda d, k: d[k], parents, raw)
    if isinstance(value, tuple):
        node[value[1]] = node.pop(last)
    else:
        node[last] = value
    out = tmp_path / "edited.yaml"
    out.write_text(yaml.safe_dump(raw))
    return out


@pytest.mark.parametrize("path, value, needle", [
    ("methods.recurrent.space.units", ("rename", "unitz"),
     "methods.recurrent.space.unitz: unknown parameter of recurrent (did you mean units?); valid: batch_size,"),
    ("methods.finetune.space.mode", {"choice": ["head", "lats3"]},
     "methods.finetune.space.mode.choice: expected one of head, head_lr, all, last<k> (e.g. last3), got 'lats3'"),
    ("methods.finetune_aug.space.augment", {"choice": ["flipp"]},
     "augment.choice: expected one of none, flip_crop, flip_crop_color, flip_crop_color_affine, got 'flipp'"),
    ("methods.finetune.space.lr", {"loguniform": [-0.1, 0.1]}, "space.lr.loguniform: expected a number > 0"),
    ("methods.scratch_cnn.space.lr", -0.01, "space.lr: expected a number > 0, got -0.01"),
    ("methods.finetune.max_epochs", 0, "methods.finetune.max_epochs: expected a whole number >= 1 or null, got 0"),
    ("methods.features_svm.num_samples", 0, "num_samples: expected a whole number >= 1, got 0"),
    ("methods.recurrent.space.batch_size", "eight", "batch_size: expected a whole number >= 1, got 'eight'"),
    ("methods.recurrent.space.bidirectional", {"choice": ["yes"]}, "expected true or false, got 'yes'"),
    ("methods.recurrent.datasets", {"questions": {"max_tokenz": 300}},
     "methods.recurrent.datasets.questions.max_tokenz: unknown parameter of recurrent (did you mean max_tokens?)"),
    ("methods.recurrent.datasets", {"questions": {"dropout": {"uniform": [0.0, 1.5]}}},
     "datasets.questions.dropout.uniform: expected a number in [0, 1), got 1.5"),
    ("methods.finetune", ("rename", "finetuen"), "methods.finetuen: unknown method; valid: features_svm,"),
    ("val_fraction", 1.5, "val_fraction: expected a number in (0, 1), got 1.5"),
    ("images.image_size", ("rename", "image_sise"), "images.image_sise: unknown images setting (did you mean"),
    ("methods.finetune.asha", {"grace_period": 0}, "asha.grace_period: expected a whole number >= 1, got 0"),
])
def test_a_budget_is_checked_when_it_loads(tmp_path, path, value, needle):
    """Every key, choice, range and type of a budget: one line naming the file and the key path, before Ray starts
    (these used to start Ray and fail each trial with a KeyError traceback)."""
    budget = edited_smoke(tmp_path, path, value)
    with pytest.raises(BudgetError) as error:
        load_budget(str(budget))
    assert str(error.value).startswith(f"{budget}: ") and needle in str(error.value), error.value


def test_a_bad_budget_stops_the_sweep_command_before_ray(tmp_path):
    budget = edited_smoke(tmp_path, "methods.recurrent.space.units", ("rename", "unitz"))
    result = run_main("--part", "2", "--groups", "1", "--budget", str(budget), "--storage", str(tmp_path / "runs"))
    assert_one_line_error(result, "unitz: unknown parameter of recurrent")
    assert not (tmp_path / "runs").exists()  # refused before demo data, results folder or Ray
