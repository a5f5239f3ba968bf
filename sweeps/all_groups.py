"""Run every course group (or a subset) as one Ray Tune sweep: `python sweeps/all_groups.py [--local] ...`.

Each group expands into its jobs (Part 1: dataset x model x 3 methods; Part 2: 2 datasets x cell type); shared
jobs run once. Results land in <storage>/<sweep-id>/ as Parquet; `python -m analysis` turns them into tables.
"""
from __future__ import annotations

import argparse

from sweeps.cli import HelpFormatter, add_common_options, frameworks, option_groups, run_command, run_jobs
from sweeps.datasets import load_catalog
from sweeps.budgets import derive_seed
from core.course import Group, all_groups, expand, parse_groups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups = option_groups(parser)
    groups["run"].add_argument("--part", type=int, choices=(1, 2), default=None,
                               help="only Part 1 or Part 2 (default: both)")
    groups["run"].add_argument("--groups", default=None,
                               help="e.g. 3,7,12 (within --part) or P1G3,P2G14 (default: every group)")
    add_common_options(groups)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="all_groups.py", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    add_arguments(parser)
    return parser.parse_args(argv)


def selection_tag(groups: list[Group], part: int | None) -> str:
    """Names a subset in the default sweep id: '' for every group, partN, a few group names, or a digest."""
    if len(groups) == len(all_groups()):
        return ""
    if part and len(groups) == len(all_groups((part,))):
        return f"part{part}"
    names = [g.name for g in groups]
    return "_".join(names) if len(names) <= 4 else f"{len(names)}groups-{derive_seed(*names):08x}"


def sweep_name(args: argparse.Namespace) -> str:
    """The sweep id `run` would use for these options (--sweep-id, else from the budget, data and selection)."""
    from sweeps.cli import budget_name, sweep_id_for
    from sweeps.budgets import load_budget

    groups = parse_groups(args.groups, (args.part,) if args.part else (1, 2))
    catalog = load_catalog(args.datasets_file)
    budget = load_budget(budget_name(args, catalog))
    return sweep_id_for(args, budget.name, selection_tag(groups, args.part), catalog)


def run(args: argparse.Namespace) -> int:
    groups = parse_groups(args.groups, (args.part,) if args.part else (1, 2))
    catalog = load_catalog(args.datasets_file)  # its course: entries say where course datasets live
    return run_jobs(args, expand(groups, frameworks(args)), selection_tag(groups, args.part), catalog)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def entry() -> None:
    run_command(main)


if __name__ == "__main__":
    entry()
