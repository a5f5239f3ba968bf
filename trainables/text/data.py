"""train.csv / test.csv (columns `text,label`) for Part 2: reading, checks and label mapping. No TensorFlow here.

Texts may contain quoted newlines, so a real CSV parser reads them; "null" or "NA" stay text (no NA parsing).
Labels are mapped from the sorted train classes; a label seen only in test is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.common import DataError, cap_total

COLUMNS = ("text", "label")


def read_split(path: Path) -> pd.DataFrame:
    """One CSV as a frame of str columns `text`, `label`; rows with empty text are dropped."""
    if not path.is_file():
        raise DataError(f"{path}: missing file; expected a CSV with columns text,label")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); expected a UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file; expected a CSV with header text,label") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected columns text,label "
                        f"(found {', '.join(map(str, frame.columns)) or 'none'})")
    frame = frame.loc[frame["text"].str.strip() != "", list(COLUMNS)]
    if frame.empty:
        raise DataError(f"{path}: no rows with non-empty text")
    return frame.reset_index(drop=True)


def read_dataset(root: Path) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """(sorted train classes, train, test) after checking: >= 2 classes, every test label also in train."""
    train, test = read_split(root / "train.csv"), read_split(root / "test.csv")
    classes = sorted(train["label"].unique())
    if len(classes) < 2:
        raise DataError(f"{root / 'train.csv'}: column label has a single class {classes}; expected at least 2")
    unknown = sorted(set(test["label"]) - set(classes))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise DataError(f"{root / 'test.csv'}: label(s) {shown} do not occur in train.csv")
    return classes, train, test


def check_text_dataset(root: Path) -> list[str]:
    """Preflight for the driver: the dataset reads and checks cleanly; returns its classes."""
    return read_dataset(root)[0]


@dataclass
class TextSplit:
    texts: list[str]
    y: np.ndarray


def load_text_data(root: Path, text_budget: dict, seed: int) -> tuple[list[str], TextSplit, TextSplit]:
    """(classes, train, test) with labels as indices into the sorted train classes, capped per the budget."""
    classes, train, test = read_dataset(root)
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for frame, cap in ((train, text_budget.get("max_train")), (test, text_budget.get("max_test"))):
        y = frame["label"].map(index).to_numpy(dtype=np.int64)
        keep = cap_total(y, cap, seed)
        out.append(TextSplit([frame["text"].iloc[i] for i in keep], y[keep]))
    return classes, out[0], out[1]
