"""A result is right or refused, never quietly wrong (#25): each situation a course meets — odd image formats, classes
too small for the splits, strangers in the results folder, a storage that fills up, a lock in the way, damaged
weights, typos — through the real CLI, with the exact outcome and nothing else in the storage changed.

What one machine cannot show: the storage here is a tmpfs on the driver's own machine, which the trials share; on a
cluster each node's writes fail on its own, and a bucket's refusals come as the store's error text, not an errno."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, TINY, run_main


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time: what a refused command must leave as it was."""
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def small_disk(tmp_path):
    """A 96 MB tmpfs of this test's own (the suite runs as root, as the loopback cluster's sshd needs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); run the suite as root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros into one file until the disk has no byte left; returns the file (remove it to free the disk)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:  # unbuffered: nothing left to fail at close
        for size in (1 << 20, 4096, 1):
            try:
                while handle.write(b"\0" * size):
                    pass
            except OSError:
                continue
    return filler


def ok_rows(trials: Path) -> dict[str, int]:
    out = {}
    for path in trials.glob("*.parquet"):
        try:
            if pd.read_parquet(path)["status"].iloc[0] == "ok":
                out[path.name] = path.stat().st_mtime_ns
        except Exception:  # noqa: BLE001 - a row being replaced: read it next time
            continue
    return out


@pytest.mark.sweep
def test_a_full_disk_mid_sweep_is_a_clean_stop_and_resume_finishes(small_disk, demo_root):
    """The storage fills while trials run: one `error:` line naming the path and ENOSPC, exit 75, the lock
    released, every finished row intact; once space is back, --resume runs the rest to the end."""
    storage = small_disk / "runs"
    args = [sys.executable, str(ROOT / "sweeps" / "all_groups.py"), "--local", "--groups", "P2G1,P2G2,P2G3",  # 4 jobs
            "--budget", str(TINY), "--data-root", str(demo_root), "--weights", "random", "--storage", str(storage),
            "--sweep-id", "full"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trials = storage / "full" / "trials"
    deadline = time.time() + 300
    while not ok_rows(trials):
        assert proc.poll() is None and time.time() < deadline, "the sweep ended before a trial finished"
        time.sleep(0.2)
    filler = fill(small_disk)
    kept = ok_rows(trials)
    out, err = proc.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 75, out + err
    assert "Traceback" not in err and [line for line in lines if line.startswith("error:")] == lines[-1:], err
    assert lines[-1].startswith(f"error: the storage refused a write: {storage}/") and \
        "no space left on device (ENOSPC); the sweep stopped and its finished trials are kept: free space (or make " \
        "the storage writable) and rerun with --resume" in lines[-1], lines[-1]
    assert not (storage / ".full.lock").exists()
    assert {name: mtime for name, mtime in ok_rows(trials).items() if name in kept} == kept
    assert len(kept) < 4, "every trial finished before the disk filled: nothing was stopped"

    filler.unlink()
    again = subprocess.run([*args, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4/4 jobs done" in again.stdout, again.stdout
    assert {name: mtime for name, mtime in ok_rows(trials).items() if name in kept} == kept


# -- images decoded as they are ------------------------------------------------------------------------------------

def grey_twins(demo_root: Path, dest: Path) -> tuple[Path, Path]:
    """The demo's caltech101 as 8-bit greyscale PNGs and as their 16-bit twins (each value v written as v * 257,
    the same full-scale fraction), one folder each."""
    from PIL import Image

    import numpy as np

    for source in sorted((demo_root / "caltech101").rglob("*.jpg")):
        rel = source.relative_to(demo_root / "caltech101").with_suffix(".png")
        grey = np.asarray(Image.open(source).convert("L"))
        for name, image in (("grey8", Image.fromarray(grey)),
                            ("grey16", Image.fromarray(grey.astype(np.uint16) * 257))):
            (dest / name / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(dest / name / rel)
    return dest / "grey8", dest / "grey16"


MATRIX = ("--local", "--budget", str(TINY), "--weights", "random")


def run_matrix(*args: str) -> subprocess.CompletedProcess:
    """`python sweeps/matrix.py` as a user runs it, with the tiny budget and random weights."""
    return subprocess.run([sys.executable, str(ROOT / "sweeps" / "matrix.py"), *MATRIX, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def matrix_error(*args: str) -> subprocess.CompletedProcess:
    """The same command's error path, through its main(argv) in this process (it ends before Ray starts)."""
    return run_main(*MATRIX, *args, script="matrix.py")


@pytest.mark.sweep
def test_16_bit_images_give_the_tensors_and_the_accuracy_of_their_8_bit_twin(tmp_path, demo_root):
    """A 16-bit greyscale PNG (Pillow mode I;16) used to be clipped to solid white and trained at chance without a
    word; it is scaled by its bit depth, so the same images as 8-bit PNGs give the same tensors and, through the
    real CLI and Tune, the very same rows. A 32-bit integer image has no known range: refused in the preflight."""
    from PIL import Image

    import numpy as np

    from trainables.images.data import decode

    grey8, grey16 = grey_twins(demo_root, tmp_path / "data")
    one = sorted(grey16.rglob("*.png"))[0]
    assert Image.open(one).mode == "I;16"
    twin = grey8 / one.relative_to(grey16)
    assert (decode(one, 32) == decode(twin, 32)).all() and decode(one, 32).float().std() > 10  # not one solid value
    rows = {}
    for name, folder in (("grey8", grey8), ("grey16", grey16)):
        result = run_matrix("--datasets", f"grey={folder}", "--models", "resnet18", "--methods", "features_svm",
                            "--storage", str(tmp_path / "runs"), "--sweep-id", name)
        assert result.returncode == 0, result.stdout + result.stderr
        rows[name] = pd.read_parquet(tmp_path / "runs" / name / "trials").sort_values("trial_id")
    assert (rows["grey16"]["status"] == "ok").all() and (rows["grey16"]["skipped_images"] == 0).all()
    for column in ("val_acc", "test_acc", "n_train", "n_test"):
        assert rows["grey16"][column].tolist() == rows["grey8"][column].tolist(), column

    bad = sorted(grey8.rglob("*.png"))[3]
    Image.fromarray(np.asarray(Image.open(bad)).astype(np.int32) * 1000).save(bad.with_suffix(".tif"))
    bad.unlink()
    before = snapshot(tmp_path / "runs")
    result = run_matrix("--datasets", f"grey={grey8}", "--models", "resnet18", "--methods", "features_svm",
                        "--storage", str(tmp_path / "runs"), "--sweep-id", "int32")
    assert_one_line_error(result, f"{bad.with_suffix('.tif')}: image mode I (32-bit integer), whose full scale the "
                                  f"file does not say; expected 8- or 16-bit integers")
    assert snapshot(tmp_path / "runs") == before


def assert_one_line_error(result, *needles: str) -> None:
    from tests.test_bad_input import assert_one_line_error as one_line

    one_line(result, *needles)


# -- enough data for the splits ------------------------------------------------------------------------------------

def tiny_pool(demo_root: Path, dest: Path, per_class: int) -> Path:
    """<dest>/<class>/<image>: two of the demo's caltech101 classes, `per_class` images each, no test split."""
    import shutil

    for folder in sorted((demo_root / "caltech101" / "train").iterdir())[:2]:
        (dest / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copy(image, dest / folder.name / image.name)
    return dest


def test_classes_too_small_for_the_splits_are_refused_before_anything_runs(tmp_path, demo_root):
    """2 classes x 2 images and no test split: the test split takes one of each, the budget's validation split
    nothing; this used to run, fail the SVM trials with scikit-learn's error and report the fine-tune `ok` with
    test accuracy 1.0 and no validation accuracy. Now: one line with the class, its count and what works."""
    pool = tiny_pool(demo_root, tmp_path / "pool", per_class=2)
    result = matrix_error("--datasets", f"pair={pool}", "--models", "resnet18", "--methods", "features_svm,finetune",
                        "--storage", str(tmp_path / "runs"))
    assert_one_line_error(result, f"{pool}: class 'class_00' has 2 item(s); after --test-fraction 0.2 (1 test) and "
                                  f"the budget's val_fraction 0.25, 1 remain to train on, 0 to validate and 1 to "
                                  f"test; every class needs one of each: at least 3 items")
    assert not (tmp_path / "runs").exists()
    given = tmp_path / "given"
    for split, n in (("train", 1), ("test", 1)):
        for folder in sorted((demo_root / "caltech101" / split).iterdir())[:2]:
            (given / split / folder.name).mkdir(parents=True)
            for image in sorted(folder.iterdir())[:n]:
                (given / split / folder.name / image.name).write_bytes(image.read_bytes())
    result = matrix_error("--datasets", f"given={given}", "--models", "resnet18", "--methods", "features_svm",
                        "--storage", str(tmp_path / "runs"))
    assert_one_line_error(result, "class 'class_00' has 1 training and 1 test item(s); after the budget's "
                                  "val_fraction 0.25, 1 remain to train on, 0 to validate and 1 to test; every class "
                                  "needs one of each: at least 2 training items and 1 test item")


def test_no_row_is_ok_without_a_validation_accuracy(tmp_path):
    """The trial-side net under the preflight (a budget's caps can still empty a class's validation split)."""
    from tests.conftest import trial_spec
    from trainables.common import DataError
    from trainables.trial import PLAIN, Trial

    trial = Trial(trial_spec(tmp_path), PLAIN)
    with pytest.raises(DataError, match="dataset spam: no validation accuracy"):
        trial.finish({"train_acc": 1.0, "test_acc": 1.0, "n_val": 0})
    assert not (tmp_path / "trials").exists()


def test_a_job_whose_trials_all_failed_is_failed_with_their_reason_never_missing():
    from analysis.tables import job_results

    manifest = {"jobs": [{"key": k, "part": 1, "dataset": "caltech101", "model": "resnet18", "method": "finetune",
                          "framework": "torch", "groups": ["P1G19"]} for k in ("p1-a", "p1-b", "p1-c")]}
    trials = pd.DataFrame({"trial_id": ["p1-a-00-aaaaaa", "p1-b-00-bbbbbb"], "status": ["error", "stopped"],
                           "error": ["DataError: boom", None], "val_acc": [None, 0.5], "test_acc": [None, 0.4]})
    jobs = job_results(manifest, trials).set_index("key")
    assert jobs.loc["p1-a", ["outcome", "error"]].tolist() == ["error", "DataError: boom"]
    assert jobs.loc["p1-b", ["outcome", "error"]].tolist() == [
        "error", "no trial finished ok with a validation accuracy (1 stopped)"]
    assert jobs.loc["p1-c", "outcome"] == "missing"  # never ran: no row at all


# -- the results folder reads only its own rows ---------------------------------------------------------------------

def svm_sweep(pics: Path, storage: Path, *extra: str) -> subprocess.CompletedProcess:
    """Features + SVM on `pics` (two trials), read in place so a copied storage resumes."""
    return run_matrix("--datasets", f"pics={pics}", "--models", "resnet18", "--methods", "features_svm",
                      "--storage", str(storage), "--sweep-id", "svm", *extra)


CAFE = "café"


@pytest.fixture(scope="module")
def pics(tmp_path_factory, demo_root) -> Path:
    """The demo's caltech101 as a user's folder that Jupyter and a Mac have touched: `.ipynb_checkpoints` under
    train/, a `.DS_Store` in a class folder, and one class named `café` typed decomposed (NFD, as macOS writes it)
    under train/ and composed (NFC) under test/."""
    import shutil
    import unicodedata

    root = tmp_path_factory.mktemp("own") / "pics"
    shutil.copytree(demo_root / "caltech101", root)
    (root / "train" / ".ipynb_checkpoints").mkdir()
    (root / "train" / ".ipynb_checkpoints" / "untitled.ipynb").write_text("{}")
    (root / "train" / "class_00" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    for split, form in (("train", "NFD"), ("test", "NFC")):
        (root / split / "class_01").rename(root / split / unicodedata.normalize(form, CAFE))
    return root


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory, pics) -> Path:
    """A real two-trial sweep over `pics` to copy: <storage>/svm."""
    storage = tmp_path_factory.mktemp("finished") / "runs"
    result = svm_sweep(pics, storage)
    assert result.returncode == 0, result.stdout + result.stderr
    return storage


def test_hidden_entries_are_skipped_and_class_names_compare_as_unicode_text(finished_sweep, pics):
    """Jupyter's .ipynb_checkpoints under train/ used to be refused as an "empty class folder" (the course deleted
    Jupyter's folders by hand before every sweep); `café` under train/ and test/ in two Unicode forms looked like
    one class and was two. Through the CLI: one class `café`, the hidden entries counted as skipped."""
    import json

    rows = pd.read_parquet(finished_sweep / "svm" / "trials")
    assert (rows["status"] == "ok").all() and len(rows) == 2
    classes = json.loads(rows["classes"].iloc[0])
    assert CAFE in classes and len(classes) == len(list(pics.glob("train/[!.]*")))
    assert (rows["n_test"] > 0).all() and (rows["skipped_images"] == 2).all()
    assert sorted(rows["skipped_first"])[0] in ("train/.ipynb_checkpoints", "train/class_00/.DS_Store")


def copy_storage(finished: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(finished, dest, ignore=shutil.ignore_patterns("cache", "demo-data"), symlinks=True)
    return dest


def test_strangers_in_the_results_folder_are_named_and_left_out(tmp_path, finished_sweep, pics):
    """A user's notes saved as Parquet in trials/ (sorting first: it used to stop the analysis with a KeyError;
    last: it was counted as one more trial, all nulls) and a history-shaped file of another sweep: the analysis,
    the export and --resume read only the sweep's own rows, each naming what it left out in one warning line."""
    storage = copy_storage(finished_sweep, tmp_path / "runs")
    sweep = storage / "svm"
    own = snapshot(sweep)
    pd.DataFrame({"note": ["ask the TA"], "when": [3]}).to_parquet(sweep / "trials" / "0-notes.parquet")
    trial = sorted((sweep / "trials").glob("p1-*.parquet"))[0]
    other = pd.read_parquet(trial).assign(trial_id="zz-other-sweep-00-ffffff", val_acc="0.9")  # another schema
    other.to_parquet(sweep / "trials" / "zz-other-sweep-00-ffffff.parquet")
    (sweep / "history" / "zz-copied.parquet").write_bytes((sweep / "history" / trial.name).read_bytes())
    strangers = snapshot(sweep)

    report = subprocess.run([sys.executable, "-m", "analysis", str(sweep), "--out", str(tmp_path / "report")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    warnings = [line for line in report.stderr.splitlines() if line.startswith("warning:")]
    assert f"warning: {sweep / 'trials'}: left out 2 file(s) that are not this sweep's: 0-notes.parquet (no " \
           f"column trial_id, status); zz-other-sweep-00-ffffff.parquet (column val_acc is large_string, this " \
           f"sweep's is double)" in warnings, report.stderr
    assert "trials: 2 ok." in (tmp_path / "report" / "report.md").read_text().replace("\n", " ")

    export = subprocess.run([sys.executable, "-m", "analysis", "export", str(sweep), "--out",
                             str(tmp_path / "all.parquet")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stdout + export.stderr
    assert "0-notes.parquet" in export.stderr
    assert "zz-copied.parquet (not a trial of this sweep's plan)" in export.stderr
    rows, history = pd.read_parquet(tmp_path / "all.parquet"), pd.read_parquet(tmp_path / "all.history.parquet")
    assert len(rows) == 2 and rows["trial_id"].str.startswith("p1-pics-resnet18-features_svm").all()
    assert set(history["trial_id"]) == set(rows["trial_id"])

    (sweep / "trials" / trial.name).unlink()  # one own row gone: --resume reruns that trial only
    pd.DataFrame({"note": [1]}).to_parquet(sweep / "trials" / trial.name)  # ... and a stranger in its place
    resumed = svm_sweep(pics, storage, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 trials (1 already finished)" in resumed.stdout
    assert f"{trial.name} (no column trial_id, status)" in resumed.stderr
    assert pd.read_parquet(trial)["status"].iloc[0] == "ok"  # its new row replaced the stranger
    after = snapshot(sweep)
    assert all(after[name] == mtime for name, mtime in strangers.items() if name not in own and "p1-" not in name)


# -- a lock is never a sweep ----------------------------------------------------------------------------------------

def test_a_lock_never_collides_with_a_sweep_and_a_stranger_at_its_path_is_named(tmp_path, finished_sweep, pics):
    """`--sweep-id q.lock` beside a sweep q used to take q's lock path (a traceback after Ray started, and q could
    never start again). A lock is now `.<id>.lock`, a name no sweep id can have; whatever else is at that path is
    named in one line and left alone."""
    from sweeps.lock import lock_location
    from sweeps.storage import check_sweep_id

    with pytest.raises(ValueError, match="starting with a letter or digit"):
        check_sweep_id(Path(lock_location(tmp_path, "q")).name)
    result = svm_sweep(pics, tmp_path / "runs", "--sweep-id", ".svm")
    assert result.returncode == 2 and "argument --sweep-id: '.svm': a sweep id is one name of 1-100 letters" in \
        result.stderr, result.stderr

    storage = copy_storage(finished_sweep, tmp_path / "runs")
    (storage / "svm.lock").mkdir()  # another sweep, named q.lock beside q
    (storage / "svm.lock" / "sweep.json").write_text('{"sweep_id": "svm.lock", "jobs": []}')
    resumed = svm_sweep(pics, storage, "--resume")
    assert resumed.returncode == 0 and "2 trials (2 already finished)" in resumed.stdout, resumed.stdout + \
        resumed.stderr

    (storage / ".svm.lock").mkdir()  # something that is not a lock where the lock goes
    (storage / ".svm.lock" / "mine.txt").write_text("keep me")
    before = snapshot(storage)
    assert_one_line_error(svm_sweep(pics, storage, "--resume"),
                          f"{storage}/.svm.lock: a folder where sweep svm's lock goes; move or remove it")
    (storage / ".svm.lock" / "mine.txt").unlink()
    (storage / ".svm.lock").rmdir()
    (storage / ".svm.lock").write_text("my notes")
    assert_one_line_error(svm_sweep(pics, storage, "--resume"),
                          f"{storage}/.svm.lock: a file that is not a sweep lock (8 bytes) where sweep svm's lock goes")
    assert (storage / ".svm.lock").read_text() == "my notes"
    assert {k: v for k, v in snapshot(storage).items() if "svm.lock" not in k} == \
        {k: v for k, v in before.items() if "svm.lock" not in k}


# -- weights are checked, not just found ----------------------------------------------------------------------------

def test_a_damaged_weights_file_is_named_and_prefetch_replaces_it(tmp_path, torch_home, demo_root, monkeypatch):
    """A truncated download in TORCH_HOME used to pass the preflight (the file exists) and fail every trial with
    "weights not found"; it is checked as torch.hub checks a download (the sha256 prefix in its name), named with
    the command that replaces it, and that command downloads it again instead of skipping it."""
    import shutil

    from trainables.images import prefetch

    real = torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    home = tmp_path / "torch_home"
    damaged = home / "hub" / "checkpoints" / real.name
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(real.read_bytes()[:100_000])
    monkeypatch.setenv("TORCH_HOME", str(home))
    result = matrix_error("--datasets", f"pics={demo_root / 'caltech101'}", "--models", "mobilenet_v2", "--methods",
                        "features_svm", "--weights", "imagenet", "--storage", str(tmp_path / "runs"))
    assert_one_line_error(result, f"{damaged}: damaged weights file (100,000 bytes, sha256 ",
                          "its name says b0353104...: a truncated or corrupted download); replace it with "
                          f"`groupsweep weights prefetch mobilenet_v2 --dest {home}`")
    assert not (tmp_path / "runs").exists()

    # the command itself, offline: its download (torch.hub's, hash-checked) reads the real file by a file:// URL
    monkeypatch.setattr(prefetch, "weights_path", lambda name, th: (real.resolve().as_uri(), damaged))
    assert prefetch.main(["mobilenet_v2", "--dest", str(home)]) == 0
    assert damaged.read_bytes() == real.read_bytes() and prefetch.weights_problem(damaged) is None
    shutil.rmtree(home)


# -- typos and odd inputs: one line that says what is wrong ---------------------------------------------------------

def test_yaml_with_a_key_twice_or_a_wrong_shape_is_one_line(tmp_path, demo_root):
    """A second `datasets:` block used to drop the first silently (its dataset then called unknown); `course:` as
    a list was an AttributeError traceback; a budget with a key twice kept the last one."""
    pics = demo_root / "caltech101"
    twice = tmp_path / "twice.yaml"
    twice.write_text(f"datasets:\n  - {{name: pics, path: {pics}}}\ncourse: {{}}\ndatasets:\n"
                     f"  - {{name: more, path: {pics}}}\n")
    as_list = tmp_path / "list.yaml"
    as_list.write_text(f"course:\n  - animals: {pics}\n")
    budget = tmp_path / "budget.yaml"
    budget.write_text(TINY.read_text() + "val_fraction: 0.5\n")
    for args, needle in (
            (("--datasets-file", str(twice), "--datasets", "pics"),
             f"--datasets-file {twice}: key 'datasets' appears twice (lines 1 and 4); each key once"),
            (("--datasets-file", str(as_list), "--datasets", "animals"),
             f"{as_list}: course: expected a mapping of course dataset name -> path, e.g. animals: /mnt/animals; "
             f"got a list"),
            (("--datasets", f"pics={pics}", "--budget", str(budget)),
             f"{budget}: key 'val_fraction' appears twice (lines 3 and ")):
        result = matrix_error("--models", "resnet18", "--methods", "features_svm", "--storage", str(tmp_path / "runs"),
                            *args)
        assert_one_line_error(result, needle)
    assert not (tmp_path / "runs").exists()


def test_a_comma_inside_a_datasets_path_says_a_datasets_file_takes_any_path(tmp_path, demo_root):
    import shutil

    folder = tmp_path / "pics,2026"
    shutil.copytree(demo_root / "caltech101", folder)
    result = matrix_error("--datasets", f"pics={folder}", "--models", "resnet18", "--methods", "features_svm",
                        "--storage", str(tmp_path / "runs"))
    assert_one_line_error(result, f"--datasets: '2026' after 'pics={tmp_path}/pics' is not a dataset; if the path is "
                                  f"{folder}, a comma in it cuts it there: list pics in --datasets-file, which "
                                  f"takes any path")


def test_analysis_of_a_file_and_resume_of_a_mistyped_sweep_are_one_line(tmp_path, finished_sweep, pics):
    """`python -m analysis` given a file was a NotADirectoryError traceback; `--resume` of a mistyped sweep id
    quietly started a new sweep."""
    storage = copy_storage(finished_sweep, tmp_path / "runs")
    row = sorted((storage / "svm" / "trials").glob("*.parquet"))[0]
    result = subprocess.run([sys.executable, "-m", "analysis", str(row)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert_one_line_error(result, f"{row}: a file, not a sweep results folder; pass the folder <storage>/<sweep-id>")
    before = snapshot(storage)
    result = svm_sweep(pics, storage, "--resume", "--sweep-id", "smv")
    assert_one_line_error(result, f"--resume: no sweep 'smv' in {storage} (sweeps there: svm); pass one of those as "
                                  f"--sweep-id, or leave out --resume to start this one")
    assert snapshot(storage) == before


@pytest.mark.sweep
def test_text_columns_named_twice_and_empty_labels(tmp_path, demo_root):
    """A header naming `label` twice was read without a word (pandas renames the second `label.1`); an empty label
    became a class of its own. Now: one line naming the column; the row is skipped, counted, named in the row and
    shown once by the driver."""
    import json

    from trainables.text.data import read_dataset

    frame = pd.read_csv(demo_root / "spam" / "train.csv", keep_default_na=False)
    mail = tmp_path / "mail.csv"
    frame.assign(other=frame["label"]).rename(columns={"other": "label"}).to_csv(mail, index=False)
    result = run_matrix("--datasets", f"mail={mail}", "--models", "gru", "--methods", "recurrent", "--storage",
                        str(tmp_path / "runs"))
    assert_one_line_error(result, f"{mail}: column(s) label appear more than once in the header; expected each "
                                  f"column name once")
    (tmp_path / "own").mkdir()
    frame.loc[3, "label"] = ""
    frame.loc[5, "label"] = "  "
    frame.to_csv(tmp_path / "own" / "train.csv", index=False)
    pd.read_csv(demo_root / "spam" / "test.csv", keep_default_na=False).to_csv(tmp_path / "own" / "test.csv",
                                                                               index=False)
    classes, train, _ = read_dataset(tmp_path / "own")
    assert classes == sorted(set(frame["label"]) - {"", "  "}) and len(classes) == 2
    assert train.attrs["skipped"] == ["train.csv data row 4 (empty label)", "train.csv data row 6 (empty label)"]
    assert len(train) == len(frame) - 2
    result = run_matrix("--datasets", f"own={tmp_path / 'own'}", "--models", "gru", "--methods", "recurrent",
                        "--frameworks", "torch", "--storage", str(tmp_path / "runs"), "--sweep-id", "own")
    assert result.returncode == 0, result.stdout + result.stderr
    row = pd.read_parquet(tmp_path / "runs" / "own" / "trials").iloc[0]
    assert row["status"] == "ok" and row["skipped_rows"] == 2 and sorted(json.loads(row["classes"])) == classes
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: own: 2 rows (empty text or label) skipped; first: train.csv data row 4 (empty label) "
        "(rows: skipped_rows)"]


def test_every_kind_of_refused_write_is_named_as_one(tmp_path, small_disk, s3_server):
    """What the sweep's stop recognises, without a sweep: a full disk (ENOSPC), a read-only mount (EROFS), a bucket
    that refuses the write (the store's error text; here one that does not exist) — each a WriteFailed naming the
    location, and a read-only folder is seen as such before any write (a library that hides its errno)."""
    from core import store

    filler = fill(small_disk)
    with pytest.raises(store.WriteFailed, match=r"/x/row.parquet: no space left on device \(ENOSPC\)$"):
        store.write_text("row", str(small_disk / "x" / "row.parquet"))
    assert not (small_disk / "x" / "row.parquet").exists() and store.refuses_writes(small_disk / "x") is not None
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(store.WriteFailed, match=r"row.parquet: read-only file system \(EROFS\)$"):
        store.write_text("row", str(small_disk / "row.parquet"))
    assert "read-only file system (EROFS)" in str(store.refuses_writes(small_disk / "runs" / "s"))
    with pytest.raises(store.WriteFailed, match=r"^s3://no-such-bucket-here/runs/row.parquet: the store refused"):
        store.write_text("row", "s3://no-such-bucket-here/runs/row.parquet")
    failure = store.WriteFailed("s3://b/runs/s/trials/t.parquet", "the store refused the write (AccessDenied)")
    assert store.write_refusal(RuntimeError("wrapped").with_traceback(None)) is None
    try:
        try:
            raise failure
        except store.WriteFailed as inner:
            raise RuntimeError("Tune's wrapper") from inner
    except RuntimeError as outer:
        assert str(store.write_refusal(outer)) == str(failure)
