"""Validation metrics, computed per visit from averaged per-row probabilities.

Quadratic-weighted kappa (QWK) is the objective because the phases are ordinal (I < P < R).
Kappa, F1 and the confusion matrix are scikit-learn's; they need no backend and cost about a
millisecond per epoch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score

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
    """Rows: true class; columns: predicted class."""
    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def score(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> Scores:
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    labels = list(range(n_classes))
    return Scores(
        # a prediction of one class for every visit (total chance agreement) scores 0, not NaN
        qwk=float(cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic", replace_undefined_by=0.0)),
        kappa=float(cohen_kappa_score(y_true, y_pred, labels=labels, replace_undefined_by=0.0)),
        accuracy=float((y_true == y_pred).mean()),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0.0)),
        pred_histogram=np.bincount(y_pred, minlength=n_classes).tolist(),
        confusion=confusion(y_true, y_pred, n_classes).tolist(),
    )


#: Share of validation visits in one class at which predictions count as collapsed.
COLLAPSE_SHARE = 0.95
#: A validation QWK counts as a new best only above the previous best plus this margin (early
#: stopping, the restored epoch, and the rules and curves that mirror them).
MIN_IMPROVEMENT = 1e-4


def improves(qwk: float, best: float | None) -> bool:
    """Whether an epoch's validation QWK is a new best, the rule that picks the epoch a stage restores
    (the first epoch always is)."""
    return best is None or qwk > best + MIN_IMPROVEMENT


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


def qwk_interval(
    labels: np.ndarray, predicted: np.ndarray, patients: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile-bootstrap interval of the QWK, resampling *patients* (with all their visits: visits of one
    patient are not independent, so resampling visits would draw the interval too narrow)."""
    rng = np.random.default_rng(seed)
    by_patient = [np.flatnonzero(patients == p) for p in np.unique(patients)]
    draws = []
    for _ in range(resamples):
        chosen = np.concatenate([by_patient[i] for i in rng.integers(len(by_patient), size=len(by_patient))])
        draws.append(score(labels[chosen], predicted[chosen]).qwk)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)
