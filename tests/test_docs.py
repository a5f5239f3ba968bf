"""The documentation cannot rot: every `groupsweep` command written in README.md and docs/ names commands and options
the parsers have; the cheap ones (`--help`, `plan`, a dry run) run here; the ones that read a sweep (`report`,
`export`, `watch`, the Parquet recipe) run against a tiny real sweep; every other command carries a comment saying
what it needs (a cluster, a GPU, the real files, a server, a sweep's minutes). The pages say nothing of how the
project was built, their links resolve, and the troubleshooting titles are lines the code prints."""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, no_ray

PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
NEEDS = re.compile(r"needs|runs a sweep|runs a cluster")  # a comment that says why a command is not run here
ON_A_SWEEP = ("report", "export", "watch")  # run against a tiny sweep (test_the_commands_that_read_a_sweep_run)
PLACEHOLDERS = {"RUN": "runs/smoke-demo"}


def fenced_commands(page: Path) -> list[tuple[str, str]]:
    """(command, its comment) for every `groupsweep` line of the page's shell blocks, continuation lines joined."""
    found, block, text = [], None, page.read_text()
    lines = iter(text.splitlines())
    for line in lines:
        if line.lstrip().startswith("```"):
            block = None if block is not None else line.strip().removeprefix("```")
            continue
        if block != "bash":
            continue
        while line.rstrip().endswith("\\"):
            line = line.rstrip()[:-1] + " " + next(lines).strip()
        command, _, comment = line.partition(" # ")
        start = command.find("groupsweep ")
        if start >= 0 and not command[:start].strip().endswith(("-m", "/")) and "cli_reference" not in command:
            found.append((command[start:].split('"')[0].split(")")[0].strip(), comment))
    return found


def inline_commands(page: Path) -> list[str]:
    return [c for c in re.findall(r"`(groupsweep [^`]+)`", page.read_text()) if "cli_reference" not in c]


def walk(tokens: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)parser the tokens name, and the tokens left after its name."""
    from groupsweep.cli import build_parser

    parser, rest = build_parser(), tokens[1:]
    while rest:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or rest[0] not in subs[0].choices:
            break
        parser, rest = subs[0].choices[rest[0]], rest[1:]
    return parser, rest


def every_command() -> list[tuple[Path, str]]:
    return [(page, command) for page in PAGES
            for command in [c for c, _ in fenced_commands(page)] + inline_commands(page)]


@pytest.mark.parametrize("page, command", every_command(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_every_written_command_names_what_the_parsers_have(page, command):
    tokens = shlex.split(command)
    passed = tokens.index("--") if "--" in tokens else len(tokens)  # `groupsweep slurm ... -- RUN_OPTIONS`
    parser, rest = walk(tokens[:passed])
    assert parser.prog != "groupsweep" or rest[:1] in (["--help"], []), f"{page.name}: unknown command: {command}"
    run_parser, _ = walk(["groupsweep", "run"])
    for owner, words in ((parser, rest), (run_parser, tokens[passed + 1:])):
        options = {s for a in owner._actions for s in a.option_strings}
        for token in words:
            if token.startswith("--"):
                assert token.split("=")[0] in options, f"{page.name}: {command}: {owner.prog} has no {token}"


def runnable(commands: list[tuple[str, str]]) -> list[str]:
    return [c for c, comment in commands if not NEEDS.search(comment)]


def test_every_command_here_is_run_by_a_test_or_says_what_it_needs():
    unmarked = [(page.name, c) for page in PAGES for c in runnable(fenced_commands(page))]
    left = [(name, c) for name, c in unmarked if not cheap(c) and shlex.split(c)[1] not in ON_A_SWEEP]
    assert left == [], "run these in a test, or say in a comment what they need"


def cheap(command: str) -> bool:
    tokens = shlex.split(command)
    return "--help" in tokens or tokens[1] == "plan" or "--dry-run" in tokens


@pytest.mark.parametrize("command", sorted({c for page in PAGES for c in runnable(fenced_commands(page))
                                            if cheap(c)}))
def test_the_cheap_commands_run(command):
    from groupsweep.cli import main

    with no_ray("a cheap command starts nothing"):
        try:
            code = main(shlex.split(command)[1:])
        except SystemExit as exc:  # --help
            code = exc.code
    assert code == 0, command


@pytest.mark.sweep
def test_the_commands_that_read_a_sweep_run(tmp_path, demo_root, make_options):
    """The written report / export / watch commands and the Parquet recipe, on a tiny real sweep where they say
    runs/smoke-demo."""
    from core.course import Job
    from sweeps.runner import run_sweep

    run_sweep(make_options({Job(1, "animals", "resnet18", "features_svm"): []}, demo_root,
                           storage=tmp_path / "runs", sweep_id="smoke-demo"))
    for command in sorted({c for page in PAGES for c in runnable(fenced_commands(page))
                           if shlex.split(c)[1] in ON_A_SWEEP}):
        args = [PLACEHOLDERS.get(t, t) for t in shlex.split(command)[1:]]
        done = subprocess.run([sys.executable, "-m", "groupsweep", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env=_env())
        assert done.returncode == 0, f"{command}: {done.stdout[-1000:]}{done.stderr[-1000:]}"
    recipe = (ROOT / "docs" / "results.md").read_text().split("```python\n")[1].split("```")[0]
    done = subprocess.run([sys.executable, "-c", recipe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and re.search(r"^2 trials, \d+ epochs", done.stdout, re.M), done.stdout + done.stderr
    assert "features_svm" in done.stdout  # DuckDB's table, printed


def _env() -> dict:
    import os

    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_the_pages_say_nothing_of_how_the_project_was_built():
    words = re.compile(r"\bissues?\b|\(#\d+\)|closing note|this project's|no GPU (has been )?lent", re.I)
    found = [f"{page.name}:{n}: {line.strip()}" for page in [*PAGES, ROOT / "docs" / "cli.md"]
             for n, line in enumerate(page.read_text().splitlines(), 1) if words.search(line)]
    assert found == []


def test_links_between_the_pages_resolve():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith("http") and not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert broken == []


def test_the_readme_is_a_map():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220


def test_troubleshooting_is_titled_by_lines_the_code_prints():
    """Each title has a literal piece (between its `...` gaps and brackets) of 12 characters or more that is in the
    source, or is Python's own line."""
    source = "\n".join(p.read_text() for folder in ("core", "trainables", "sweeps", "analysis", "groupsweep")
                       for p in (ROOT / folder).rglob("*.py"))
    source = re.sub(r'"\s*\n\s*f?"', "", source)  # a message's f-strings joined, as Python joins them
    source = re.sub(r"\{[^{}]*\}", "...", source)  # and its fields as the titles write them
    titles = re.findall(r"^## `(.+)`$", (ROOT / "docs" / "troubleshooting.md").read_text(), re.M)
    missing = []
    for title in titles:
        if title.startswith("ModuleNotFoundError"):
            continue  # Python's own line
        pieces = [p.strip(" :;,'") for p in re.split(r"\.\.\.|[()]|HH:MM|\bN\b|: |; |, ", title.removeprefix("error: ")
                                                      .removeprefix("warning: "))]
        if not any(len(p) >= 12 and p in source for p in pieces):  # a clause of it, as the code writes it
            missing.append(title)
    assert len(titles) >= 10 and missing == []
