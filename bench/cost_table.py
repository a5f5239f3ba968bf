"""A measured cost table (sweeps/costs/<name>.yaml) from finished sweeps, for the estimator to read in place of the
per-method defaults.

    python bench/cost_table.py RUN [RUN ...] --card "NVIDIA H200 (driver 570.86)" --device gpu \
        --out sweeps/costs/h200.yaml

RUN: sweeps run through the harness at the course's data sizes on the card being measured, one with a whole card
per trial (--gpus-per-trial 1) and one at the full budget's sharing (--gpus-per-trial 0.25), for example

    python sweeps/all_groups.py --budget full --data-root DATA --sweep-id cost-alone --gpus-per-trial 1 ...
    python sweeps/all_groups.py --budget full --data-root DATA --sweep-id cost-shared --gpus-per-trial 0.25 ...

Each trial gives its wall time less its start per training item per epoch; the table holds the mean per backbone x
method (Part 1) and per dataset x cell type (Part 2), per share, with the card, the date and this command. It is
written only when both shares were measured for every entry (a GPU table; a CPU one has `alone` only): the
estimator prices plans at either.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys

import yaml
from common import ROOT  # noqa: F401 - puts the project on sys.path


def main() -> None:
    from sweeps.cost.table import derive, load_cost_table, shares_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished sweep folders (local or s3://)")
    parser.add_argument("--card", required=True, help="the card and driver measured, e.g. 'NVIDIA H200 (driver 570)'")
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    table, wanted = derive(args.runs), set(shares_of(args.device))
    partial = {entry: sorted(wanted ^ set(shares)) for entry, shares in table["ms_per_item_epoch"].items()
               if set(shares) != wanted}
    if partial or set(table["start_s"]) != wanted:
        sys.exit(f"error: a {args.device} table needs every entry at {', '.join(sorted(wanted))} and nothing else: "
                 f"{partial or 'start_s ' + str(sorted(wanted ^ set(table['start_s'])))}")
    document = {"card": args.card, "device": args.device, "date": dt.date.today().isoformat(),
                "command": "python bench/cost_table.py " + shlex.join(sys.argv[1:])} | table
    with open(args.out, "w") as handle:
        handle.write("# measured by bench/cost_table.py: ms per training item per epoch (wall less start), per share\n")
        yaml.safe_dump(document, handle, sort_keys=False)
    load_cost_table(args.out)  # what the estimator will read
    for entry, shares in table["ms_per_item_epoch"].items():
        print(f"{entry:<28} " + "  ".join(f"{s} {v:8.3f} ms" for s, v in shares.items()))
    print(f"start: {table['start_s']}; written {args.out}")


if __name__ == "__main__":
    main()
