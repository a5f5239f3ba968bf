"""Nothing a sweep deletes is outside its own folder: unsafe --sweep-id values are refused by argparse, --fresh
refuses a folder that is not only this sweep's, and a normal --fresh removes exactly its own sweep — on a local
folder and on a real S3 API (moto's server on loopback). Canary files beside, above and inside the storage, and
in a sibling sweep, must all survive every case.

What this cannot prove: a second machine's view of a shared mount (both "nodes" here are one filesystem).
"""
from __future__ import annotations

import json

import pytest

from sweeps.storage import ForeignFolder, remove_sweep
from tests.conftest import TINY, run_cli, run_main
from tests.test_bad_input import assert_one_line_error
from core import store

REFUSED_IDS = ["..", ".", "", "../escape", "a/b", "/abs", "x" * 101, "a b"]


@pytest.fixture(params=["local", "s3"])
def area(request, tmp_path) -> str:
    """A folder (or bucket prefix) holding the storage `<area>/runs` and canaries around it."""
    return str(tmp_path / "area") if request.param == "local" else request.getfixturevalue("s3_bucket")


def plant_canaries(area: str) -> dict[str, str]:
    """Files beside and above the storage, inside it, and in a sibling sweep whose name extends the target's."""
    storage = store.join(area, "runs")
    canaries = {store.join(area, "above.txt"): "above", store.join(area, "runs-beside", "beside.txt"): "beside",
                store.join(storage, "inside.txt"): "inside",
                store.join(storage, "s2", "sweep.json"): json.dumps({"sweep_id": "s2"}),
                store.join(storage, "s2", "trials", "row.parquet"): "sibling row"}
    for location, text in canaries.items():
        store.write_text(text, location)
    return canaries


def assert_canaries_survive(canaries: dict[str, str]) -> None:
    for location, text in canaries.items():
        assert store.read_text(location) == text, f"{location} was touched"


@pytest.mark.parametrize("bad", REFUSED_IDS)
def test_unsafe_sweep_ids_are_refused_before_anything_is_touched(tmp_path, bad, monkeypatch):
    monkeypatch.setenv("GROUPSWEEP_CACHE", str(tmp_path / "cache"))
    canaries = plant_canaries(str(tmp_path / "area"))
    result = run_main("--local", "--part", "2", "--groups", "1", "--sweep-id", bad, "--fresh", "--storage",
                     str(tmp_path / "area" / "runs"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"argument --sweep-id: {bad!r}: a sweep id is one name of 1-100 letters, digits, '-', '_' or '.', "
        "starting with a letter or digit (no '/' or spaces)")
    assert_canaries_survive(canaries)
    assert not (tmp_path / "cache").exists()  # refused before the demo data was generated


def test_unsafe_sweep_id_on_s3(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPSWEEP_CACHE", str(tmp_path / "cache"))
    canaries = plant_canaries(s3_bucket)
    for bad in ("..", "."):
        result = run_main("--local", "--part", "2", "--groups", "1", "--sweep-id", bad, "--fresh", "--storage",
                         store.join(s3_bucket, "runs"))
        assert result.returncode == 2 and "argument --sweep-id" in result.stderr.splitlines()[-1]
    assert_canaries_survive(canaries)


@pytest.mark.parametrize("case", ["user file inside", "another sweep's plan", "no plan", "plan is a folder"])
def test_fresh_refuses_a_folder_that_is_not_only_this_sweeps(area, case):
    canaries = plant_canaries(area)
    target = store.join(area, "runs", "s")
    inside = {store.join(target, "trials", "a.parquet"): "row"}
    if case != "no plan" and case != "plan is a folder":
        sweep_id = "other" if case == "another sweep's plan" else "s"
        inside[store.join(target, "sweep.json")] = json.dumps({"sweep_id": sweep_id})
    if case == "user file inside":
        inside[store.join(target, "notes.txt")] = "mine"
    if case == "plan is a folder":
        inside[store.join(target, "sweep.json", "x")] = "not a plan"
    for location, text in inside.items():
        store.write_text(text, location)
    expected = {"user file inside": "holds notes.txt, which a sweep does not write",
                "another sweep's plan": "holds the sweep.json of sweep 'other', not sweep 's''s",
                "no plan": "holds no sweep.json", "plan is a folder": "holds sweep.json, which a sweep"}[case]
    with pytest.raises(ForeignFolder, match="^--fresh: .*" + expected.replace("(", r"\(")):
        remove_sweep(store.join(area, "runs"), "s")
    assert_canaries_survive(canaries | inside)


def test_fresh_refuses_a_symbolic_link(tmp_path):
    canaries = plant_canaries(str(tmp_path))
    (tmp_path / "runs" / "s").symlink_to(tmp_path / "runs" / "s2")  # deleting "its" entries would empty s2
    with pytest.raises(ForeignFolder, match="is a symbolic link"):
        remove_sweep(tmp_path / "runs", "s")
    assert_canaries_survive(canaries)


def test_cli_fresh_on_a_foreign_folder_is_one_line(area, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPSWEEP_CACHE", str(tmp_path / "cache"))
    canaries = plant_canaries(area)
    mine = {store.join(area, "runs", "s", "sweep.json"): json.dumps({"sweep_id": "s"}),
            store.join(area, "runs", "s", "thesis.pdf"): "years of work"}
    for location, text in mine.items():
        store.write_text(text, location)
    result = run_main("--local", "--part", "2", "--groups", "1", "--sweep-id", "s", "--fresh", "--storage",
                     store.join(area, "runs"))
    assert_one_line_error(result, "--fresh:", "holds thesis.pdf, which a sweep does not write")
    assert_canaries_survive(canaries | mine)


def test_storage_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    for bad in ("/proc/nope", str(tmp_path / "file" / "runs")):
        result = run_main("--local", "--part", "2", "--groups", "1", "--storage", bad)
        assert_one_line_error(result, f"--storage {bad}: cannot write there")


@pytest.mark.sweep
def test_a_normal_fresh_removes_exactly_its_own_sweep(tmp_path):
    """A real sweep, then the same command with --fresh: the old rows are gone, everything else is there."""
    canaries = plant_canaries(str(tmp_path))
    command = ["--local", "--datasets", "spam", "--models", "gru",
               "--methods", "recurrent", "--budget", str(TINY), "--storage", str(tmp_path / "runs"),
               "--sweep-id", "s"]
    first = run_cli(*command, script="matrix.py")
    assert first.returncode == 0, first.stderr
    rows_before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "s" / "trials").iterdir()}
    again = run_cli(*command, "--fresh", script="matrix.py")
    assert again.returncode == 0, again.stderr
    assert "--fresh: removed " + str(tmp_path / "runs" / "s") in again.stdout
    rows_after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "s" / "trials").iterdir()}
    assert rows_after.keys() == rows_before.keys() and all(rows_after[k] != rows_before[k] for k in rows_after)
    assert_canaries_survive(canaries)
