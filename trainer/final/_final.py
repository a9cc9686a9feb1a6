"""The final model: what ``dfu-search train --save-models`` writes, and reading it back to predict.

A saved run folder holds ``config.toml`` (the run's full config: ``train --config`` reproduces it),
``result.json`` and per fold ``fold{K}.keras`` (the fusion network at its restored weights) and
``fold{K}-metadata.joblib`` (encoder + RandomForest fitted on that fold's training visits, the model
whose probabilities the network was validated with). :func:`load_final_model` reloads them;
:meth:`FinalModel.predict` averages the folds' visit probabilities, the usual cross-validation
ensemble. The ``.joblib`` files are pickles: load only folders you trust.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.config import TrainConfig, load_config
from trainer.data import Dataset
from trainer.errors import DataError
from trainer.model import feature_frame, fit_metadata_model, predict_proba
from trainer.schema import METADATA, N_CLASSES

CONFIG_FILE = "config.toml"


def save_fold(
    folder: Path, fold: int, network, dataset: Dataset, train_visits: np.ndarray, config: TrainConfig
) -> None:
    """One fold's models into ``folder``: the network at its restored weights (None: a metadata-only run)
    and the metadata model, fitted on the fold's training visits as the one whose probabilities the
    network was validated with."""
    import joblib

    if network is not None:
        network.save(Path(folder) / f"fold{fold}.keras")
    features = feature_frame(dataset.metadata).iloc[train_visits]
    model = fit_metadata_model(features, dataset.metadata.labels[train_visits], config.rf_settings)
    joblib.dump(model, Path(folder) / f"fold{fold}-metadata.joblib")


@dataclass
class FinalModel:
    folder: Path
    config: TrainConfig
    networks: list  # keras.Model per fold, or None for a metadata-only run
    metadata_models: list  # sklearn Pipeline per fold
    modalities: tuple[str, ...] = ()  # what the run trained on (its data resolved an empty config.modalities)

    @property
    def n_folds(self) -> int:
        return len(self.metadata_models)

    def predict_fold(
        self, fold: int, dataset: Dataset, images: dict[str, np.ndarray], visits: np.ndarray
    ) -> np.ndarray:
        """Class probabilities (I, P, R) of ``visits`` (positions in ``dataset.metadata``) from one fold's models."""
        rf = predict_proba(self.metadata_models[fold], feature_frame(dataset.metadata).iloc[visits])
        network = self.networks[fold]
        if network is None:
            return rf
        from trainer.stages import predict_visits, visit_rows

        return predict_visits(
            network, visit_rows(dataset, images, visits, rf if METADATA in dataset.modalities else None)
        )

    def predict(self, data: str | Path, cache_dir: str | Path) -> tuple[Dataset, np.ndarray]:
        """Probabilities for every visit of ``data`` (same layout as training data, labels optional), averaged over
        the folds (:meth:`inputs` reads the data)."""
        dataset, images = self.inputs(data, cache_dir)
        visits = np.arange(len(dataset.metadata))
        probabilities = np.zeros((len(visits), N_CLASSES))
        for fold in range(self.n_folds):
            probabilities += self.predict_fold(fold, dataset, images, visits)
        return dataset, probabilities / self.n_folds

    def inputs(self, data: str | Path, cache_dir: str | Path) -> tuple[Dataset, dict[str, np.ndarray]]:
        """``data`` read as the model was trained (its modalities, image size), labels optional: what
        :meth:`predict_fold` takes. Data that does not fit the model — without a modality it was trained on, or
        without a clinical column its RandomForest reads — is a :class:`DataError` naming what is missing."""
        from dataclasses import replace

        from trainer.data import prepare

        config = replace(self.config, modalities=self.modalities)  # as trained, not as the new data would resolve
        dataset, images = prepare(Path(data).expanduser(), config, Path(cache_dir).expanduser(), labels_required=False)
        expected = list(self.metadata_models[0].named_steps["encode"].feature_names_in_)
        missing = [c for c in expected if c not in dataset.metadata.frame.columns]
        if missing:
            raise DataError(
                f"{dataset.metadata.path}: no column {', '.join(repr(c) for c in missing[:5])}"
                + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
                + f" that the model in {self.folder} reads"
            )
        return dataset, images


def load_final_model(folder: str | Path) -> FinalModel:
    """Read a folder written by ``dfu-search train --save-models``."""
    import joblib

    folder = Path(folder).expanduser()
    if not (folder / CONFIG_FILE).is_file():
        raise DataError(f"{folder}: no {CONFIG_FILE}; not a folder written by dfu-search train --save-models")
    config = load_config(None, folder / CONFIG_FILE, [])
    metadata_paths = sorted(folder.glob("fold*-metadata.joblib"), key=lambda p: int(p.name[4:].split("-")[0]))
    if not metadata_paths:
        raise DataError(f"{folder}: no fold*-metadata.joblib files")
    networks = []
    for path in metadata_paths:
        network_path = folder / path.name.replace("-metadata.joblib", ".keras")
        networks.append(_load_network(network_path) if network_path.exists() else None)
    modalities = config.modalities
    if (folder / "result.json").is_file():  # the run's own record of the modalities its data resolved
        modalities = tuple(json.loads((folder / "result.json").read_text())["config"]["modalities"])
    return FinalModel(folder, config, networks, [joblib.load(p) for p in metadata_paths], modalities)


def _load_network(path: Path):
    from trainer import _backend  # noqa: F401  (before Keras: it keeps the backend's start-up notes off stderr)

    keras = _backend.keras
    from trainer.model import build_fusion_model, focal_loss  # noqa: F401  (their modules register the custom layer and loss)

    _backend.gpu_devices()  # the backend's device probe, kept quiet on a CPU (its "failed call to cuInit" note)

    # Predicting needs no optimizer: its saved state (a LossScaleOptimizer's, under mixed float16) is skipped.
    return keras.saving.load_model(path, compile=False)
