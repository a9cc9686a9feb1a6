"""Class weights ("alpha") for the focal loss and the RandomForest (docs/design.md, the failure: cause 2).

Inverse label frequency over-weights the rare class R about 7× against P, which with focal loss
pushes a small model to predict R everywhere. The cap bounds the ratio of any weight to the
smallest one before normalising to sum to the number of classes.
"""

from __future__ import annotations

import numpy as np

from trainer.schema import N_CLASSES

AlphaSpec = float | str | None  # a cap (float), "none" / None for uncapped, "equal" for [1, 1, 1]


def class_alpha(labels: np.ndarray, cap: AlphaSpec = None, n_classes: int = N_CLASSES) -> np.ndarray:
    """Alpha from training labels: inverse frequency, capped at ``cap · min(alpha)``, summing to ``n_classes``."""
    if isinstance(cap, str):
        if cap.lower() == "equal":
            return np.ones(n_classes)
        if cap.lower() != "none":
            cap = float(cap)
        else:
            cap = None
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(float)
    # A class absent from the training split gets the weight of a class seen once rather than infinity.
    alpha = 1.0 / np.maximum(counts, 1.0)
    alpha = alpha / alpha.sum() * n_classes
    if cap is not None:
        if cap < 1:
            raise ValueError(f"alpha cap must be >= 1 (or 'none'/'equal'), got {cap}")
        alpha = np.minimum(alpha, cap * alpha.min())
        alpha = alpha / alpha.sum() * n_classes
    return alpha
