"""train.csv / test.csv (columns `text,label`, or the layout's) for Part 2: reading, checks and label mapping, also
for one CSV split here (trainables.data.layout). No TensorFlow here.

Texts may contain quoted newlines, so a real CSV parser reads them; "null" or "NA" stay text (no NA parsing).
Labels are mapped from the sorted train classes; a label seen only in test is an error. A row with an empty text
or an empty label is skipped and named (an empty label is never a class); a header naming a column twice is an
error (which one to read would be a guess); labels are compared in Unicode NFC, like image class folders.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.common import DataError, cap_total
from trainables.data.layout import EXPECTED, Layout
from core.plan import TextCaps

COLUMNS = ("text", "label")
TRAIN_TEST = Layout("text")  # <root>/train.csv and <root>/test.csv, columns text,label


# Keras TextVectorization's default standardisation ("lower_and_strip_punctuation"), so both frameworks see
# the same tokens.
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')


def standardize(text: str) -> list[str]:
    return _PUNCTUATION.sub("", text.lower()).split()


def _first_bad_byte(path: Path) -> int:
    """The file offset of the first byte that is not UTF-8 (pandas reports offsets within its own chunks)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return -1


def read_split(path: Path, layout: Layout = TRAIN_TEST) -> pd.DataFrame:
    """One CSV as a frame of str columns `text`, `label` (the layout's columns, renamed) and `row` (the data row's
    number in the file, for held-out test manifests); rows with empty text are dropped (and counted)."""
    wanted = (layout.text_column, layout.label_column)
    expected = f"expected a CSV with columns {','.join(wanted)}"
    if not path.is_file():
        raise DataError(f"{path}: missing file; {expected}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (byte {_first_bad_byte(path)}); expected a UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file; {expected}") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        hint = "" if wanted != COLUMNS else "; name yours with text_column / label_column"
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; {expected} "
                        f"(found {', '.join(map(str, frame.columns)) or 'none'}){hint}")
    twice = duplicated_columns(path)
    if twice:
        raise DataError(f"{path}: column(s) {', '.join(twice)} appear more than once in the header; expected each "
                        f"column name once (which one to read would be a guess)")
    labels = frame[wanted[1]].map(lambda label: unicodedata.normalize("NFC", label))  # as in image class folders
    frame = pd.DataFrame({"text": frame[wanted[0]], "label": labels, "row": np.arange(len(frame))})
    no_text, no_label = frame["text"].str.strip() == "", frame["label"].str.strip() == ""
    if no_text.all():
        raise DataError(f"{path}: no rows with non-empty text (column {wanted[0]})")
    frame = frame.loc[~(no_text | no_label)].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{path}: no rows with both a text and a label (column {wanted[1]} is empty)")
    # an empty label is no class: the row is left out and named, like an empty text
    frame.attrs["skipped"] = [f"{path.name} data row {row + 1}{' (empty label)' if label else ''}"
                              for row, label in zip(np.flatnonzero((no_text | no_label).to_numpy()),
                                                    (no_label & ~no_text)[no_text | no_label])]
    return frame


def duplicated_columns(path: Path) -> list[str]:
    """Header names given more than once (pandas would quietly rename the second `label` to `label.1`)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    return sorted(name for name, n in Counter(header).items() if n > 1)


def pool_file(root: Path, layout: Layout) -> Path:
    """The one CSV a held-out test split is made from: <root>/train.csv, or the .csv file itself."""
    return root / layout.pool if layout.pool else root


def read_dataset(root: Path, layout: Layout = TRAIN_TEST) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """(sorted train classes, train, test) after checking: >= 2 classes, every test label also in train."""
    if layout.split_here:
        where = pool_file(root, layout)
        pool = read_split(where, layout)
        held = pool["row"].isin(layout.test or ())
        train, test = pool.loc[~held].reset_index(drop=True), pool.loc[held].reset_index(drop=True)
        train.attrs["skipped"], test.attrs["skipped"] = pool.attrs["skipped"], []
        train_file = test_file = where
    else:
        train_file, test_file = root / "train.csv", root / "test.csv"
        train, test = read_split(train_file, layout), read_split(test_file, layout)
    classes = sorted(train["label"].unique())
    if len(classes) < 2:
        raise DataError(f"{train_file}: column {layout.label_column} has a single class {classes}; "
                        f"expected at least 2")
    if test.empty:
        raise DataError(f"{test_file}: empty test split; expected at least one row")
    unknown = sorted(set(test["label"]) - set(classes))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        where = train_file.name if train_file != test_file else "its training rows"
        raise DataError(f"{test_file}: label(s) {shown} do not occur in {where}")
    return classes, train, test


def check_text_dataset(root: Path, layout: Layout = TRAIN_TEST) -> list[str]:
    """Preflight for the driver: the dataset reads and checks cleanly; returns its classes."""
    return read_dataset(root, layout)[0]


def text_counts(root: Path, layout: Layout = TRAIN_TEST) -> dict[str, int]:
    """The preflight (read_dataset's checks) plus what the files hold: classes, train and test rows."""
    classes, train, test = read_dataset(root, layout)
    n_train, n_test = train["label"].value_counts(), test["label"].value_counts()
    return {"n_classes": len(classes), "n_train_files": len(train), "n_test_files": len(test),
            "per_class": {c: (int(n_train.get(c, 0)), int(n_test.get(c, 0))) for c in classes}}


@dataclass
class TextSplit:
    texts: list[str]
    y: np.ndarray

    def take(self, idx: np.ndarray) -> "TextSplit":
        return TextSplit([self.texts[i] for i in idx], self.y[idx])


def choose_max_len(texts: list[str], requested, percentile: float = 95, cap: int = 400, floor: int = 8) -> int:
    """A sequence length: an int as given, or "auto" = the `percentile` of train token counts within [floor, cap]."""
    if requested != "auto":
        return int(requested)
    lengths = [len(standardize(t)) for t in texts]
    return int(min(max(np.percentile(lengths, percentile), floor), cap))


class Vectorizer:
    """Words -> ids like Keras TextVectorization (0 = padding, 1 = [UNK], then by frequency), in plain Python for
    the PyTorch twin, which must not import TensorFlow."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self.index: dict[str, int] = {}

    def fit(self, texts: list[str]) -> "Vectorizer":
        counts = Counter(token for text in texts for token in standardize(text))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_tokens - 2]
        self.index = {token: i + 2 for i, (token, _) in enumerate(ranked)}
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.index) + 2

    def encode(self, texts: list[str], max_len: int) -> np.ndarray:
        """Right-padded id matrix (truncated to `max_len`); every row keeps at least one token."""
        out = np.zeros((len(texts), max_len), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.index.get(token, 1) for token in standardize(text)[:max_len]] or [1]
            out[row, : len(ids)] = ids
        return out


def load_text_data(root: Path, caps: TextCaps, seed: int,
                   layout: Layout = TRAIN_TEST) -> tuple[list[str], TextSplit, TextSplit, list[str]]:
    """(classes, train, test, the empty rows dropped) with labels as indices into the sorted train classes, capped."""
    classes, train, test = read_dataset(root, layout)
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for frame, cap in ((train, caps.max_train), (test, caps.max_test)):
        y = frame["label"].map(index).to_numpy(dtype=np.int64)
        keep = cap_total(y, cap, seed)
        out.append(TextSplit([frame["text"].iloc[i] for i in keep], y[keep]))
    return classes, out[0], out[1], train.attrs["skipped"] + test.attrs["skipped"]


@dataclass
class TextData:
    classes: list[str]
    train: TextSplit
    val: TextSplit
    test: TextSplit
    max_len: int
    max_tokens: int
    skipped: list[str]  # rows dropped for empty text ("train.csv data row 17")


def prepare(root: Path, dataset: str, caps: TextCaps, params: dict, val_fraction: float, seed: int,
            layout: Layout = TRAIN_TEST) -> TextData:
    """Everything both frameworks share: read, cap, stratified validation split, sequence length, vocabulary cap."""
    from trainables.common import stratified_split
    from core.registry import DATASETS

    classes, train_full, test, skipped = load_text_data(root, caps, seed, layout)
    keep, held = stratified_split(train_full.y, val_fraction, seed)
    train, val = train_full.take(keep), train_full.take(held)
    max_len = choose_max_len(train.texts, params.get("max_len", "auto"), cap=caps.max_len_cap)
    course_vocab = DATASETS.get(dataset).vocab if dataset in DATASETS else None
    # a searched `max_tokens` beats the budget's cap, which beats the course's vocabulary size
    max_tokens = int(params.get("max_tokens") or caps.max_tokens or course_vocab or 20000)
    return TextData(classes, train, val, test, max_len, max_tokens, skipped)


class TextKind:
    """The text kind of dataset files (trainables.data.kinds.DataKind): train.csv and test.csv, or one .csv whose
    test split is held out here."""

    def infer(self, path: Path, text_column: str, label_column: str) -> Layout | None:
        columns = {"text_column": text_column, "label_column": label_column}
        if path.is_file():
            return Layout("text", pool="", **columns) if path.suffix.lower() == ".csv" else None
        if (path / "train.csv").is_file():
            return Layout("text", pool=None if (path / "test.csv").is_file() else "train.csv", **columns)
        if (path / "test.csv").is_file():
            raise DataError(f"{path}: has a test split but no training split (train.csv); expected {EXPECTED}")
        return None

    def counts(self, root: Path, layout: Layout) -> dict:
        return text_counts(root, layout)

    def split_members(self, root: Path, layout: Layout) -> tuple[list, list]:
        """The CSV's data row numbers, and their labels."""
        frame = read_split(pool_file(root, layout), layout)
        return frame["row"].tolist(), frame["label"].tolist()

    def check_listing(self, location: str, listing: dict) -> None:
        from core import store

        missing = [name for name in ("train.csv", "test.csv") if name not in listing]
        if missing:
            raise DataError(f"{store.join(location, missing[0])}: missing file (expected train.csv and test.csv)")

    def listing_counts(self, listing: dict) -> dict:  # rows are counted from the files, on each node
        return {"n_classes": None, "n_train_files": None, "n_test_files": None, "per_class": None}

    def infer_listing(self, top: set[str]) -> Layout | None:
        return Layout("text") if {"train.csv", "test.csv"} <= top else None

    def fetch(self, location: Path) -> bool:
        return False

    def write_demo(self, root: Path, n_classes: int, rng) -> None:
        from trainables.demo import write_texts

        write_texts(root, n_classes, rng)


TEXT = TextKind()
