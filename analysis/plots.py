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



def _render(fig, fmt: str) -> bytes:
    """The figure's bytes. Margins come from the figure's own layout: a "tight" bounding box would draw every
    figure twice, and a report draws one per job."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buffer.getvalue()


def _uri(fig) -> str:
    return data_uri(_render(fig, "svg"), "image/svg+xml")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def learning_curve(history: pd.DataFrame, kept_epoch: int | None) -> str | None:
    """Train loss (right axis), train and validation accuracy per epoch; the epoch whose weights were kept."""
    if history.empty or len(history) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    epochs = history["epoch"].to_numpy()
    for column, label, color in (("train_acc", "train acc", COLORS[0]), ("val_acc", "val acc", COLORS[1])):
        if column in history and history[column].notna().any():
            ax.plot(epochs, history[column], marker=".", label=label, color=color)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    # few, fixed ticks: laying out tick labels is most of a small figure's drawing time
    ax.set_yticks([0, 0.5, 1])
    ax.set_xticks(np.unique(np.linspace(epochs.min(), epochs.max(), min(len(epochs), 6)).round().astype(int)))
    handles = ax.get_lines()
    if "train_loss" in history and history["train_loss"].notna().any():
        loss = ax.twinx()
        handles += loss.plot(epochs, history["train_loss"], linestyle="--", color="#777777", label="train loss")
        loss.set_ylabel("train loss")
        low, high = float(history["train_loss"].min()), float(history["train_loss"].max())
        loss.set_yticks([low, high] if high > low else [low], [f"{low:.3g}", f"{high:.3g}"][:1 + (high > low)])
        loss.spines["top"].set_visible(False)
    if kept_epoch:
        handles.append(ax.axvline(kept_epoch, color=COLORS[3], linewidth=1, label=f"kept (epoch {kept_epoch})"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.15, right=0.84, top=0.96, bottom=0.36)
    return _uri(fig)


def slice_plot(values: pd.Series, score: pd.Series, name: str) -> str:
    """Optuna's slice plot: one dot per trial, the parameter's value against its score (log axis for spans of
    more than two decades, categories in their own order)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(2.4, 2.0))
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and values.map(type).isin([int, float, np.int64, np.float64]).all():
        ax.scatter(numeric, score, s=9, alpha=0.6, color=COLORS[0], linewidths=0, rasterized=len(score) > 300)
        positive = numeric[numeric > 0]
        if len(positive) == len(numeric) and positive.max() / positive.min() > 100:
            ax.set_xscale("log")
        else:
            ax.locator_params(axis="x", nbins=3)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    else:
        labels = sorted(values.astype(str).unique())
        where = values.astype(str).map({label: i for i, label in enumerate(labels)})
        jitter = np.random.RandomState(0).uniform(-0.15, 0.15, len(where))
        ax.scatter(where + jitter, score, s=9, alpha=0.6, color=COLORS[0], linewidths=0, rasterized=len(score) > 300)
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0, ha="right"
                      if len(labels) > 3 else "center")
    ax.axhline(0, color="#bbbbbb", linewidth=0.8)
    ax.locator_params(axis="y", nbins=4)
    ax.set_xlabel(name)
    ax.set_ylabel("val acc − job median")
    fig.subplots_adjust(left=0.27, right=0.97, top=0.96, bottom=0.33)
    return _uri(fig)


def _axis_positions(values: pd.Series) -> tuple[np.ndarray, list[float], list[str]]:
    """A parameter's values on a 0..1 axis, with the ticks to label it: numbers linearly (log10 when they span
    more than two decades), categories evenly spaced in sorted order."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and values.map(type).isin([int, float, np.int64, np.float64]).all():
        positive = numeric[numeric > 0]
        logged = len(positive) == len(numeric) and positive.max() / positive.min() > 100
        shown = np.log10(numeric) if logged else numeric
        low, high = float(shown.min()), float(shown.max())
        span = high - low or 1.0
        ticks = [low, high] if high > low else [low]
        return ((shown - low) / span).to_numpy(), [(t - low) / span for t in ticks], \
            [f"{10 ** t if logged else t:.3g}" for t in ticks]
    labels = sorted(values.astype(str).unique())
    step = 1 / max(len(labels) - 1, 1)
    where = values.astype(str).map({label: i * step for i, label in enumerate(labels)})
    return where.to_numpy(dtype=float), [i * step for i in range(len(labels))], labels


def parallel_coordinates(params: pd.DataFrame, score: pd.Series) -> str:
    """W&B's and Optuna's parallel coordinates: one line per trial through each searched parameter's axis, ending
    on its score, coloured by the score (the best drawn last, on top)."""
    plt = _pyplot()
    names = list(params.columns)
    fig, ax = plt.subplots(figsize=(1.0 + 1.15 * (len(names) + 1), 2.6))
    order = score.sort_values(kind="stable").index
    axes = [_axis_positions(params.loc[order, name]) for name in names]
    low, high = float(score.min()), float(score.max())
    span = high - low or 1.0
    ys = np.column_stack([a[0] for a in axes] + [((score.loc[order] - low) / span).to_numpy()])
    colours = plt.get_cmap("viridis")(ys[:, -1])
    xs = np.arange(len(names) + 1)
    for y, colour in zip(ys, colours):
        ax.plot(xs, y, color=colour, linewidth=0.9, alpha=0.75, rasterized=len(ys) > 300)
    for x, (_, ticks, labels) in zip(xs, axes + [(None, [0.0, 1.0], [f"{low:+.3f}", f"{high:+.3f}"])]):
        ax.axvline(x, color="#555555", linewidth=0.8)
        for tick, label in zip(ticks, labels):
            ax.text(x + 0.04, tick, label, fontsize=6.5, va="center", ha="left", color="#333333")
    ax.set_xticks(xs, names + ["val acc − job median"])
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.set_xlim(-0.1, len(names) + 0.6)
    ax.set_ylim(-0.05, 1.05)
    fig.subplots_adjust(left=0.03, right=0.99, top=0.97, bottom=0.12)
    return _uri(fig)


def importance_bars(importance: pd.Series) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.4, 0.6 + 0.22 * len(importance)), layout="constrained")
    ordered = importance.sort_values()
    ax.barh(range(len(ordered)), ordered.to_numpy(), color=COLORS[0])
    ax.set_yticks(range(len(ordered)), list(ordered.index))
    ax.set_xlabel("share of the variance it explains alone")
    return _uri(fig)


def accuracy_vs_cost(points: pd.DataFrame) -> str | None:
    """Each job's selected test accuracy against its summed trial hours, one colour per method."""
    points = points.dropna(subset=["test_acc", "hours"])
    if points.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.0), layout="constrained")
    for (method, mine), color in zip(points.groupby("method", sort=True), _cycle()):
        ax.scatter(mine["hours"].clip(lower=1e-4), mine["test_acc"], s=14, label=method, color=color, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("trial hours spent on the job (all its trials)")
    ax.set_ylabel("selected trial's test accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _uri(fig)


def cluster_over_time(use) -> str | None:
    """One driver run on a cluster (core.cluster_use.ClusterUse): worker nodes up and trials running over time,
    with the slots the nodes held (each sample holds until the next)."""
    if len(use.samples) < 2:
        return None
    plt = _pyplot()
    fig, (nodes_ax, trials_ax) = plt.subplots(2, 1, figsize=(5.0, 3.2), sharex=True, layout="constrained")
    t = [s.t / 60 for s in use.samples]
    workers = [sum(1 for _, c, g in s.nodes if use.slots(c, g)) for s in use.samples]
    nodes_ax.step(t, workers, where="post", color=COLORS[0])
    nodes_ax.set_ylabel("worker nodes")
    trials_ax.step(t, [use.slots_at(s) for s in use.samples], where="post", color=COLORS[3], label="slots")
    trials_ax.step(t, [s.running for s in use.samples], where="post", color=COLORS[1], label="trials running")
    trials_ax.step(t, [s.pending for s in use.samples], where="post", color=COLORS[2], label="trials waiting",
                   alpha=0.7)
    trials_ax.set_xlabel("minutes since the driver started Tune")
    trials_ax.legend(fontsize=7, frameon=False, loc="upper right")
    return _uri(fig)


def heatmap_png(numeric: pd.DataFrame, title: str) -> bytes | None:
    """Test accuracy of the selected trials as a PNG heatmap (the report's and reports/partN.png); blank cells are
    failed or missing."""
    if numeric.empty:
        return None
    plt = _pyplot()
    labels = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in numeric.index]
    fig, ax = plt.subplots(figsize=(2 + 1.2 * numeric.shape[1], 0.8 + 0.3 * numeric.shape[0]), layout="constrained")
    data = numeric.to_numpy(dtype=float)
    image = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(numeric.shape[1]), [str(c) for c in numeric.columns])
    ax.set_yticks(range(numeric.shape[0]), labels)
    for (r, c), value in np.ndenumerate(data):
        ax.text(c, r, "—" if np.isnan(value) else f"{value:.2f}", ha="center", va="center",
                color="white" if np.isnan(value) or value < 0.6 else "black", fontsize=7)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="test accuracy")
    return _render(fig, "png")


def _cycle() -> Iterator[str]:
    while True:
        yield from COLORS
