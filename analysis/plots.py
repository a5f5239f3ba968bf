"""The report's pictures, drawn with matplotlib and returned as `data:image/svg+xml;base64,...` URIs.

An SVG shown through an <img> element cannot run scripts, whatever text (class names, parameter values) ends up
inside it, and a data URI keeps the report one self-contained file. Text stays text (`svg.fonttype: none`): the
files are small and the browser draws them with its own fonts, so nothing is fetched.
"""
from __future__ import annotations

import base64
import io
from typing import Iterator

import numpy as np
import pandas as pd

COLORS = ["#3b6ea8", "#d9822b", "#3a9a5b", "#b0413e", "#7d5ba6", "#8c6d31", "#c15f9b", "#5f7f8f"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 8, "axes.spines.top": False,
                                "axes.spines.right": False, "svg.hashsalt": "groupsweep"})  # stable ids
    import matplotlib.pyplot as plt

    return plt


def _uri(fig) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def learning_curve(history: pd.DataFrame, kept_epoch: int | None) -> str | None:
    """Train loss (right axis), train and validation accuracy per epoch; the epoch whose weights were kept."""
    if history.empty or len(history) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 2.2))
    epochs = history["epoch"].to_numpy()
    for column, label, color in (("train_acc", "train acc", COLORS[0]), ("val_acc", "val acc", COLORS[1])):
        if column in history and history[column].notna().any():
            ax.plot(epochs, history[column], marker=".", label=label, color=color)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    if "train_loss" in history and history["train_loss"].notna().any():
        loss = ax.twinx()
        loss.plot(epochs, history["train_loss"], linestyle="--", color="#777777", label="train loss")
        loss.set_ylabel("train loss")
        loss.spines["top"].set_visible(False)
    if kept_epoch:
        ax.axvline(kept_epoch, color=COLORS[3], linewidth=1)
        ax.annotate("kept", (kept_epoch, 0.03), color=COLORS[3], ha="left", xytext=(2, 0),
                    textcoords="offset points")
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    return _uri(fig)


def slice_plot(values: pd.Series, score: pd.Series, name: str) -> str:
    """Optuna's slice plot: one dot per trial, the parameter's value against its score (log axis for spans of
    more than two decades, categories in their own order)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(2.4, 1.9))
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and values.map(type).isin([int, float, np.int64, np.float64]).all():
        ax.scatter(numeric, score, s=9, alpha=0.6, color=COLORS[0], linewidths=0)
        positive = numeric[numeric > 0]
        if len(positive) == len(numeric) and positive.max() / positive.min() > 100:
            ax.set_xscale("log")
    else:
        labels = sorted(values.astype(str).unique())
        where = values.astype(str).map({label: i for i, label in enumerate(labels)})
        jitter = np.random.RandomState(0).uniform(-0.15, 0.15, len(where))
        ax.scatter(where + jitter, score, s=9, alpha=0.6, color=COLORS[0], linewidths=0)
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0, ha="right"
                      if len(labels) > 3 else "center")
    ax.axhline(0, color="#bbbbbb", linewidth=0.8)
    ax.set_xlabel(name)
    ax.set_ylabel("val acc − cell median")
    return _uri(fig)


def importance_bars(importance: pd.Series) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.2, 0.4 + 0.22 * len(importance)))
    ordered = importance.sort_values()
    ax.barh(range(len(ordered)), ordered.to_numpy(), color=COLORS[0])
    ax.set_yticks(range(len(ordered)), list(ordered.index))
    ax.set_xlabel("share of explained variance")
    return _uri(fig)


def accuracy_vs_cost(points: pd.DataFrame) -> str | None:
    """Each cell's selected test accuracy against its summed trial hours, one colour per method."""
    points = points.dropna(subset=["test_acc", "hours"])
    if points.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    for (method, mine), color in zip(points.groupby("method", sort=True), _cycle()):
        ax.scatter(mine["hours"].clip(lower=1e-4), mine["test_acc"], s=14, label=method, color=color, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("trial hours spent on the cell (all its trials)")
    ax.set_ylabel("selected trial's test accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _uri(fig)


def heatmap(numeric: pd.DataFrame, title: str) -> str | None:
    """Test accuracy of the selected trials as a heatmap; blank cells are failed or missing."""
    if numeric.empty:
        return None
    plt = _pyplot()
    labels = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in numeric.index]
    fig, ax = plt.subplots(figsize=(2 + 1.2 * numeric.shape[1], 0.8 + 0.3 * numeric.shape[0]))
    data = numeric.to_numpy(dtype=float)
    image = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(numeric.shape[1]), [str(c) for c in numeric.columns])
    ax.set_yticks(range(numeric.shape[0]), labels)
    for (r, c), value in np.ndenumerate(data):
        ax.text(c, r, "—" if np.isnan(value) else f"{value:.2f}", ha="center", va="center",
                color="white" if np.isnan(value) or value < 0.6 else "black", fontsize=7)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="test accuracy")
    return _uri(fig)


def _cycle() -> Iterator[str]:
    while True:
        yield from COLORS
