"""Folds grouped by patient, alpha with its cap, and metrics equal to scikit-learn's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from trainer.data import patient_folds, read_metadata
from trainer.errors import DataError
from trainer.model import class_alpha, score, score_visits, visit_probabilities


@pytest.mark.parametrize("seed", [0, 1])
def test_folds_are_patient_disjoint_and_cover_every_visit_once(real_csv: Path, seed: int) -> None:
    metadata = read_metadata(real_csv)
    folds = patient_folds(metadata.labels, metadata.patients, 5, seed)
    validated = np.concatenate([f.val for f in folds])
    assert sorted(validated.tolist()) == list(range(len(metadata)))
    for fold in folds:
        assert not set(metadata.patients[fold.train]) & set(metadata.patients[fold.val])
        assert len(np.intersect1d(fold.train, fold.val)) == 0
        # stratified: every fold sees every class, in roughly the overall proportions
        share = np.bincount(metadata.labels[fold.val], minlength=3) / len(fold.val)
        assert np.all(np.abs(share - np.bincount(metadata.labels) / len(metadata)) < 0.08)


def test_folds_are_deterministic_by_seed(real_csv: Path) -> None:
    metadata = read_metadata(real_csv)
    a = patient_folds(metadata.labels, metadata.patients, 5, 7)
    b = patient_folds(metadata.labels, metadata.patients, 5, 7)
    c = patient_folds(metadata.labels, metadata.patients, 5, 8)
    assert all(np.array_equal(x.val, y.val) for x, y in zip(a, b))
    assert not all(np.array_equal(x.val, y.val) for x, y in zip(a, c))


def test_fewer_patients_than_folds_is_an_error() -> None:
    labels, patients = np.array([0, 1, 2, 0, 1, 2]), np.array([1, 1, 2, 2, 3, 3])
    with pytest.raises(DataError, match="3 patients cannot fill 5"):
        patient_folds(labels, patients, 5, 0)


def test_alpha_matches_the_documented_numbers() -> None:
    labels = np.repeat([0, 1, 2], [157, 302, 45])
    np.testing.assert_allclose(class_alpha(labels, "none"), [0.599, 0.311, 2.090], atol=5e-4)
    np.testing.assert_allclose(class_alpha(labels, None), [0.599, 0.311, 2.090], atol=5e-4)
    np.testing.assert_allclose(class_alpha(labels, 3), [0.974, 0.506, 1.519], atol=5e-4)
    np.testing.assert_array_equal(class_alpha(labels, "equal"), [1, 1, 1])
    capped = class_alpha(labels, 2.0)
    assert capped.max() / capped.min() == pytest.approx(2.0)
    assert capped.sum() == pytest.approx(3.0)


def _replaced_kappa(y_true: np.ndarray, y_pred: np.ndarray, quadratic: bool) -> float:
    """The hand-written NumPy kappa that scikit-learn's replaced (0.0 where chance agreement is total)."""
    observed = np.zeros((3, 3))
    np.add.at(observed, (y_true, y_pred), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    grid = np.arange(3)
    w = (grid[:, None] - grid[None, :]) ** 2 / 4 if quadratic else 1.0 - np.eye(3)
    chance = (w * expected).sum()
    return 0.0 if chance == 0 else float(1.0 - (w * observed).sum() / chance)


def _replaced_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    matrix = np.zeros((3, 3))
    np.add.at(matrix, (y_true, y_pred), 1)
    denom = matrix.sum(axis=0) + matrix.sum(axis=1)
    return float(np.divide(2 * np.diag(matrix), denom, out=np.zeros(3), where=denom > 0).mean())


@pytest.mark.parametrize("seed", range(8))
def test_metrics_equal_what_they_replaced(seed: int) -> None:
    """scikit-learn's kappa, QWK and macro F1 give the values of the NumPy code they replaced, to the
    last place, collapsed and absent classes included."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, 200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, 3, 200))
    if seed == 5:
        y_pred[:] = 1  # one-class collapse: no chance disagreement, kappa 0 (scikit-learn alone says NaN)
    if seed == 6:
        y_true[y_true == 2], y_pred[y_pred == 2] = 0, 1  # a class neither present nor predicted
    if seed == 7:
        y_true[:] = 0  # one true class
    ours = score(y_true, y_pred)
    ulp = 1e-15  # the same formula, summed in another order: equal to a unit in the last place
    assert ours.qwk == pytest.approx(_replaced_kappa(y_true, y_pred, True), abs=ulp)
    assert ours.kappa == pytest.approx(_replaced_kappa(y_true, y_pred, False), abs=ulp)
    assert ours.macro_f1 == pytest.approx(_replaced_macro_f1(y_true, y_pred), abs=ulp)
    assert ours.accuracy == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert ours.pred_histogram == np.bincount(y_pred, minlength=3).tolist()
    assert np.asarray(ours.confusion).sum() == 200


def test_collapsed_predictions_have_zero_kappa() -> None:
    y_true = np.array([0, 1, 2, 1, 0, 2, 1])
    collapsed = score(y_true, np.full(7, 2))
    assert collapsed.qwk == 0.0 and collapsed.kappa == 0.0
    assert collapsed.pred_histogram == [0, 0, 7]


def test_scores_are_per_visit_from_averaged_rows() -> None:
    # visit 0 has rows voting P, P, I with low confidence; averaged it is I
    row_probs = np.array([[0.30, 0.40, 0.30], [0.30, 0.40, 0.30], [0.90, 0.05, 0.05], [0.1, 0.1, 0.8]])
    row_visits = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(visit_probabilities(row_probs, row_visits, 2)[0], [0.5, 0.2833333, 0.2166667], atol=1e-6)
    scores = score_visits(row_probs, row_visits, np.array([0, 2]))
    assert scores.accuracy == 1.0 and scores.pred_histogram == [1, 0, 1]
