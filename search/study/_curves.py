"""The learning curve a trial keeps in its ``curve`` user attribute: one row per epoch trained.

Rows are short lists rather than dicts (a trial of 5 folds × 60 epochs stays a few kB in the
storage); :data:`CURVE_COLUMNS` names their fields and :func:`curve_frame` turns them into a table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from trainer.model import improves

if TYPE_CHECKING:
    import pandas as pd

    from trainer.stages import EpochReport

CURVE_COLUMNS = (
    "step",
    "fold",
    "stage",
    "epoch",
    "val_qwk",
    "val_kappa",
    "train_loss",
    "pred_histogram",
    "train_qwk",
    "val_loss",
    "baseline_qwk",
    "train_batches",
    "patience",
    "cached",  # reported again from the pre-training store, not trained in this trial
    "weight_change",  # relative change of the stage's trainable weights since it began (rows since 2026-12-07)
)


def curve_row(report: EpochReport) -> list:
    """One epoch's row, numbers rounded to 5 digits and NaN stored as null (JSON has no NaN)."""
    return [
        report.step,
        report.fold,
        report.stage,
        report.epoch,
        _finite_or_none(report.val_qwk),
        _finite_or_none(report.val_kappa),
        _finite_or_none(report.train_loss),
        list(report.pred_histogram),
        _finite_or_none(report.train_qwk),
        _finite_or_none(report.val_loss),
        _finite_or_none(report.baseline_qwk),
        report.train_batches,
        report.patience,
        report.cached,
        _finite_or_none(report.weight_change, digits=7),
    ]


def report_from_row(row: list) -> EpochReport:
    """The epoch's report again, from its row (:func:`curve_row` read back; a column the row predates is NaN or
    0): what replay and the simulated worker feed the pruners."""
    from trainer.stages import EpochReport

    values = dict(zip(CURVE_COLUMNS, row))

    def number(key: str) -> float:
        value = values.get(key)
        return math.nan if value is None else float(value)

    return EpochReport(
        fold=values["fold"], stage=values["stage"], epoch=values["epoch"], step=values["step"],
        val_qwk=number("val_qwk"), val_kappa=number("val_kappa"),
        train_loss=number("train_loss"), pred_histogram=values["pred_histogram"],
        train_batches=int(values.get("train_batches") or 0), baseline_qwk=number("baseline_qwk"),
        patience=int(values.get("patience") or 0), weight_change=number("weight_change"),
    )  # fmt: skip


def curve_frame(curve: list[list]) -> pd.DataFrame:
    """The rows as a DataFrame; rows written before a column existed get NaN there."""
    import pandas as pd

    padded = [list(row) + [None] * (len(CURVE_COLUMNS) - len(row)) for row in curve]
    return pd.DataFrame(padded, columns=list(CURVE_COLUMNS))


def best_epochs(curve: list[list]) -> dict[tuple[int, str], int]:
    """The epoch each (fold, stage) would restore: its first best validation QWK, as the trainer picks it."""
    best: dict[tuple[int, str], tuple[int, float]] = {}
    for row in curve:
        fold, stage, epoch, qwk = row[1], row[2], row[3], row[4]
        qwk = -math.inf if qwk is None else qwk
        key = (fold, stage)
        if improves(qwk, best[key][1] if key in best else None):
            best[key] = (epoch, qwk)
    return {key: epoch for key, (epoch, _) in best.items()}


def _finite_or_none(value: float, digits: int = 5) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None
