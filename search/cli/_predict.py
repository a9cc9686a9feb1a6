"""``dfu-search predict``: the model ``train --save-models`` wrote, applied to new visits."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, setup_logging
from search.cli._options import CacheOption, DataOption

log = logging.getLogger(__name__)


def predict(
    model: Annotated[
        Path,
        typer.Option("--model", help="A folder written by `dfu-search train --save-models` (the fold ensemble)."),
    ],
    data: DataOption,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="CSV of per-visit probabilities and predicted phase [default: standard output]."),
    ] = None,
    cache_dir: CacheOption = None,
) -> None:
    """Per-visit probabilities of the healing phases (I, P, R) and the predicted phase, averaged over the model's
    folds. When the data carries labels, the QWK with a 95 % bootstrap interval over patients.

    The data is a folder in the training layout or a bare metadata CSV, labels optional. Data that does not fit the
    model (a modality it was trained on missing, a clinical column its RandomForest reads missing) is one error
    line and nothing written. The model's .joblib files are pickles: load only folders you trust."""
    setup_logging()
    from trainer import DataError, default_cache_dir, prediction_table, write_atomically
    from trainer.final import load_final_model

    if out is not None and not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist")
    final = load_final_model(model)
    dataset, probabilities = final.predict(data, Path(cache_dir or default_cache_dir()))
    table = prediction_table(dataset.metadata, probabilities)
    if out is None:
        table.to_csv(sys.stdout, index=False)
    else:  # whole or not at all: a file that appears is complete
        write_atomically(out, table.to_csv(index=False))
    summary = f"{len(table)} visits of {len(set(dataset.metadata.patients))} patients"
    if dataset.metadata.labelled:
        from trainer.model import qwk_interval, score

        labels, predicted = dataset.metadata.labels, probabilities.argmax(axis=1)
        low, high = qwk_interval(labels, predicted, dataset.metadata.patients)
        summary += (
            f"; QWK {score(labels, predicted).qwk:.3f} (95 % bootstrap interval over patients {low:.3f}–{high:.3f})"
        )
    else:
        summary += "; no labels, nothing scored"
    if out is None:  # the CSV is on standard output: the summary goes to the log (standard error)
        log.info("%s", summary)
    else:
        console.print(f"{summary}; wrote {out}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(predict)
