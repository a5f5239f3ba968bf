"""`groupsweep slurm`'s script and its refusals, without a Slurm: what the options become (#SBATCH lines, the sweep's
options one to a line, the warning signal), that bash reads the script, and the one-line errors for what a job cannot
do. The jobs themselves run on a real Slurm in tests/test_slurm.py."""
from __future__ import annotations

import subprocess

from groupsweep.cli import main
from tests.conftest import TINY, no_ray
from tests.test_bad_input import assert_one_line_error


def slurm(capsys, monkeypatch, tmp_path, *argv: str) -> subprocess.CompletedProcess:
    """`groupsweep slurm ARGV` in this process, from tmp_path (a TA's folder): its exit code and output."""
    from sweeps.cli import main_guard

    monkeypatch.chdir(tmp_path)
    code = 0
    with no_ray("groupsweep slurm only writes a script"):
        try:
            main_guard(lambda: main(["slurm", *argv]))
        except SystemExit as exc:
            code = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["groupsweep", "slurm", *argv], code, out, err)


def test_the_script_says_what_was_asked_and_bash_reads_it(capsys, monkeypatch, tmp_path):
    done = slurm(capsys, monkeypatch, tmp_path, "--nodes", "2", "--gpus-per-node", "4", "--time",
                              "1-00:00:00", "--partition", "gpu", "--account", "cs-course", "--module", "python/3.11",
                              "--setup", "source ~/course/.venv/bin/activate", "--sbatch=--mail-type=END",
                              "--dry-run", "--", "--part", "2", "--budget", str(TINY), "--storage", "s3://bucket/runs")
    assert done.returncode == 0, done.stderr
    script = done.stdout
    for line in ("#SBATCH --nodes=2", "#SBATCH --gres=gpu:4", "#SBATCH --time=1-00:00:00", "#SBATCH --partition=gpu",
                 "#SBATCH --account=cs-course", "#SBATCH --signal=B:USR1@180", "#SBATCH --mail-type=END",
                 f"#SBATCH --chdir={tmp_path}", "module load python/3.11", "source ~/course/.venv/bin/activate",
                 "RUN=s3://bucket/runs/tiny-demo-part2", "  --part 2\n", "  --sweep-id tiny-demo-part2\n",
                 f"export GROUPSWEEP_RESUME_COMMAND='sbatch {tmp_path}/slurm/tiny-demo-part2.sbatch'"):
        assert line in script, line
    assert not (tmp_path / "slurm").exists()  # a dry run writes nothing
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_written_not_submitted_says_how_to_submit(capsys, monkeypatch, tmp_path):
    done = slurm(capsys, monkeypatch, tmp_path, "--", "--part", "2", "--budget", str(TINY))
    script = tmp_path / "slurm" / "tiny-demo-part2.sbatch"
    assert done.returncode == 0 and script.is_file() and (tmp_path / "slurm" / "logs").is_dir(), done.stderr
    assert f"submit: sbatch {script}" in done.stdout, done.stdout


def test_what_a_job_cannot_do_is_one_line(capsys, monkeypatch, tmp_path):
    cases = [
        (["--", "--part", "2", "--fresh"], "groupsweep slurm -- --fresh: set by the job itself"),
        (["--", "--local"], "groupsweep slurm -- --local: set by the job itself"),
        (["--time", "2", "--", "--part", "2"], "--stop-before 180: leaves less than a minute of a 2 job"),
        (["--nodes", "2", "--", "--part", "2", "--storage", str(tmp_path / "runs")],
         f"--storage {tmp_path / 'runs'}: this machine's own disk"),
        (["--", "--groups", "P9G1"], "--groups: unknown group 'P9G1'"),
    ]
    for argv, expected in cases:
        assert_one_line_error(slurm(capsys, monkeypatch, tmp_path, *argv), expected)


def test_submitting_without_sbatch_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    done = slurm(capsys, monkeypatch, tmp_path, "--submit", "--", "--part", "2", "--budget", str(TINY))
    assert_one_line_error(done, "sbatch: not found on this machine; run `groupsweep slurm` on the cluster's login node")
