"""How a dataset's files are laid out — inferred from the files, never declared — and the held-out test split of a
dataset whose files hold none. Plain facts (no torch, no TensorFlow): the driver infers and checks a layout, and
every trial reads its data through the same layout, so a user's folder reads exactly like the course's.

    images  <root>/train/<class>/<image> and <root>/test/<class>/<image>    torchvision ImageFolder, split given
            <root>/<class>/<image>, or <root>/train/<class>/<image> alone    split here
    text    <root>/train.csv and <root>/test.csv                            split given
            <root>/train.csv alone, or one <file>.csv                       split here
    cifar   <root>/cifar-100-python/{train,test,meta}, or <root>/{train,test,meta}   CIFAR-100's python pickles

"Split here" means a stratified test split made once by the driver (sweeps.datasets.make_split) with a recorded
seed and fraction, written as a manifest in the sweep's folder: every trial, and every resume, reads that manifest.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from trainables.common import DataError, stratified_split

KINDS = ("images", "text", "cifar")
PART = {"images": 1, "cifar": 1, "text": 2}  # which part of the course a kind of data belongs to
CIFAR_FILES = ("train", "test", "meta")
EXPECTED = ("an ImageFolder (train/<class>/<image> and test/<class>/<image>, or <class>/<image>), train.csv and "
            "test.csv (or one .csv), or a CIFAR-100 folder (cifar-100-python/{train,test,meta})")


@dataclass(frozen=True)
class Layout:
    kind: str  # one of KINDS
    # split here: what is split, relative to the root ("" = the root itself: the class folders, or the .csv file)
    pool: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    test: frozenset | None = None  # split here: the test members (image paths relative to the pool, CSV row numbers)
    digest: str | None = None  # of the split (seed, fraction, members): part of every cache key

    @property
    def split_here(self) -> bool:
        return self.pool is not None

    def to_spec(self) -> dict:
        """What travels in a trial's spec: everything but the members (those are in the manifest)."""
        return {k: v for k, v in asdict(self).items() if k != "test"}

    @classmethod
    def from_spec(cls, spec: dict, manifest: dict | None = None) -> "Layout":
        layout = cls(**spec)
        if manifest is None:
            return layout
        if manifest["digest"] != layout.digest:
            raise DataError(f"split manifest of {manifest.get('dataset')}: digest {manifest['digest']} is not the "
                            f"sweep's {layout.digest}; rerun the sweep with --fresh")
        return replace(layout, test=frozenset(manifest["test"]))


def cifar_root(path: Path) -> Path | None:
    """The folder holding CIFAR-100's train / test / meta pickles (torchvision's cifar-100-python/ or the folder)."""
    for folder in (path / "cifar-100-python", path):
        if all((folder / name).is_file() for name in CIFAR_FILES):
            return folder
    return None


def infer(path: Path, text_column: str = "text", label_column: str = "label") -> Layout:
    """The layout of the files at `path` (see the module docstring); one DataError line when it is none of them."""
    columns = {"text_column": text_column, "label_column": label_column}
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return Layout("text", pool="", **columns)
        raise DataError(f"{path}: a file that is not a .csv; expected a folder with {EXPECTED}")
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder; expected {EXPECTED}")
    if cifar_root(path) is not None:
        return Layout("cifar")
    if (path / "train.csv").is_file():
        return Layout("text", pool=None if (path / "test.csv").is_file() else "train.csv", **columns)
    if (path / "train").is_dir():
        return Layout("images", pool=None if (path / "test").is_dir() else "train")
    if (path / "test.csv").is_file() or (path / "test").is_dir():
        raise DataError(f"{path}: has a test split but no training split (train.csv or train/); expected {EXPECTED}")
    if any(d.is_dir() and not d.name.startswith(".") for d in path.iterdir()):
        return Layout("images", pool="")
    found = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "nothing"
    raise DataError(f"{path}: neither layout (found {found}); expected {EXPECTED}")


def infer_remote(location: str, listing: dict) -> Layout:
    """The layout of a dataset in a bucket, from its listing; a bucket dataset must hold its own test split (making
    one would mean downloading it on the driver)."""
    top = {rel.split("/", 1)[0] for rel in listing}
    if {"train.csv", "test.csv"} <= top:
        return Layout("text")
    if {"train", "test"} <= top:
        return Layout("images")
    raise DataError(f"{location}: a bucket dataset needs train/ and test/ (ImageFolder) or train.csv and test.csv; "
                    f"found {', '.join(sorted(top)[:6]) or 'nothing'} (split it locally, or pass a local path)")


def split_manifest(dataset: str, members: list, labels: list, fraction: float, seed: int, pool: str) -> dict:
    """A stratified test split of `members` (about `fraction` of every class; a class of one stays in train), as
    the manifest every trial reads: its seed, fraction, sizes and test members, and a digest of all of them."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"--test-fraction {fraction}: expected a number between 0 and 1")
    _, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    _, held = stratified_split(codes, fraction, seed)
    test = sorted(members[i] for i in held)
    manifest = {"dataset": dataset, "pool": pool, "seed": seed, "fraction": fraction,
                "n_train": len(members) - len(test), "n_test": len(test), "test": test}
    manifest["digest"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    return manifest


def file_counts(root: Path, layout: Layout) -> dict:
    """Classes, train and test items the files hold, after the kind's own checks, and `per_class`: class ->
    (train, test) items (None where the kind does not say: CIFAR-100's fixed 500 / 100)."""
    if layout.kind == "images":
        from trainables.images.data import image_counts

        return image_counts(root, layout)
    if layout.kind == "text":
        from trainables.text.data import text_counts

        return text_counts(root, layout)
    from trainables.images.cifar import cifar_counts

    return cifar_counts(root)
