"""A run's inputs: the dataset and its preprocessed images, and checking them without writing anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.config import TrainConfig
from trainer.data._dataset import Dataset, load_dataset
from trainer.data._folds import patient_folds


def prepare(
    data: Path, config: TrainConfig, cache_dir: Path, on_images=None, labels_required: bool = True
) -> tuple[Dataset, dict[str, np.ndarray]]:
    """Load the data and its preprocessed images (built into the cache on first use); ``labels_required=False``
    for new visits to predict (:func:`trainer.data.read_metadata`)."""
    dataset = load_dataset(Path(data), config.modalities or None, labels_required)
    images = {}
    if dataset.image_modalities:
        from trainer.data._images import load_images, verify_images

        verify_images(dataset)  # a broken image is an error before anything is written into the cache
        images = load_images(dataset, config.image_size, cache_dir, on_images)
    return dataset, images


def check_data(data: Path, config: TrainConfig) -> Dataset:
    """Everything about the data that can fail, without writing anything: the metadata and box CSVs,
    every image (readable, box inside), and enough patients for ``config.folds`` folds."""
    dataset = load_dataset(Path(data), config.modalities or None)
    patient_folds(dataset.metadata.labels, dataset.metadata.patients, config.folds, config.seed)
    if dataset.image_modalities:
        from trainer.data._images import verify_images

        verify_images(dataset)
    return dataset
