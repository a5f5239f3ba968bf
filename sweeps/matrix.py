"""Run any datasets x models x methods outside the course groups, as one sweep — the course's datasets or your own.

    python sweeps/matrix.py --local --datasets caltech101 --models mobilenet_v2 --methods features_svm,finetune
    python sweeps/matrix.py --local --datasets spam,questions --models rnn,lstm,gru --methods recurrent
    python sweeps/matrix.py --local --datasets birds=/data/birds,reviews=/data/reviews.csv --budget smoke \\
        --models resnet18,gru --methods features_svm,recurrent
    python sweeps/matrix.py --local --datasets cifar100 --models small_cnn --methods scratch_cnn \\
        --frameworks torch,tensorflow

`--models` holds backbones for image datasets, cell types (rnn, lstm, gru) for text datasets and small_cnn for
CIFAR-100; each dataset pairs with the models and methods that read its kind of data, so one command can mix them.
A dataset given as NAME=PATH (or in --datasets-file) is yours: its kind is inferred from the files (sweeps.datasets).
"""
from __future__ import annotations

import argparse

from sweeps.cli import HelpFormatter, add_common_options, frameworks, option_groups, run_command, run_jobs
from sweeps.datasets import Catalog, load_catalog, parse_datasets
from core.course import Job, GroupError
from core.registry import CELLS, METHODS, NETS, fits


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def matrix_jobs(datasets: list[str], models: list[str], methods: list[str], requested: tuple[str, ...] = (),
                catalog: Catalog | None = None) -> dict[Job, list]:
    """Every (dataset, model, method) whose method reads the dataset's kind of data and trains that kind of model,
    once per requested framework the method has; unknown names are errors listing the valid ones."""
    from trainables.images.specs import backbone_spec

    catalog = catalog or Catalog()
    for model in models:
        if model not in CELLS and model not in NETS:
            backbone_spec(model)  # an unknown name fails here, listing the valid ones
    chosen = [METHODS.get(method) for method in methods]
    jobs: dict[Job, list] = {}
    for dataset in datasets:
        kind = catalog.kind(dataset)
        for model in models:
            for method in chosen:
                if kind in method.kinds and fits(method, model):
                    for framework in method.frameworks_for(requested):
                        jobs[Job(method.part, dataset, model, method.name, framework)] = []
    if not jobs:
        raise GroupError("--datasets/--models/--methods: no combination fits (image datasets take backbones and "
                         "features_svm/finetune/finetune_aug; text datasets take rnn/lstm/gru and recurrent; "
                         "cifar100 takes small_cnn and scratch_cnn)")
    return jobs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups = option_groups(parser)
    groups["run"].add_argument("--datasets", required=True,
                               help="comma-separated: course dataset names, and NAME=PATH for your own (an "
                                    "ImageFolder, train.csv + test.csv, or one .csv)")
    groups["run"].add_argument("--models", required=True,
                               help="comma-separated backbones, cell types and/or small_cnn")
    groups["run"].add_argument("--methods", required=True, help="comma-separated methods")
    add_common_options(groups)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="matrix.py", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    add_arguments(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    names, catalog = parse_datasets(args.datasets, load_catalog(args.datasets_file))
    jobs = matrix_jobs(names, _names(args.models), _names(args.methods), frameworks(args), catalog)
    return run_jobs(args, jobs, tag=matrix_tag(names, args), catalog=catalog)


def matrix_tag(datasets: list[str], args: argparse.Namespace) -> str:
    """The default sweep id's selection part: `matrix-` and a digest of what the matrix runs (its datasets, models,
    methods and frameworks, in any order), so that two matrices never share a sweep and the same one resumes."""
    from sweeps.budgets import derive_seed

    parts = [sorted(datasets), sorted(_names(args.models)), sorted(_names(args.methods)),
             sorted(_names(args.frameworks or ""))]
    return f"matrix-{derive_seed(*[','.join(p) for p in parts]):08x}"


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def entry() -> None:
    run_command(main)


if __name__ == "__main__":
    entry()
