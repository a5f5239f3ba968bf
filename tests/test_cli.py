"""The `groupsweep` command: its tree and help, the reference page generated from it, and what its sweep commands
refuse before anything starts (each through the command's own main, in this process: no Ray may start)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, no_ray, run_main


def groupsweep(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it (the console script's module)."""
    return subprocess.run([sys.executable, "-m", "groupsweep", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, COLUMNS="120"))


def test_the_help_lists_every_subcommand_with_examples_environment_and_exit_codes():
    done = groupsweep("--help")
    assert done.returncode == 0, done.stderr
    for name in ("run", "matrix", "plan", "report", "watch", "tensorboard", "export", "mlflow", "data", "weights",
                 "cluster"):
        assert re.search(rf"^    {name}\b", done.stdout, re.M), name
    assert "examples:" in done.stdout and "MLFLOW_TRACKING_URI" in done.stdout
    assert "75 the storage refused a write" in done.stdout and "143 SIGTERM" in done.stdout


def test_a_sweep_commands_options_come_in_groups_with_their_defaults():
    done = groupsweep("run", "--help")
    titles = re.findall(r"^(\S[^:\n]*):$", done.stdout, re.M)
    assert titles == ["options", "what to run", "data", "search and budget", "where it runs", "results",
                      "cost (with --dry-run)"]
    flat = " ".join(done.stdout.split())
    for said in ("--seed SEED sweep seed: configurations, splits, initialisation (default: 0)",
                 "(default: 0.2)", "(default: 1)", "default $GROUPSWEEP_STORAGE"):
        assert said in flat, said


def test_nested_commands_have_their_own_help():
    assert "usage: groupsweep data upload" in groupsweep("data", "upload", "--help").stdout
    assert "usage: groupsweep weights prefetch" in groupsweep("weights", "prefetch", "--help").stdout
    done = groupsweep("cluster", "--help")
    assert "{up,env,status,down}" in done.stdout and "(default: autoscaling)" in done.stdout


def test_the_cli_reference_page_is_generated_from_the_parsers():
    from groupsweep.cli_reference import PAGE, render

    assert PAGE.read_text() == render(), "docs/cli.md is stale: python -m groupsweep.cli_reference"


def test_plan_is_the_dry_run_of_run():
    from groupsweep.cli import main

    with no_ray("plan starts nothing"):
        code = main(["plan", "--groups", "P2G1", "--local"])
    assert code == 0


def test_a_part_and_groups_that_disagree_are_refused_in_one_line():
    from tests.test_bad_input import assert_one_line_error

    done = run_main("--part", "2", "--groups", "P1G3", "--dry-run")
    assert_one_line_error(done, "--groups P1G3 is a Part 1 group, but --part 2 was given")


def plan_id(*args: str) -> str:
    done = run_main(*args, "--dry-run", script="matrix.py")
    assert done.returncode == 0, done.stderr
    return re.search(r"^plan for sweep (\S+):", done.stdout, re.M).group(1)


def test_a_matrix_sweeps_default_id_names_what_it_runs():
    one = plan_id("--datasets", "spam,animals", "--models", "gru,resnet18", "--methods", "recurrent,features_svm")
    same = plan_id("--datasets", "animals,spam", "--models", "resnet18,gru", "--methods", "features_svm,recurrent")
    other = plan_id("--datasets", "spam", "--models", "gru", "--methods", "recurrent")
    assert one == same and one != other
    assert re.fullmatch(r"smoke-demo-matrix-[0-9a-f]{8}", one), one


def test_a_sweep_with_rows_is_refused_before_ray_starts(tmp_path):
    """A rerun without --resume or --fresh: refused in one line by the driver, which no_ray (run_main) would fail
    had Ray started."""
    from tests.test_bad_input import assert_one_line_error

    rows = tmp_path / "smoke-demo-P2G1" / "trials"
    rows.mkdir(parents=True)
    (rows / "p2-sentiment-lstm-recurrent-00-abcdef.parquet").write_bytes(b"PAR1")
    done = run_main("--local", "--groups", "P2G1", "--storage", str(tmp_path))
    assert_one_line_error(done, "already holds 1 trial rows; pass --resume to continue it, --fresh to start over")


def test_a_local_plan_describes_this_machine():
    from sweeps.cluster.shape import this_machine

    machine = this_machine()
    done = run_main("--local", "--groups", "P1G3", "--dry-run", "--cpus-per-trial", "1")
    assert done.returncode == 0, done.stderr
    gpus = "0.25" if machine["GPU"] else "0"
    assert f"1 CPU + {gpus} GPU per trial" in done.stdout
    if not machine["GPU"]:
        assert f"this machine: {machine['CPU']:g} CPUs, no GPU: {machine['CPU']:g} trials at a time" in done.stdout
        assert "GPU-hours" not in done.stdout and "cluster's" not in done.stdout


@pytest.mark.parametrize("script", ["all_groups.py", "matrix.py"])
def test_the_scripts_are_the_same_commands(script):
    """`python sweeps/all_groups.py` (what `ray submit` copies to the head) and `python sweeps/matrix.py` keep
    working: the same parser as `groupsweep run` / `groupsweep matrix`."""
    done = subprocess.run([sys.executable, str(ROOT / "sweeps" / script), "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "what to run:" in done.stdout and "cost (with --dry-run):" in done.stdout
