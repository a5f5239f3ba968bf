"""An ImageFolder's files, for the driver's preflight and every trial (PIL for headers only; no torch): listing
(hidden entries skipped and counted, class folder names compared in Unicode NFC), the checks (two classes or more,
no empty class, every test class also a training class, every image's value range known) and counts, and the
images kind of dataset (IMAGES, trainables.data.kinds) — also for a bucket's listing.

    <root>/train/<class>/<image> and <root>/test/<class>/<image>    torchvision ImageFolder, split given
    <root>/<class>/<image>, or <root>/train/<class>/<image> alone    split here (sweeps.datasets.make_split)
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from trainables.common import DataError, hidden
from trainables.data.layout import EXPECTED, Layout

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
IMAGEFOLDER = Layout("images")  # <root>/{train,test}/<class>/<image>


def list_images(root: Path, split: str) -> tuple[dict[str, list[Path]], list[Path]]:
    """(class -> sorted image files, non-image files) of one split; DataError for a missing split or empty class."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing folder; expected ImageFolder layout <root>/{split}/<class>/<image>")
    # hidden entries (Jupyter's .ipynb_checkpoints, macOS's .DS_Store) are no data: left out, counted as skipped
    others = sorted(p for p in split_dir.iterdir() if hidden(p.name))
    classes = sorted(d for d in split_dir.iterdir() if d.is_dir() and not hidden(d.name))
    if not classes:
        raise DataError(f"{split_dir}: no class folders; expected <root>/{split}/<class>/<image>")
    files: dict[str, list[Path]] = {}
    for class_dir in classes:
        entries = sorted(p for p in class_dir.iterdir() if p.is_file() or hidden(p.name))
        images = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and not hidden(p.name)]
        others += [p for p in entries if p not in images]
        if not images:
            raise DataError(f"{class_dir}: empty class folder; expected at least one image "
                            f"({', '.join(IMAGE_EXTENSIONS)})")
        name = class_name(class_dir.name)
        if name in files:
            raise DataError(f"{class_dir}: two class folders whose names are the same after Unicode normalisation "
                            f"(NFC) in {split_dir}; merge them or rename one")
        files[name] = images
    return files, others


def class_name(folder: str) -> str:
    """A class folder's name as a class: Unicode NFC, so `café` typed on macOS (decomposed) under train/ and on
    Linux (composed) under test/ is one class, as it looks."""
    return unicodedata.normalize("NFC", folder)


def image_files(root: Path, layout: Layout = IMAGEFOLDER) -> dict[str, tuple[dict[str, list[Path]], list[Path]]]:
    """split -> (class -> image files, non-image files) for train and test: the folders' own split, or the
    layout's held-out test members (layout.split_here) taken from one pool of class folders."""
    if not layout.split_here:
        return {split: list_images(root, split) for split in ("train", "test")}
    files, others = list_images(root, layout.pool)
    pool = root / layout.pool
    held = {c: [p.relative_to(pool).as_posix() in layout.test for p in ps] for c, ps in files.items()}
    train = {c: [p for p, h in zip(ps, held[c]) if not h] for c, ps in files.items()}
    test = {c: [p for p, h in zip(ps, held[c]) if h] for c, ps in files.items()}
    return {"train": ({c: ps for c, ps in train.items() if ps}, others),
            "test": ({c: ps for c, ps in test.items() if ps}, [])}


def check_image_folder(root: Path, layout: Layout = IMAGEFOLDER) -> list[str]:
    """Preflight for the driver: both splits present, no empty class, every test class also in train."""
    return sorted(_checked_splits(root, layout)[0])


def image_counts(root: Path, layout: Layout = IMAGEFOLDER) -> dict[str, int]:
    """The preflight (check_image_folder, every image's value range) plus what the files hold: classes, train and
    test images (by name)."""
    train, test = _checked_splits(root, layout)
    check_ranges(train)
    check_ranges(test)
    return {"n_classes": len(train), "n_train_files": sum(map(len, train.values())),
            "n_test_files": sum(map(len, test.values())),
            "per_class": {c: (len(train[c]), len(test.get(c, ()))) for c in train}}


def _checked_splits(root: Path, layout: Layout) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Both splits' class -> image files, listed once, after the checks of check_image_folder."""
    splits = image_files(root, layout)
    (train, _), (test, _) = splits["train"], splits["test"]
    where = root / (layout.pool if layout.split_here else "train")
    if len(train) < 2:
        raise DataError(f"{where}: {len(train)} class folder(s) {sorted(train)}; expected at least 2 classes")
    if not test:
        raise DataError(f"{root / 'test'}: empty test split; expected at least one image")
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise DataError(f"{root / 'test'}: classes {unknown} have no training folder in {root / 'train'}")
    return train, test


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")  # unsigned 16-bit greyscale: 0..65535 is the full scale
RANGE_RULE = ("8- or 16-bit integers (PNG, TIFF, JPEG ...), or 32-bit floats with every value in [0, 1] (read as "
              "fractions of full scale)")


class UnknownRange(DataError):
    """An image whose pixel values have no known full scale (32-bit integers, floats outside [0, 1])."""


def range_problem(image) -> str | None:
    """Why an open image's values cannot be mapped to 0..255 without guessing, or None when they can."""
    mode = image.mode
    if mode in SIXTEEN_BIT or (mode == "I" and image.format == "PNG"):  # PNG holds at most 16 bits per sample
        return None
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if values.size and np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0:
            return None
        return f"image mode F (32-bit float) with values in [{np.nanmin(values):g}, {np.nanmax(values):g}]"
    if mode.startswith(("I", "F")):
        return f"image mode {mode} (32-bit integer), whose full scale the file does not say"
    return None


def check_ranges(files: dict[str, list[Path]]) -> None:
    """Preflight: every image's mode has a known full scale (the header says; floats are read to see their
    range). UnknownRange names the first that does not."""
    from PIL import Image

    for paths in files.values():
        for path in paths:
            try:
                with Image.open(path) as image:
                    if image.mode == "F":
                        image.load()
                    problem = range_problem(image)
            except Exception:  # noqa: BLE001 - an unreadable file is skipped and counted by the trials
                continue
            if problem:
                raise UnknownRange(f"{path}: {problem}; expected {RANGE_RULE}")


class ImageKind:
    """The images kind of dataset files (trainables.data.kinds.DataKind)."""

    def infer(self, path: Path, text_column: str, label_column: str) -> Layout | None:
        if not path.is_dir():
            return None
        if (path / "train").is_dir():
            return Layout("images", pool=None if (path / "test").is_dir() else "train")
        if (path / "test").is_dir():
            raise DataError(f"{path}: has a test split but no training split (train/); expected {EXPECTED}")
        if any(d.is_dir() and not hidden(d.name) for d in path.iterdir()):
            return Layout("images", pool="")
        return None

    def counts(self, root: Path, layout: Layout) -> dict:
        return image_counts(root, layout)

    def split_members(self, root: Path, layout: Layout) -> tuple[list, list]:
        """Image paths relative to the pool, and their classes."""
        files, _ = list_images(root, layout.pool)
        pool = root / layout.pool
        return ([p.relative_to(pool).as_posix() for ps in files.values() for p in ps],
                [c for c, ps in files.items() for _ in ps])

    def check_listing(self, location: str, listing: dict) -> None:
        from core import store

        classes = {}
        for split in ("train", "test"):
            classes[split] = {rel.split("/")[1] for rel in listing
                              if rel.startswith(f"{split}/") and rel.count("/") == 2}
            if not classes[split]:
                raise DataError(f"{store.join(location, split)}: no class folders with images "
                                f"(expected {split}/<class>/<image>)")
        unknown = sorted(classes["test"] - classes["train"])
        if unknown:
            raise DataError(f"{store.join(location, 'test')}: classes {unknown[:5]} have no training folder")

    def listing_counts(self, listing: dict) -> dict:
        images = [rel.split("/") for rel in listing
                  if rel.count("/") == 2 and rel.lower().endswith(IMAGE_EXTENSIONS)]
        seen = Counter((split, class_name(c)) for split, c, _ in images)
        per_class = {c: (n, seen[("test", c)]) for (split, c), n in sorted(seen.items()) if split == "train"}
        return {"n_classes": len(per_class), "n_train_files": sum(n for n, _ in per_class.values()),
                "n_test_files": sum(n for (split, _), n in seen.items() if split == "test"), "per_class": per_class}

    def infer_listing(self, top: set[str]) -> Layout | None:
        return Layout("images") if {"train", "test"} <= top else None

    def fetch(self, location: Path) -> bool:
        return False  # images come from the course's or the user's folders: nothing to download

    def write_demo(self, root: Path, n_classes: int, rng) -> None:
        from trainables.demo import write_images

        write_images(root, n_classes, rng)


IMAGES = ImageKind()
