"""Stage 1 of a sweep: every check that needs no Ray, before anything is written — names, each dataset (its
layout, classes large enough for the splits, the handout's counts), ImageNet weights, the results location, and
for --resume that the sweep exists. Returns each dataset's facts (DatasetFacts), which the planner reads.

A bucket dataset is checked from its listing (layout, sizes, times: no download); its files' contents are checked
on each node after the copy. A dataset whose files hold no test split gets one (sweeps.datasets.make_split; a
resumed sweep's earlier one, from its folder).
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core import store
from core.course import Group, Job
from core.registry import CELLS, METHODS, NETS, fits
from sweeps.datasets import Catalog, DataSource, check_class_sizes, make_split, with_split
from sweeps.options import ConfigError, SweepOptions
from sweeps.sweep_folder import earlier_split
from trainables.common import DataError
from trainables.rows import one_line


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset of a sweep as the preflight found it: where it is read from, its held-out test split (None when
    its files hold one), its fingerprint and what its files hold (classes, train and test items)."""

    source: DataSource
    split: dict | None
    fingerprint: str
    counts: dict[str, int | None]


def preflight(options: SweepOptions) -> dict[str, DatasetFacts]:
    """Every check that needs no Ray: names, data (its facts returned), weights, the results location."""
    check_jobs(options.jobs, options.datasets)
    if options.resume:
        check_resumable(options)
    facts = check_data(options.jobs, options.data_root, options.demo, options.datasets, options.test_fraction,
                       options.seed, earlier_split(options), options.budget.val_fraction)
    check_weights(options)
    check_storage(options.storage)
    return facts


def check_jobs(jobs: dict[Job, list[Group]], catalog: Catalog | None = None) -> None:
    """Every name in every job is known (UnknownNameError lists the valid ones) and fits its method."""
    catalog = catalog or Catalog()
    for job in jobs:
        method = METHODS.get(job.method)
        method.trainable(job.framework or None)
        kind = catalog.kind(job.dataset)
        if kind not in method.kinds:
            raise ConfigError(f"job {job.key}: method {job.method} reads {' or '.join(method.kinds)} data; "
                              f"dataset {job.dataset} is {kind}")
        if method.models == "cells":
            CELLS.get(job.model)
        elif method.models == "nets":
            NETS.get(job.model)
        elif fits(method, job.model):  # any torchvision classifier works too; deriving its facts needs torch
            from trainables.images.specs import backbone_spec

            backbone_spec(job.model)
        else:
            raise ConfigError(f"job {job.key}: {job.model} is not a backbone; {job.method} fine-tunes backbones")


def sweep_sources(jobs: dict[Job, list[Group]], data_root: Path | str | None,
                  catalog: Catalog | None = None) -> dict[str, DataSource]:
    """Where each dataset the jobs need is read from (sweeps.datasets), by name."""
    catalog = catalog or Catalog()
    return {name: catalog.source(name, data_root) for name in sorted({job.dataset for job in jobs})}


def check_data(jobs: dict[Job, list[Group]], data_root: Path | str | None, demo: bool = False,
               catalog: Catalog | None = None, test_fraction: float = 0.2, seed: int = 0,
               earlier_split: Callable[[str], dict | None] = lambda name: None,
               val_fraction: float = 0.2) -> dict[str, DatasetFacts]:
    """Preflight every dataset the jobs need; returns each one's DatasetFacts. A bucket is checked from its listing
    (layout, sizes, times: no download); its files' contents are checked on each node after the copy. A dataset
    whose files hold no test split gets one (sweeps.datasets.make_split; a resumed sweep's earlier one); every class
    must keep a training, a validation and a test item (check_class_sizes). What the course's files hold is
    compared with the handout's table once per sweep (compare_counts); generated demo data is small by design."""
    facts = {}
    for name, source in sweep_sources(jobs, data_root, catalog).items():
        try:
            split = (make_split(source, test_fraction, seed, earlier_split(name))
                     if source.layout.split_here else None)
            source = with_split(source, split) if split else source
            found = dataset_facts(source)
            check_class_sizes(source, found["per_class"], val_fraction, test_fraction)
            facts[name] = DatasetFacts(source, split, found["fingerprint"], found["counts"])
        except DataError as exc:
            raise ConfigError(str(exc)) from None
    for name in facts if not demo else ():  # after every check passed: an error stays the one line printed
        if facts[name].source.handout is not None:
            compare_counts(facts[name].source, facts[name].counts)
    return facts


def dataset_facts(source: DataSource) -> dict:
    """{"fingerprint", "counts", "per_class"} of one dataset, after its kind's checks (one DataError line naming the
    file otherwise); per_class: class -> (train, test) items, None where the listing cannot say."""
    from trainables.data.kinds import data_fingerprint, data_kind, file_counts, spec
    from trainables.data.sync import list_remote, remote_fingerprint

    location, kind = source.location, data_kind(source.kind)
    listing = list_remote(location) if store.is_uri(location) else None  # a bucket's files, or None for a folder
    present = bool(listing) if listing is not None else Path(location).exists()
    if not present and (listing is not None or not kind.fetch(Path(location))):  # e.g. CIFAR-100: downloaded
        raise DataError(f"no dataset folder {source.name!r} at {location} (layout {spec(source.kind).layout}); "
                        f"pass the --data-root that holds it, or its path")
    if listing is not None:
        kind.check_listing(str(location), listing)
        fact = {"fingerprint": remote_fingerprint(listing), "counts": kind.listing_counts(listing)}
    else:
        fact = {"fingerprint": data_fingerprint(location, source.kind),
                "counts": file_counts(Path(location), source.layout)}
    return fact | {"per_class": fact["counts"].pop("per_class")}


def compare_counts(source: DataSource, counts: dict[str, int | None]) -> None:
    """One warning line when the course's files hold other class / train / test counts than the handout's table
    says (a wrong --data-root, or an edited copy); the rows record the files' counts either way."""
    spec = source.handout
    expected = {"n_classes": spec.n_classes, "n_train_files": spec.n_train, "n_test_files": spec.n_test}
    differ = [f"{key.removeprefix('n_').removesuffix('_files')} {counts[key]:,} (handout {expected[key]:,})"
              for key in expected if counts.get(key) is not None and counts[key] != expected[key]]
    if differ:
        print(f"warning: {source.location}: the files hold other counts than the handout's table: "
              f"{', '.join(differ)}; rows record the files' counts (n_train_files, n_test_files)",
              file=sys.stderr, flush=True)


def check_weights(options: SweepOptions) -> None:
    """Local mode with ImageNet weights: every backbone's file is cached and is the file its name promises (its
    sha256 prefix), or is downloaded now (once, not per trial)."""
    names = sorted({job.model for job in options.jobs if METHODS.get(job.method).models == "backbones"})
    if options.weights != "imagenet" or options.address is not None or not names:
        return  # cluster nodes fetch (or report) their own weights; the driver cannot see their disks
    import torch

    from trainables.images.prefetch import DamagedWeights, prefetch

    try:
        prefetch(names, Path(torch.hub.get_dir()).parent)  # verifies the files there, as torch.hub would
    except DamagedWeights as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"--weights imagenet: {exc}; fetch it where there is internet with `groupsweep weights "
                          f"prefetch --dest DIR` and set TORCH_HOME=DIR, or pass --weights random")


def check_storage(storage: Path | str) -> None:
    """The results location takes a file (bucket exists, credentials and endpoint work, folder can be created and
    written) before anything is written there, so a typo in --storage is one line now rather than a traceback or
    a failed row per trial later. The probe is this process's own file, removed by its exact name."""
    probe = store.join(storage, f".write-check-{os.getpid()}")
    made = [] if store.is_uri(storage) else [p for p in [Path(storage), *Path(storage).parents] if not p.exists()]
    try:
        store.write_text("ok", probe)
        store.remove_file(probe)
    except OSError as exc:
        raise ConfigError(f"--storage {storage}: cannot write there ({one_line(exc)})") from None
    finally:
        for folder in made:  # the folders the probe created, deepest first: a refused sweep leaves nothing behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def check_resumable(options: SweepOptions) -> None:
    """--resume continues a sweep that exists: a mistyped id is refused naming the sweeps that do, instead of
    quietly starting a new one."""
    sweep_dir = options.sweep_dir
    if store.exists(store.join(sweep_dir, "sweep.json")) or store.list_files(store.join(sweep_dir, "trials")):
        return
    sweeps = [name for name in store.list_folders(options.storage)
              if store.exists(store.join(options.storage, name, "sweep.json"))]
    shown = ", ".join(sweeps[:10]) + (f" and {len(sweeps) - 10} more" if len(sweeps) > 10 else "")
    raise ConfigError(f"--resume: no sweep {options.sweep_id!r} in {options.storage} "
                      f"({'sweeps there: ' + shown if sweeps else 'it holds no sweep'}); pass one of those as "
                      f"--sweep-id, or leave out --resume to start this one")
