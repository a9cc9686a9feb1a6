"""Patient-grouped, label-stratified cross-validation folds (deterministic for a seed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from trainer.errors import DataError


@dataclass(frozen=True)
class Fold:
    """Positions of the training and validation visits of one fold."""

    index: int
    train: np.ndarray
    val: np.ndarray


def patient_folds(labels: np.ndarray, patients: np.ndarray, n_folds: int, seed: int) -> list[Fold]:
    """K folds over visits where a patient's visits are never on both sides, stratified by label."""
    n_patients = len(np.unique(patients))
    if n_folds < 2:
        raise DataError(f"--folds must be at least 2, got {n_folds}")
    if n_patients < n_folds:
        raise DataError(
            f"{n_patients} patients cannot fill {n_folds} patient-grouped folds; use --folds {n_patients} or fewer"
        )
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [
        Fold(i, np.sort(train), np.sort(val))
        for i, (train, val) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups=patients))
    ]
