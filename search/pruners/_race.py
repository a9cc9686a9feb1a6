"""Racing whole folds against the incumbent (Bergman, Purucker & Hutter, AutoML 2024)."""

from __future__ import annotations

import numpy as np
from optuna.trial import FrozenTrial


def forgiving_race(fold_qwks: list[float], incumbent_folds: list[float] | None, margin: float = 0.0) -> bool:
    """True when the trial should stop: the mean of its folds so far is at or below the incumbent's worst fold,
    less ``margin`` (a fold's QWK is a noisy estimate of the mean over folds: a margin forgives a weak fold)."""
    if not fold_qwks or not incumbent_folds:
        return False
    return float(np.mean(fold_qwks)) <= min(incumbent_folds) - margin


def incumbent_folds(completed: list[FrozenTrial]) -> list[float] | None:
    """The fold QWKs of the best completed trial (None before the first completes)."""
    scored = [t for t in completed if t.value is not None and t.user_attrs.get("folds")]
    if not scored:
        return None
    best = max(scored, key=lambda t: t.value)
    return [float(f["qwk"]) for f in best.user_attrs["folds"]]
