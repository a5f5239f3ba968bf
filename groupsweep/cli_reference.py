"""docs/cli.md, generated from the command tree (groupsweep.cli.build_parser): every command's and subcommand's
`--help`, as the parser prints it. `python -m groupsweep.cli_reference` rewrites the page; a fast test fails when
it is stale (tests/test_cli.py)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
WIDTH = "100"  # the help's line width: the page must not depend on the terminal that wrote it


def helps(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(prog, its --help) for the parser and every subcommand under it, depth first, in the tree's order."""
    found = [(parser.prog, parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += helps(sub)
    return found


def render() -> str:
    from groupsweep.cli import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        pages = helps(build_parser())
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    lines = ["# Command reference", "",
             "Every `groupsweep` command and its options, as `--help` prints them (generated from the parsers by "
             "`python -m groupsweep.cli_reference`; a test fails when this page is stale).", ""]
    lines += [f"- [`{prog}`](#{prog.replace(' ', '-')})" for prog, _ in pages]
    for prog, text in pages:
        lines += ["", f"## {prog}", "", "```text", text.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render())
    print(f"written: {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
