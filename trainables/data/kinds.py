"""One protocol per kind of dataset files (images, text, cifar), registered once (core.registry.DATA_KINDS): every
place that used to switch on a dataset's kind asks its DataKind instead — the driver's preflight (infer a layout,
check and count the files, the members a held-out split is drawn from, a bucket's listing), the bucket upload and
each node's copy, the trials' fingerprint check, and the generated demo data. A new kind is one registry entry and
one class.

Implementations live beside their readers (trainables.images.files, trainables.text.data, trainables.images.cifar)
and are loaded by name, so this module imports none of them (no import circle, no torch for a driver's check).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from core.registry import DATA_KINDS, DataKindSpec
from trainables.common import DataError, fingerprint
from trainables.data.layout import EXPECTED, Layout

Listing = dict[str, tuple[int, int]]  # a bucket's files: relative path -> (size, modification time in ns)


class DataKind(Protocol):
    """What the harness asks of a kind of dataset files."""

    def infer(self, path: Path, text_column: str, label_column: str) -> Layout | None:
        """The layout when the files at `path` are of this kind (a split held out here when they hold none)."""

    def counts(self, root: Path, layout: Layout) -> dict:
        """After the kind's checks (DataError naming the file otherwise): n_classes, n_train_files, n_test_files and
        per_class (class -> (train, test) items; None where the files do not say)."""

    def split_members(self, root: Path, layout: Layout) -> tuple[list, list]:
        """(members, labels) of the pool a held-out test split is drawn from (DataError for a kind that always has
        its own split)."""

    def check_listing(self, location: str, listing: Listing) -> None:
        """A bucket's files laid out as this kind expects (DataError naming the location otherwise)."""

    def listing_counts(self, listing: Listing) -> dict:
        """What a bucket's listing says of the counts (None where only the files can say)."""

    def infer_listing(self, top: set[str]) -> Layout | None:
        """The layout when a bucket's top-level names are this kind's (a bucket dataset holds its own split)."""

    def fetch(self, location: Path) -> bool:
        """Get the files where they are missing (a download where one exists): False when the kind has no source
        (DataError when it has one and it fails)."""

    def write_demo(self, root: Path, n_classes: int, rng) -> None:
        """A tiny generated dataset of this kind at `root` (trainables.demo: the demo runs the code real data runs)."""


def spec(kind: str) -> DataKindSpec:
    return DATA_KINDS.get(kind)


def data_kind(kind: str) -> DataKind:
    """The registered implementation of `kind`."""
    module, _, name = spec(kind).protocol.partition(":")
    return getattr(importlib.import_module(module), name)


def infer(path: Path, text_column: str = "text", label_column: str = "label") -> Layout:
    """The layout of the files at `path`: the first kind, in the registry's inference order, that recognises them;
    one DataError line when none does."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected {EXPECTED}")
    for entry in sorted(DATA_KINDS, key=lambda k: k.infer_order):
        layout = data_kind(entry.name).infer(path, text_column, label_column)
        if layout is not None:
            return layout
    if path.is_file():
        raise DataError(f"{path}: a file that is not a .csv; expected a folder with {EXPECTED}")
    found = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "nothing"
    raise DataError(f"{path}: neither layout (found {found}); expected {EXPECTED}")


def file_counts(root: Path, layout: Layout) -> dict:
    """Classes, train and test items the files hold, after the kind's own checks, and `per_class`."""
    return data_kind(layout.kind).counts(root, layout)


def data_fingerprint(location: str | Path, kind: str) -> str:
    """The dataset's fingerprint as its kind takes it (content or paths and sizes)."""
    return fingerprint(location, content=spec(kind).content_fingerprint)


def infer_listing(location: str, listing: Listing) -> Layout:
    """The layout of a dataset in a bucket, from its listing; a bucket dataset must hold its own test split (making
    one would mean downloading it on the driver)."""
    top = {rel.split("/", 1)[0] for rel in listing}
    for entry in sorted(DATA_KINDS, key=lambda k: k.infer_order):
        layout = data_kind(entry.name).infer_listing(top)
        if layout is not None:
            return layout
    raise DataError(f"{location}: a bucket dataset needs train/ and test/ (ImageFolder) or train.csv and test.csv; "
                    f"found {', '.join(sorted(top)[:6]) or 'nothing'} (split it locally, or pass a local path)")
