"""Helpers shared by every method family: data errors, stratified splits and caps, fingerprints, seeding."""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Sequence

import numpy as np


class DataError(ValueError):
    """Bad input data. The message is one line naming the file or field and what was expected."""


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (keep, held_out) with about `fraction` of every class held out.

    Classes with a single item stay entirely in `keep` (they cannot be both trained and validated on).
    """
    rng = np.random.RandomState(seed)
    keep, held = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_held = held_count(len(idx), fraction)
        held.extend(idx[:n_held])
        keep.extend(idx[n_held:])
    return np.sort(np.array(keep, dtype=int)), np.sort(np.array(held, dtype=int))


def held_count(n: int, fraction: float) -> int:
    """How many of a class's `n` items stratified_split holds out: about `fraction`, at least one and never all
    (none of a class of one)."""
    if n <= 1:
        return 0
    return min(max(int(round(fraction * n)), 1), n - 1)


def cap_per_class(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Indices of at most `cap` items per class (all items when cap is None), drawn reproducibly."""
    if cap is None:
        return np.arange(len(labels))
    rng = np.random.RandomState(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:cap] for label in np.unique(labels)]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def cap_total(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Indices of at most `cap` items overall, keeping class proportions (at least one per class)."""
    if cap is None or cap >= len(labels):
        return np.arange(len(labels))
    n_classes = len(np.unique(labels))
    keep, _ = stratified_split(labels, 1.0 - cap / len(labels), seed)
    return keep if len(keep) >= n_classes else cap_per_class(labels, 1, seed)


def hidden(relative: str) -> bool:
    """A hidden name (Jupyter's .ipynb_checkpoints, macOS's .DS_Store) or a path through one: never a dataset's
    data, wherever a dataset is listed."""
    return any(part.startswith(".") for part in str(relative).replace("\\", "/").split("/"))


def fingerprint(root: str | os.PathLike, content: bool) -> str:
    """A short digest of a dataset folder (or one file): relative paths and sizes, plus file contents when
    `content`; hidden files are not data (`hidden`)."""
    root = Path(root)
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not hidden(p.relative_to(root).as_posix()))
    for path in files:
        rel = path.relative_to(root).as_posix() if path != root else path.name
        digest.update(f"{rel}\0{path.stat().st_size}\0".encode())
        if content:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, detail: bool = False) -> dict:
    """Accuracy and macro F1 of one split (unprefixed; `ledger.flatten_metrics` adds the split).

    With `detail`, also per-class accuracy and the confusion matrix (rows: true class), as JSON text so they fit
    one Parquet cell.
    """
    import json

    from sklearn.metrics import confusion_matrix, f1_score

    if len(y_true) == 0:
        return {"acc": float("nan"), "macro_f1": float("nan")}
    out = {"acc": accuracy(y_true, y_pred),
           "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))}
    if detail:
        labels = np.arange(int(max(y_true.max(), y_pred.max())) + 1)
        confusion = confusion_matrix(y_true, y_pred, labels=labels)
        support = confusion.sum(axis=1)
        per_class = [float(c / n) if n else None for c, n in zip(confusion.diagonal(), support)]
        out |= {"per_class_acc": json.dumps(per_class), "confusion": json.dumps(confusion.tolist())}
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def skipped_facts(column: str, skipped: Sequence[str]) -> dict:
    """A row's record of what a trial's data reading left out (unreadable images, empty texts): how many, and the
    first by name, which the driver shows once per dataset (sweeps.tracking.progress)."""
    return {column: len(skipped), "skipped_first": str(skipped[0]) if len(skipped) else None}
