"""The selection estimate on its own: out-of-fold predictions kept compactly, BBC-CV's choice re-run on bootstrap
draws of patients, and the demo world whose new patients check it (bench/selection.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from search.query import selection_estimate
from search.query._selection import _qwks
from search.study import decode_oof, decode_visits, encode_oof, encode_visits

CLASSES = 3


def _world(patients: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patients with 1–6 visits, labels, and three patient-grouped folds."""
    rng = np.random.default_rng(seed)
    patient_of = np.repeat(np.arange(patients), rng.integers(1, 7, patients))
    labels = rng.choice(CLASSES, len(patient_of), p=[0.31, 0.56, 0.13])
    return patient_of, labels, patient_of % 3


def _trial(labels: np.ndarray, folds: np.ndarray, right: float, rng: np.random.Generator):
    """A trial that predicts the label with probability ``right``, else a random class; its kept predictions."""
    predicted = np.where(rng.random(len(labels)) < right, labels, rng.integers(0, CLASSES, len(labels)))
    probabilities = np.eye(CLASSES)[predicted] * 0.6 + 0.4 / CLASSES
    kept = encode_oof(len(labels), [(f, np.flatnonzero(folds == f), probabilities[folds == f]) for f in range(3)])
    decoded = decode_oof(kept)
    value = np.mean(
        [cohen_kappa_score(labels[folds == f], predicted[folds == f], weights="quadratic") for f in range(3)]
    )
    return decoded, float(value)


def test_out_of_fold_predictions_round_trip_compactly() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(CLASSES), 890)
    folds = [(f, np.arange(f, 890, 3), probabilities[f::3]) for f in range(2)]  # fold 2 never reported
    kept = encode_oof(890, folds)
    decoded = decode_oof(kept)
    assert np.abs(decoded.probabilities[::3] - probabilities[::3]).max() <= 0.5 / 65535 + 1e-7
    assert (decoded.folds[0::3] == 0).all() and (decoded.folds[1::3] == 1).all() and (decoded.folds[2::3] == -1).all()
    assert (decoded.predicted[:2] == probabilities[:2].argmax(axis=1)).all()
    assert len(str(kept)) < 9.5 * 890  # ≈ 9.3 bytes a visit in JSON
    # patients become group numbers by first appearance: no ID leaves the data
    visits = decode_visits(encode_visits(np.array([2, 0, 1, 1]), np.array(["P903", "P017", "P903", "P500"])))
    assert list(visits.patients) == [0, 1, 0, 2] and list(visits.labels) == [2, 0, 1, 1]


def test_weighted_qwk_of_every_trial_at_once_is_sklearns() -> None:
    rng = np.random.default_rng(1)
    labels, predicted = rng.integers(0, CLASSES, (2, 200))
    others = rng.integers(0, CLASSES, 200)
    onehot = np.concatenate([np.eye(CLASSES)[predicted], np.eye(CLASSES)[others]], axis=1)
    weight = rng.integers(0, 3, 200).astype(float)
    expected = [cohen_kappa_score(labels, p, weights="quadratic", sample_weight=weight) for p in (predicted, others)]
    assert _qwks(np.eye(CLASSES)[labels], onehot, weight) == pytest.approx(expected, abs=1e-12)
    one_class = _qwks(np.eye(CLASSES)[np.ones(5, int)], np.eye(CLASSES)[np.ones(5, int)], None)
    assert one_class[0] == 0.0  # no agreement beyond chance to measure: 0, never NaN


def test_a_clearly_better_trial_wins_and_is_estimated_at_its_own_level() -> None:
    patient_of, labels, folds = _world(120, 2)
    rng = np.random.default_rng(3)
    trials = [_trial(labels, folds, 0.85, rng)] + [_trial(labels, folds, 0.3, rng) for _ in range(9)]
    estimate = selection_estimate(list(range(10)), [v for _, v in trials], [t for t, _ in trials],
                                  decode_visits(encode_visits(labels, patient_of)), bootstraps=300)  # fmt: skip
    assert estimate.best_trial == 0 and estimate.win_shares == {0: 1.0}
    pooled = cohen_kappa_score(labels, trials[0][0].predicted, weights="quadratic")
    assert estimate.low < pooled < estimate.high and abs(estimate.estimate - pooled) < 0.03
    assert sum(estimate.win_shares.values()) == pytest.approx(1.0)


def test_among_equals_the_best_value_is_optimistic_and_the_win_is_shared() -> None:
    """Twenty trials of one skill: the best of their noisy CV values overstates what choosing it gives, which
    BBC-CV measures, and no trial wins most draws."""
    patient_of, labels, folds = _world(80, 4)
    rng = np.random.default_rng(5)
    trials = [_trial(labels, folds, 0.6, rng) for _ in range(20)]
    values = [v for _, v in trials]
    estimate = selection_estimate(list(range(20)), values, [t for t, _ in trials],
                                  decode_visits(encode_visits(labels, patient_of)), bootstraps=300)  # fmt: skip
    assert estimate.naive_qwk == max(values) and estimate.optimism > 0.03
    assert estimate.estimate < np.mean(values) + 0.01
    assert max(estimate.win_shares.values()) < 0.5 and len(estimate.tied_with_best()) >= 3
    assert estimate.low < estimate.estimate < estimate.high
    assert "BBC-CV over 20 complete trials" in estimate.describe()[0]


def test_bootstrap_draws_patients_not_visits() -> None:
    """One patient with most of the visits: drawn or not, all of them go together, so the out-of-bag QWK swings with
    that one patient (a visit bootstrap would keep ~63 % of them in every draw and hide it)."""
    labels = np.array([1] * 60 + [0, 1, 2] * 10)
    patient_of = np.array([0] * 60 + list(range(1, 31)))
    folds = np.arange(len(labels)) % 3
    predicted = np.where(patient_of == 0, 0, labels)  # the big patient is always wrong
    kept = decode_oof(encode_oof(len(labels), [(f, np.flatnonzero(folds == f), np.eye(3)[predicted][folds == f])
                                               for f in range(3)]))  # fmt: skip
    estimate = selection_estimate([0], [0.5], [kept], decode_visits(encode_visits(labels, patient_of)), bootstraps=400)
    assert estimate.high > 0.99  # draws that leave the big patient in the bag score the rest perfectly
    assert estimate.low < 0.5


def test_mismatched_predictions_are_refused() -> None:
    patient_of, labels, folds = _world(30, 6)
    rng = np.random.default_rng(7)
    first, _ = _trial(labels, folds, 0.6, rng)
    other_folds, _ = _trial(labels, (folds + 1) % 3, 0.6, rng)
    visits = decode_visits(encode_visits(labels, patient_of))
    with pytest.raises(ValueError, match="do not share"):
        selection_estimate([0, 1], [0.4, 0.4], [first, other_folds], visits)
    with pytest.raises(ValueError, match="no complete trial"):
        selection_estimate([], [], [], visits)


def test_a_fixed_world_cuts_labels_by_its_own_thresholds_not_the_samples() -> None:
    """``demo-data --fixed-world``: every folder is standardised and cut by the world's constants, so a seed draws new
    patients of one world; without it each folder's label shares are exactly 31/56/13 %."""
    from demodata._metadata import LABEL_SHARES, synthetic_metadata, world_constants

    _, sd, cuts = world_constants()
    assert sd > 0 and cuts[0] < cuts[1]
    for seed in (0, 1):
        _, labels, phase = synthetic_metadata(60, np.random.default_rng(seed), fixed_world=True)
        assert (labels == np.searchsorted(cuts, phase)).all()
        assert abs(phase.mean()) > 1e-6  # the world's scale, not this sample's
        _, labels, phase = synthetic_metadata(60, np.random.default_rng(seed))
        assert abs(phase.mean()) < 1e-9
        shares = np.bincount(labels, minlength=3) / len(labels)
        assert np.abs(shares - LABEL_SHARES).max() < 1.5 / len(labels)
