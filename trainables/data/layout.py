"""How a dataset's files are laid out — inferred from the files by each kind (trainables.data.kinds), never
declared — and the held-out test split of a dataset whose files hold none. Plain facts (no torch, no TensorFlow):
the driver infers and checks a layout, and every trial reads its data through the same layout, so a user's folder
reads exactly like the course's.

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

import numpy as np

from trainables.common import DataError, stratified_split

EXPECTED = ("an ImageFolder (train/<class>/<image> and test/<class>/<image>, or <class>/<image>), train.csv and "
            "test.csv (or one .csv), or a CIFAR-100 folder (cifar-100-python/{train,test,meta})")


@dataclass(frozen=True)
class Layout:
    kind: str  # a registered data kind (core.registry.DATA_KINDS)
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
