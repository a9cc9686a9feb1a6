"""A training run over all folds: data → images (cached) → folds → per-fold training → result.json."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.config import TrainConfig
from trainer.data import Dataset, Metadata, patient_folds, prepare
from trainer.final import CONFIG_FILE, save_fold
from trainer.stages import FOLDER, FoldResult, PretrainReuse, PretrainStore, train_fold

log = logging.getLogger(__name__)

_MEANS = ("qwk", "kappa", "accuracy", "macro_f1")
#: ``train --out``'s table of out-of-fold predictions, beside result.json.
OOF_FILE = "oof.csv"


@dataclass(frozen=True)
class RunCallbacks:
    """Optional progress hooks: the CLI draws its display from these, the search reports to Optuna."""

    on_epoch: Callable | None = None  # EpochReport → None; may raise to stop the run
    on_fold: Callable[[FoldResult], None] | None = None
    on_images: Callable[[str, int, int], None] | None = None  # modality, done, total (cache build)
    #: The settings of whatever in ``on_epoch`` may end a stage early (the search's degeneracy rules): it
    #: changes what a pre-training is, so it is part of the pre-training store's key. None: nothing does.
    stage_rules: dict | None = None


def train(
    data: Path,
    config: TrainConfig,
    cache_dir: Path,
    out: Path | None = None,
    callbacks: RunCallbacks = RunCallbacks(),
    save_models: bool = False,
    prepared: tuple[Dataset, dict[str, np.ndarray]] | None = None,
    reuse_pretraining: bool = True,
) -> dict:
    """Train every fold; returns (and with ``out`` writes to ``out/result.json``) the run's summary.

    ``reuse_pretraining``: take each fold's image pre-training from the store under ``cache_dir`` when an
    identical one was trained before (by any run, trial or worker), and store the ones trained here.
    """
    started = time.perf_counter()
    dataset, images = prepared or prepare(data, config, cache_dir, callbacks.on_images)
    folds = patient_folds(dataset.metadata.labels, dataset.metadata.patients, config.folds, config.seed)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        if save_models:
            (Path(out) / CONFIG_FILE).write_text(config.to_toml())  # exactly this run's; `train --config` reads it
    if dataset.image_modalities:
        from trainer import _backend

        _backend.use_compilation_cache(Path(cache_dir))
    reuse = PretrainReuse(PretrainStore(Path(cache_dir) / FOLDER), callbacks.stage_rules) if reuse_pretraining else None
    results = []
    for fold in folds:
        result = train_fold(
            dataset,
            images,
            fold,
            config,
            cache_dir,
            callbacks.on_epoch,
            on_model=_saver(Path(out), dataset, config) if save_models and out else None,
            reuse=reuse,
        )
        results.append(result)
        if callbacks.on_fold:
            callbacks.on_fold(result)
    summary = summarize(results, dataset, config, time.perf_counter() - started)
    if out is not None:
        (Path(out) / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        out_of_fold(results, dataset).to_csv(Path(out) / OOF_FILE, index=False)
    return summary


def _saver(out: Path, dataset: Dataset, config: TrainConfig) -> Callable:
    """``train_fold``'s ``on_model`` for ``--save-models``: each fold's models into ``out``."""

    def save(fold, network) -> None:
        save_fold(out, fold.index, network, dataset, fold.train, config)

    return save


def out_of_fold(results: list[FoldResult], dataset: Dataset):
    """Every visit's out-of-fold prediction: the model of the fold that held it out, in metadata order."""
    visits = np.concatenate([r.val_visits for r in results])
    order = np.argsort(visits, kind="stable")
    probabilities = np.concatenate([r.val_probabilities for r in results])[order]
    folds = np.concatenate([np.full(len(r.val_visits), r.fold) for r in results])[order]
    return prediction_table(dataset.metadata, probabilities, visits[order], folds)


def prediction_table(metadata: Metadata, probabilities: np.ndarray, visits=None, folds=None):
    """One row a visit: its keys (and fold), the three probabilities, the predicted phase and, when the data
    has labels, the label. ``visits``: the metadata positions the rows are for (default: every visit)."""
    import pandas as pd

    from trainer.schema import APPT, CLASSES, DFU, LABEL, PATIENT

    frame = metadata.frame if visits is None else metadata.frame.iloc[visits]
    table = pd.DataFrame({key: frame[key].to_numpy() for key in (PATIENT, APPT, DFU)})
    if folds is not None:
        table["fold"] = folds
    for i, name in enumerate(CLASSES):
        table[f"p_{name}"] = np.asarray(probabilities)[:, i].round(6)
    table["predicted"] = [CLASSES[i] for i in np.asarray(probabilities).argmax(axis=1)]
    if metadata.labelled:
        labels = metadata.labels if visits is None else metadata.labels[visits]
        table[LABEL] = [CLASSES[i] for i in labels]
    return table


def summarize(results: list[FoldResult], dataset: Dataset, config: TrainConfig, seconds: float) -> dict:
    """The result.json document: fold means first (the objective is the mean fold QWK), then per fold."""
    folds = [r.summary() for r in results]
    summary = {key: float(np.mean([f[key] for f in folds])) for key in _MEANS}
    summary["metadata_qwk"] = float(np.mean([r.metadata_scores.qwk for r in results]))
    summary["folds"] = folds
    summary["config"] = {**config.as_dict(), "modalities": list(dataset.modalities)}
    summary["data"] = {
        "source": str(dataset.source),
        "visits": len(dataset.metadata),
        "patients": int(len(np.unique(dataset.metadata.patients))),
        "image_rows": 0 if dataset.image_rows is None else len(dataset.image_rows),
    }
    summary["wall_seconds"] = round(seconds, 2)
    return summary
