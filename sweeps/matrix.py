"""Run any datasets x models x methods outside the course groups, as one sweep.

    python sweeps/matrix.py --local --datasets caltech101 --models mobilenet_v2 --methods features_svm,finetune
    python sweeps/matrix.py --local --datasets spam,questions --models rnn,lstm,gru --methods recurrent

`--models` holds backbones for image datasets and cell types (rnn, lstm, gru) for text datasets; each dataset
pairs with the models and methods of its own part, so one command can mix both parts.
"""
from __future__ import annotations

import argparse

from sweeps.cli import add_common_options, main_guard, run_cells, text_frameworks
from sweeps.groups import Cell, GroupError
from trainables.registry import CELLS, DATASETS, METHODS


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def matrix_cells(datasets: list[str], models: list[str], methods: list[str],
                 text_frameworks: tuple[str, ...] = ("",)) -> dict[Cell, list]:
    """The product of the names, each dataset with the models and methods of its part; unknown names are errors."""
    from trainables.images.specs import backbone_spec

    for model in models:
        if model not in CELLS:
            backbone_spec(model)  # an unknown name fails here, listing the valid ones
    cells: dict[Cell, list] = {}
    for dataset in datasets:
        part = DATASETS.get(dataset).part
        for model in models:
            if (model in CELLS) != (part == 2):
                continue  # a backbone never pairs with a text dataset, nor a cell type with images
            for method in methods:
                if METHODS.get(method).part == part:
                    for framework in text_frameworks if part == 2 else ("",):
                        cells[Cell(part, dataset, model, method, framework)] = []
    if not cells:
        raise GroupError("--datasets/--models/--methods: no combination fits (image datasets take backbones and "
                         "features_svm/finetune/finetune_aug; text datasets take rnn/lstm/gru and recurrent)")
    return cells


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="matrix.py", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", required=True, help="comma-separated dataset names")
    parser.add_argument("--models", required=True, help="comma-separated backbones and/or cell types")
    parser.add_argument("--methods", required=True, help="comma-separated methods")
    add_common_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = matrix_cells(_names(args.datasets), _names(args.models), _names(args.methods), text_frameworks(args))
    return run_cells(args, cells, tag="matrix")


def entry() -> None:
    main_guard(main)


if __name__ == "__main__":
    entry()
