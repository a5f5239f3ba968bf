"""Which files each dataset of a sweep is read from: the course's, under --data-root (or where a datasets file says),
and the user's own, given by path — `--datasets birds=/data/birds,reviews=/data/reviews.csv` or a datasets file:

    datasets:                      # your own: the layout (images / text) is inferred from the files
      - name: birds
        path: /data/birds          # ImageFolder: train/ and test/, or one folder of class folders (split here)
      - name: reviews
        path: reviews.csv          # relative to this file; train.csv + test.csv, or one .csv (split here)
        text_column: review        # defaults: text, label
        label_column: stars
    course:                        # where the course's datasets live when not under --data-root
      animals: /mnt/course/animals

Each dataset becomes a DataSource (its name, location, layout and, for the course's, the handout's table entry).
A dataset whose files hold no test split gets a stratified one (make_split), with the seed and fraction recorded
in a manifest in the sweep's folder that every trial and every resume reads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from core import store, yamlfile
from trainables.common import DataError, held_count
from trainables.data.kinds import data_kind, infer, infer_listing, spec
from trainables.data.layout import Layout, split_manifest
from core.registry import DATASETS, DatasetSpec, UnknownNameError

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}")
ENTRY_KEYS = ("name", "path", "text_column", "label_column")
HOW = "pass NAME=PATH (an ImageFolder, train.csv + test.csv, or one .csv) or list it in --datasets-file"


@dataclass(frozen=True)
class DataSource:
    """One dataset of a sweep: where its files are, how they are laid out, and the handout's facts if it is the
    course's (its counts are compared with the files once per sweep)."""

    name: str
    location: Path | str  # a folder, a .csv file, or an object-store URI
    layout: Layout
    handout: DatasetSpec | None = None

    @property
    def kind(self) -> str:
        return self.layout.kind

    @property
    def part(self) -> int:
        return spec(self.kind).part

    def describe(self) -> dict:
        """For sweep.json and the report: where the dataset came from and how it was split."""
        return {"name": self.name, "location": str(self.location), "kind": self.kind,
                "source": self.handout.source if self.handout else "your own data",
                "split": "held out here" if self.layout.split_here else "the files'",
                **({"text_column": self.layout.text_column, "label_column": self.layout.label_column}
                   if spec(self.kind).named_columns else {})}


@dataclass(frozen=True)
class Catalog:
    """The user's datasets (name -> DataSource) and where course datasets live instead of <data-root>/<name>."""

    user: dict[str, DataSource] = field(default_factory=dict)
    course: dict[str, Path | str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.user and not self.course

    def kind(self, name: str) -> str:
        return self.user[name].kind if name in self.user else known(name).kind

    def source(self, name: str, data_root: Path | str | None) -> DataSource:
        if name in self.user:
            return self.user[name]
        spec = known(name)
        location = self.course.get(name) or (store.join(data_root, name) if data_root is not None else None)
        if location is None:
            raise DataError(f"dataset {name!r} is the course's: pass --data-root ROOT (with {name}/ inside) or list "
                            f"it under course: in --datasets-file")
        return DataSource(name, location, Layout(spec.kind), spec)


def known(name: str) -> DatasetSpec:
    """A course dataset; an unknown name lists the registered ones and says how to pass a path."""
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS.names())}; for your own "
                               f"data {HOW}")
    return DATASETS.get(name)


def user_source(where: str, name: str, path: str, text_column: str = "text", label_column: str = "label",
                base: Path | None = None) -> DataSource:
    """A user's dataset, its layout inferred from the files (or a bucket's listing)."""
    if not NAME.fullmatch(str(name)):
        raise DataError(f"{where}: dataset name {name!r}; expected a letter, then letters, digits or _ (at most 41)")
    if name in DATASETS:
        spec = DATASETS.get(name)
        raise DataError(f"{where}: dataset {name!r} ({path}) collides with the course's dataset {name!r} "
                        f"({spec.source}); give yours another name, or read the course's {name} from {path} with "
                        f"a course: entry in --datasets-file")
    for column, value in (("text_column", text_column), ("label_column", label_column)):
        if not isinstance(value, str) or not value:
            raise DataError(f"{where}: {column} {value!r}; expected a column name")
    if store.is_uri(path):
        from trainables.data.sync import list_remote

        return DataSource(name, path, infer_listing(path, list_remote(path)))
    location = (base / path if base is not None else Path(path)).expanduser().resolve()
    try:
        layout = infer(location, text_column, label_column)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    return DataSource(name, location, layout)


def parse_datasets(text: str, catalog: Catalog) -> tuple[list[str], Catalog]:
    """--datasets: names (the course's, or ones the datasets file defines) and NAME=PATH pairs, comma-separated."""
    names, user = [], dict(catalog.user)
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    check_commas(tokens, user)
    for token in tokens:
        name, sep, path = (part.strip() for part in token.partition("="))
        if sep:
            if name in user:
                raise DataError(f"--datasets: dataset {name!r} is given twice ({user[name].location} and {path})")
            user[name] = user_source("--datasets", name, path)
        elif name not in user:
            known(name)
        names.append(name)
    if not names:
        raise DataError("--datasets: no dataset named; " + HOW)
    return list(dict.fromkeys(names)), replace(catalog, user=user)


def check_commas(tokens: list[str], user: dict[str, DataSource]) -> None:
    """A comma separates --datasets entries, so a path holding one is cut there: the piece after it (no `=`, not a
    dataset's name) is named with the way out, before the cut-off path is looked up."""
    for before, token in zip(tokens, tokens[1:]):
        if "=" in before and "=" not in token and token not in user and token not in DATASETS:
            name, _, path = before.partition("=")
            raise DataError(f"--datasets: {token!r} after {before!r} is not a dataset; if the path is "
                            f"{path.strip()},{token}, a comma in it cuts it there: list {name.strip()} in "
                            f"--datasets-file, which takes any path")


def load_catalog(path: Path | None) -> Catalog:
    """A datasets file (see the module docstring), validated once: one DataError line naming the entry's field."""
    if path is None:
        return Catalog()
    try:
        raw = yamlfile.loads(Path(path).read_text()) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--datasets-file {path}: cannot read it ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    except yaml.YAMLError as exc:  # a key given twice too: the first `datasets:` list would be dropped unseen
        raise DataError(f"--datasets-file {yamlfile.describe_error(path, exc)}") from None
    if not isinstance(raw, dict) or set(raw) - {"datasets", "course"}:
        raise DataError(f"{path}: expected a mapping with datasets: (a list) and/or course: (name -> path)")
    for key, kind, example in (("datasets", list, "a list of entries with name and path"),
                               ("course", dict,
                                "a mapping of course dataset name -> path, e.g. animals: /mnt/animals")):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            raise DataError(f"{path}: {key}: expected {example}; got a {type(raw[key]).__name__}")
    base, user = Path(path).resolve().parent, {}
    for i, entry in enumerate(raw.get("datasets") or []):
        where = f"{path}: datasets[{i}]"
        if not isinstance(entry, dict) or not {"name", "path"} <= set(entry) or set(entry) - set(ENTRY_KEYS):
            raise DataError(f"{where}: expected keys name, path (and text_column, label_column); got {entry!r}")
        if entry["name"] in user:
            raise DataError(f"{where}: dataset {entry['name']!r} is listed twice")
        user[entry["name"]] = user_source(where, **{k: str(v) for k, v in entry.items()}, base=base)
    course = {}
    for name, location in (raw.get("course") or {}).items():
        if name not in DATASETS:
            raise DataError(f"{path}: course.{name}: not a course dataset; registered: {', '.join(DATASETS.names())} "
                            f"(your own go under datasets:)")
        course[name] = location if store.is_uri(str(location)) else (base / str(location)).expanduser().resolve()
    return Catalog(user, course)


def split_members(source: DataSource) -> tuple[list, list]:
    """(members, labels) of the pool a held-out test split is made from (the kind says what a member is: an image
    path relative to the pool, a CSV's data row number)."""
    return data_kind(source.kind).split_members(Path(source.location), source.layout)


def make_split(source: DataSource, fraction: float, seed: int, earlier: dict | None = None) -> dict:
    """The held-out test split's manifest: the sweep's earlier one when it has the same seed and fraction (a resume
    reads the very same split), else a new stratified split of the pool."""
    members, labels = split_members(source)
    if earlier is not None:
        if (earlier["seed"], earlier["fraction"]) != (seed, fraction):
            raise DataError(f"dataset {source.name}: this sweep's test split was made with --seed {earlier['seed']} "
                            f"--test-fraction {earlier['fraction']}; pass those, or --fresh for a new split")
        gone = sorted(set(earlier["test"]) - set(members), key=str)
        if gone:
            raise DataError(f"{source.location}: {len(gone)} test member(s) of the sweep's split are gone (e.g. "
                            f"{gone[0]}); restore them, or --fresh for a new split")
        return earlier
    return split_manifest(source.name, members, labels, fraction, seed, source.layout.pool)


def with_split(source: DataSource, manifest: dict) -> DataSource:
    return replace(source, layout=replace(source.layout, test=frozenset(manifest["test"]),
                                          digest=manifest["digest"]))


def check_class_sizes(source: DataSource, per_class: dict[str, tuple[int, int]] | None, val_fraction: float,
                      test_fraction: float) -> None:
    """Every class keeps a training, a validation and a test item once the splits are made (the held-out test split
    of a dataset without one, then the budget's stratified validation split of train): a class too small for them
    would give a trial no validation accuracy to be chosen by, or a test figure of nothing. One DataError line
    naming the class, its count and the smallest count that works."""
    for name, (n_train, n_test) in sorted((per_class or {}).items()):
        if usable(n_train, n_test, val_fraction):
            continue
        n_val = held_count(n_train, val_fraction)
        if source.layout.split_here:
            has = f"{n_train + n_test} item(s); after --test-fraction {test_fraction:g} ({n_test} test) and"
            need = next(n for n in range(2, 1000) if usable(n - held_count(n, test_fraction),
                                                              held_count(n, test_fraction), val_fraction))
            needed = f"at least {need} items"
        else:
            has = f"{n_train} training and {n_test} test item(s); after"
            need = next(n for n in range(2, 1000) if usable(n, 1, val_fraction))
            needed = f"at least {need} training items and 1 test item"
        raise DataError(f"{source.location}: class {name!r} has {has} the budget's val_fraction {val_fraction:g}, "
                        f"{n_train - n_val} remain to train on, {n_val} to validate and {n_test} to test; every "
                        f"class needs one of each: {needed}")


def usable(n_train: int, n_test: int, val_fraction: float) -> bool:
    """Whether a class with these train / test counts keeps an item in train, validation and test."""
    n_val = held_count(n_train, val_fraction)
    return min(n_train - n_val, n_val, n_test) >= 1
