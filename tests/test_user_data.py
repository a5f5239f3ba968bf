"""Your own data: datasets given by path run through the real CLI and Tune like the course's, with a test split held
out (and recorded) where the files hold none; bad input is one line before Ray starts.

What one machine cannot show: every path here is on the driver's own disk, which the trials share; on a cluster a
local path is checked per node against the driver's fingerprint (tests/test_cluster.py covers that check).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import PIL.Image
import pytest

from tests.conftest import TINY, run_cli, run_main
from tests.test_bad_input import assert_one_line_error


def image_pool(demo_root: Path, dest: Path, classes: int = 3, per_class: int | None = None) -> Path:
    """<dest>/<class>/<image>: one folder of class folders, no train/test split (the demo's animals images)."""
    for folder in sorted((demo_root / "animals" / "train").iterdir())[:classes]:
        (dest / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copy(image, dest / folder.name / image.name)
    return dest


def one_csv(demo_root: Path, dest: Path) -> Path:
    """A single CSV with columns of the user's own names (the demo's spam texts)."""
    frame = pd.read_csv(demo_root / "spam" / "train.csv", keep_default_na=False)
    frame.rename(columns={"text": "body", "label": "category"}).to_csv(dest, index=False)
    return dest


HOSTILE = "<b>ünï 名字 & 'c'"  # a class folder named like markup, with quotes, spaces and non-ASCII letters


@pytest.mark.sweep
def test_two_user_datasets_run_through_tune_and_the_report_names_them(tmp_path, demo_root):
    """Also the battery's odd-but-valid inputs: a hostile Unicode class name (kept, escaped in the report), a
    one-pixel image (decoded, not skipped), a CSV written by Excel on Windows (BOM, CRLF) with numeric labels."""
    birds = image_pool(demo_root, tmp_path / "birds")
    first = sorted(birds.iterdir())[0]
    first.rename(birds / HOSTILE)
    PIL.Image.new("RGB", (1, 1), (200, 30, 30)).save(birds / HOSTILE / "one_pixel.png")
    frame = pd.read_csv(one_csv(demo_root, tmp_path / "mail.csv"), keep_default_na=False)
    frame["category"] = pd.factorize(frame["category"])[0]
    (tmp_path / "mail.csv").write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode())
    (tmp_path / "datasets.yaml").write_text(
        "datasets:\n  - {name: mail, path: mail.csv, text_column: body, label_column: category}\n")
    args = ("--local", "--datasets", f"birds={birds},mail", "--datasets-file", str(tmp_path / "datasets.yaml"),
            "--models", "mobilenet_v2,gru", "--methods", "features_svm,recurrent", "--budget", str(TINY),
            "--weights", "random", "--test-fraction", "0.25", "--storage", str(tmp_path / "runs"), "--sweep-id", "own")
    result = run_cli(*args, script="matrix.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dataset birds: images from" in result.stdout and "held out here (--test-fraction 0.25)" in result.stdout

    sweep = tmp_path / "runs" / "own"
    rows = pd.read_parquet(sweep / "trials")
    assert set(rows["status"]) == {"ok"} and set(rows["dataset"]) == {"birds", "mail"}
    assert (rows["test_fraction"] == 0.25).all() and (rows["split_seed"] == 0).all()
    assert (rows["skipped_images"].dropna() == 0).all()  # the one-pixel image is an image
    assert HOSTILE in json.loads(rows[rows["dataset"] == "birds"]["classes"].iloc[0])
    assert set(json.loads(rows[rows["dataset"] == "mail"]["classes"].iloc[0])) == {"0", "1"}
    for name, pool in (("birds", 3 * 8 + 1), ("mail", 2 * 16)):  # the demo's 8 images / 16 texts per class
        manifest = json.loads((sweep / "splits" / f"{name}.json").read_text())
        mine = rows[rows["dataset"] == name]
        assert manifest["n_train"] + manifest["n_test"] == pool and manifest["fraction"] == 0.25
        assert (mine["n_test_files"] == manifest["n_test"]).all()
        assert (mine["n_train_files"] == manifest["n_train"]).all()
        assert (mine["n_test"] <= manifest["n_test"]).all()  # the tiny budget's caps apply on top
    birds_test = json.loads((sweep / "splits" / "birds.json").read_text())["test"]
    assert len(birds_test) == 6 and {m.split("/")[0] for m in birds_test} == {p.name for p in birds.iterdir()}

    report = run_cli_analysis(sweep)
    assert "| birds | images | your own data |" in report and "held out here: 25 % stratified, seed 0" in report
    assert "| birds | mobilenet_v2 |" in report and "| mail |" in report
    page = (sweep / "reports" / "index.html").read_text()
    assert "&lt;b&gt;ünï 名字 &amp; &#39;c&#39;" in page and "<b>ünï" not in page  # shown, escaped

    again = run_cli(*args, "--resume", script="matrix.py")  # a resume reads the very same split
    assert again.returncode == 0 and "(3 already finished)" in again.stdout, again.stdout + again.stderr
    assert json.loads((sweep / "splits" / "birds.json").read_text())["test"] == birds_test


def run_cli_analysis(sweep: Path) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "analysis", str(sweep)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _bad_inputs(tmp_path: Path, demo_root: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    one_class = image_pool(demo_root, tmp_path / "one_class", classes=1)
    singles = image_pool(demo_root, tmp_path / "singles", per_class=1)
    one_csv(demo_root, tmp_path / "mail.csv")
    return {
        "neither layout": ([f"x={junk}"], (str(junk), "neither layout", "found notes.txt", "ImageFolder")),
        "no such path": ([f"x={tmp_path / 'nowhere'}"], ("nowhere: no such file or folder",)),
        "named columns missing": ([f"mail={tmp_path / 'mail.csv'}"],
                                  ("mail.csv: missing column(s) text, label", "found body, category",
                                   "text_column / label_column")),
        "one class": ([f"x={one_class}"], (str(one_class), "expected at least 2 classes")),
        "empty split": ([f"x={singles}"], ("empty test split",)),
        "collision": ([f"spam={tmp_path / 'mail.csv'}"], ("'spam'", "collides with the course's dataset 'spam'",
                                                          "Enron spam")),
        "unknown": (["birdz"], ("unknown dataset 'birdz'", "registered: animals", "NAME=PATH")),
    }


@pytest.mark.parametrize("case", ["neither layout", "no such path", "named columns missing", "one class",
                                  "empty split", "collision", "unknown"])
def test_bad_user_data_is_one_line_before_ray(tmp_path, demo_root, case):
    datasets, needles = _bad_inputs(tmp_path, demo_root)[case]
    result = run_main("--local", "--datasets", ",".join(datasets), "--models", "resnet18,gru",
                     "--methods", "features_svm,recurrent", "--budget", "smoke", "--storage", str(tmp_path / "runs"),
                     script="matrix.py")
    assert_one_line_error(result, *needles)
    assert "sweep " not in result.stdout  # nothing was planned: Ray never started


def test_a_datasets_file_says_where_a_course_dataset_lives_and_its_counts_are_checked(tmp_path, demo_root, capsys):
    from sweeps.datasets import load_catalog
    from core.course import Job
    from sweeps.preflight import check_data

    shutil.copytree(demo_root / "sentiment", tmp_path / "elsewhere" / "mr")
    (tmp_path / "datasets.yaml").write_text("course:\n  sentiment: elsewhere/mr\n")
    catalog = load_catalog(tmp_path / "datasets.yaml")
    facts = check_data({Job(2, "sentiment", "gru", "recurrent"): []}, None, catalog=catalog)
    assert facts["sentiment"].source.location == (tmp_path / "elsewhere" / "mr").resolve()
    assert facts["sentiment"].counts == {"n_classes": 2, "n_train_files": 32, "n_test_files": 12}
    # the handout's table is compared with what the files hold: the demo's tiny copy differs, in one line
    warning = capsys.readouterr().err.strip()
    assert warning.count("\n") == 0 and "train 32 (handout 7,996), test 12 (handout 2,666)" in warning

    (tmp_path / "bad.yaml").write_text("course:\n  birds: /data/birds\n")
    with pytest.raises(ValueError, match=r"bad.yaml: course.birds: not a course dataset; registered: animals"):
        load_catalog(tmp_path / "bad.yaml")
