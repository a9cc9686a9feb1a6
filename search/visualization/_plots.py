"""Per-trial diagnostic figures (matplotlib, no pyplot state): learning curves and a confusion matrix.

The x axis is the global step the trial reports to Optuna (``fold · E + stage offset + epoch − 1``),
so a figure lines up with the dashboard's intermediate-value plot; early stopping leaves gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.study import curve_frame
from trainer.config import STAGES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLASS_NAMES = ("I", "P", "R")
_STAGE_COLOURS = {"pretrain": "#eef3fb", "stage1": "#eefbf0", "stage2": "#fbf6ee"}


def learning_curve_figure(curve: list[list], folds: list[dict], title: str) -> Figure:
    """Train/val QWK (top) and loss (bottom) per epoch; stages shaded, restored epochs starred."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 6.5), layout="constrained")
    qwk_axes, loss_axes = figure.subplots(2, 1, sharex=True)
    figure.suptitle(title)
    frame = curve_frame(curve)
    if frame.empty:
        qwk_axes.text(0.5, 0.5, "no epoch finished", ha="center", va="center", transform=qwk_axes.transAxes)
        return figure

    for (fold, stage), rows in frame.groupby(["fold", "stage"], sort=False):
        first, last = rows["step"].min(), rows["step"].max()
        for axes in (qwk_axes, loss_axes):
            axes.axvspan(first - 0.5, last + 0.5, color=_STAGE_COLOURS.get(stage, "#f4f4f4"), zorder=0)
            axes.axvline(first - 0.5, color="#999999", linewidth=0.6, zorder=1)
        qwk_axes.annotate(
            f"f{fold} {stage}" + _weight_note(folds, fold, stage),
            (first - 0.3, 1.0),
            xycoords=("data", "axes fraction"),
            va="top",
            fontsize=7,
            rotation=90,
            color="#555555",
        )
        steps = rows["step"].to_numpy()
        qwk_axes.plot(steps, rows["val_qwk"].astype(float), "o-", color="C0", markersize=3, label="val QWK (visits)")
        qwk_axes.plot(steps, rows["train_qwk"].astype(float), ".--", color="C1", markersize=3, label="train QWK (rows)")
        loss_axes.plot(steps, rows["val_loss"].astype(float), "o-", color="C0", markersize=3, label="val loss")
        loss_axes.plot(steps, rows["train_loss"].astype(float), ".--", color="C1", markersize=3, label="train loss")

    restored = _restored_points(frame, folds)
    if restored:
        steps, values = zip(*restored)
        qwk_axes.plot(steps, values, "*", color="C3", markersize=12, label="restored epoch", zorder=5)

    losses = frame[["train_loss", "val_loss"]].astype(float).to_numpy()
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.size and losses.max() / losses.min() > 20:
        loss_axes.set_yscale("log")  # a diverging stage (LR 10) would flatten every other stage's curve
    qwk_axes.axhline(0.0, color="#555555", linewidth=0.6)
    qwk_axes.set_ylabel("QWK")
    loss_axes.set_ylabel("focal loss")
    loss_axes.set_xlabel("global step (fold · E + stage offset + epoch − 1)")
    loss_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (qwk_axes, loss_axes):
        handles, labels = axes.get_legend_handles_labels()
        unique = dict(zip(labels, handles))  # one legend entry per series, not per (fold, stage)
        axes.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    return figure


def _weight_note(folds: list[dict], fold: int, stage: str) -> str:
    """``w 0.40→0.62``: a fusion stage's RF weight at its start and as restored at its end, when recorded."""
    stages = next((f.get("stages", {}) for f in folds if f.get("fold") == fold), {})
    weight = stages.get(stage, {}).get("fusion_weight")
    return f"  w {weight[0]:.2f}→{weight[1]:.2f}" if weight else ""


def confusion_figure(folds: list[dict], title: str) -> Figure:
    """Validation visits, true × predicted, summed over the folds that finished."""
    from matplotlib.figure import Figure

    matrix = np.sum([np.asarray(f["confusion"]) for f in folds if f.get("confusion")], axis=0)
    figure = Figure(figsize=(4.8, 4.4), layout="constrained")
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axes.text(j, i, str(count), ha="center", va="center", color=colour)
    axes.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    axes.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{title}\nvalidation visits, {len(folds)} fold(s)", fontsize=9)
    return figure


def save_png(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=90)


def _restored_points(frame, folds: list[dict]) -> list[tuple[int, float]]:
    """(step, val QWK) of the epoch each finished stage restored (a stage 2 that lost to stage 1 is not kept)."""
    points = []
    for fold in folds:
        for stage in STAGES:
            summary = fold.get("stages", {}).get(stage)
            if not summary or not summary.get("kept", True):
                continue
            row = frame[(frame["fold"] == fold["fold"]) & (frame["stage"] == stage)]
            row = row[row["epoch"] == summary["best_epoch"]]
            if not row.empty:
                points.append((int(row["step"].iloc[0]), float(row["val_qwk"].iloc[0])))
    return points


def collapse_map_figure(frame, x: str = "alpha_cap", y: str = "lr_pretrain") -> Figure:
    """Where in the knob space trials collapsed: ``x`` × ``y``, one point per finished trial, coloured by
    its prune rule (complete trials by their QWK in grey levels)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5.5), layout="constrained")
    axes = figure.subplots()
    import pandas as pd

    # a pinned non-number (an enqueued preset's alpha_cap = "none") has no place on a numeric axis
    numeric = frame.assign(**{name: pd.to_numeric(frame[name], errors="coerce") for name in (x, y)})
    finished = numeric[numeric["state"].isin(["COMPLETE", "PRUNED"])].dropna(subset=[x, y])
    complete = finished[finished["state"] == "COMPLETE"]
    if not complete.empty:
        points = axes.scatter(complete[x], complete[y], c=complete["value"], cmap="Greys", vmin=0, vmax=max(0.5, complete["value"].max()),
                              edgecolors="black", s=60, label="complete (shade: QWK)")  # fmt: skip
        figure.colorbar(points, ax=axes, label="QWK of complete trials")
    pruned = finished[finished["state"] == "PRUNED"]
    for i, (rule, rows) in enumerate(pruned.groupby(pruned["prune_rule"].fillna("?"))):
        axes.scatter(rows[x], rows[y], marker="X", s=70, color=f"C{i}", label=f"pruned: {rule} ({len(rows)})")
    if finished[y].min() > 0 and finished[y].max() / finished[y].min() > 50:
        axes.set_yscale("log")
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(f"Collapse map: {x} × {y}, {len(finished)} finished trials")
    axes.legend(fontsize=8, loc="best")
    return figure
