"""Validation metrics, computed per visit from averaged per-row probabilities.

Quadratic-weighted kappa (QWK) is the objective because the phases are ordinal (I < P < R).
All metrics are plain NumPy so they cost microseconds per epoch and need no backend; the tests
check them against scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from trainer.schema import N_CLASSES


@dataclass(frozen=True)
class Scores:
    qwk: float
    kappa: float
    accuracy: float
    macro_f1: float
    pred_histogram: list[int]  # predicted visits per class, I, P, R
    confusion: list[list[int]] = field(default_factory=list)  # rows: true I, P, R; columns: predicted

    def as_dict(self) -> dict:
        return asdict(self)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def cohen_kappa(
    y_true: np.ndarray, y_pred: np.ndarray, weights: str | None = None, n_classes: int = N_CLASSES
) -> float:
    """Cohen's kappa; ``weights="quadratic"`` gives QWK. 0.0 where chance agreement is total."""
    observed = confusion(y_true, y_pred, n_classes).astype(float)
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    grid = np.arange(n_classes)
    if weights is None:
        w = 1.0 - np.eye(n_classes)
    elif weights == "quadratic":
        w = (grid[:, None] - grid[None, :]) ** 2 / (n_classes - 1) ** 2
    else:
        raise ValueError(f"unknown weights {weights!r}")
    disagreement_expected = (w * expected).sum()
    if disagreement_expected == 0:
        return 0.0
    return float(1.0 - (w * observed).sum() / disagreement_expected)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> float:
    """Unweighted mean F1 over all classes; a class never predicted nor present counts 0 (as scikit-learn)."""
    matrix = confusion(y_true, y_pred, n_classes).astype(float)
    tp = np.diag(matrix)
    denom = matrix.sum(axis=0) + matrix.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
    return float(f1.mean())


def score(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> Scores:
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    return Scores(
        qwk=cohen_kappa(y_true, y_pred, "quadratic", n_classes),
        kappa=cohen_kappa(y_true, y_pred, None, n_classes),
        accuracy=float((y_true == y_pred).mean()),
        macro_f1=macro_f1(y_true, y_pred, n_classes),
        pred_histogram=np.bincount(y_pred, minlength=n_classes).tolist(),
        confusion=confusion(y_true, y_pred, n_classes).tolist(),
    )


#: Share of validation visits in one class at which predictions count as collapsed.
COLLAPSE_SHARE = 0.95
#: A validation QWK counts as a new best only above the previous best plus this margin (early
#: stopping, the restored epoch, and the rules and curves that mirror them).
MIN_IMPROVEMENT = 1e-4


def top_class_share(histogram: list[int]) -> float:
    """The share of predictions that went to the most predicted class (1.0: one class for everything)."""
    total = sum(histogram)
    return max(histogram) / total if total else 0.0


def visit_probabilities(row_probs: np.ndarray, row_visits: np.ndarray, n_visits: int) -> np.ndarray:
    """Average the probabilities of each visit's rows (visits are 0..n_visits-1)."""
    sums = np.zeros((n_visits, row_probs.shape[1]))
    np.add.at(sums, row_visits, row_probs)
    counts = np.bincount(row_visits, minlength=n_visits)[:, None]
    return sums / np.maximum(counts, 1)


def score_visits(row_probs: np.ndarray, row_visits: np.ndarray, visit_labels: np.ndarray) -> Scores:
    """Scores per visit: rows' probabilities averaged per visit, then argmax."""
    probs = visit_probabilities(row_probs, row_visits, len(visit_labels))
    return score(visit_labels, probs.argmax(axis=1))
