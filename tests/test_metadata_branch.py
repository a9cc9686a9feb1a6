"""The metadata branch: no label leaks, out-of-fold probabilities grouped by patient, a shared cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.config import TrainConfig
from trainer.data import Metadata, patient_folds, read_metadata
from trainer.model import cached_fold_probabilities, feature_frame, fit_metadata_model, fold_probabilities

FAST = TrainConfig(rf_trees=40, rf_oof_folds=3, seed=0).rf_settings


def test_label_leak_columns_never_reach_the_model(real_csv: Path) -> None:
    metadata = read_metadata(real_csv)
    fold = patient_folds(metadata.labels, metadata.patients, 5, 0)[0]
    model = fit_metadata_model(feature_frame(metadata).iloc[fold.train], metadata.labels[fold.train], FAST)
    seen = set(model.named_steps["encode"].feature_names_in_)
    assert {"Healing Phase", "Phase Confidence (%)", "Healing Phase Abs", "Patient#", "ID"}.isdisjoint(seen)

    # Behaviour, not just names: scrambling the leak columns changes no probability at all.
    scrambled = metadata.frame.copy()
    rng = np.random.default_rng(0)
    scrambled["Healing Phase"] = rng.permutation(scrambled["Healing Phase"].to_numpy())
    scrambled["Phase Confidence (%)"] = rng.permutation(scrambled["Phase Confidence (%)"].to_numpy())
    a = fold_probabilities(metadata, fold, FAST)
    b = fold_probabilities(dataclasses.replace(metadata, frame=scrambled), fold, FAST)
    # (to 1e-12: parallel trees sum in any order)
    np.testing.assert_allclose(a.val, b.val, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.train, b.train, rtol=0, atol=1e-12)


def test_oof_probabilities_never_come_from_a_model_that_saw_the_patient(real_csv: Path) -> None:
    metadata = read_metadata(real_csv)
    fold = patient_folds(metadata.labels, metadata.patients, 5, 0)[1]
    probs = fold_probabilities(metadata, fold, FAST)
    patients = metadata.patients[fold.train]
    assert (probs.train_inner_fold >= 0).all()
    for k in np.unique(probs.train_inner_fold):
        held_out = patients[probs.train_inner_fold == k]
        fitted_on = patients[probs.train_inner_fold != k]
        assert not set(held_out) & set(fitted_on)
    np.testing.assert_allclose(probs.train.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs.val.sum(axis=1), 1.0)


def test_oof_cannot_memorise_patients() -> None:
    """Each patient has a unique fingerprint feature and one random label: only a leak could predict it."""
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(120), 4)
    patient_label = rng.integers(0, 3, 120)
    frame = pd.DataFrame(
        {
            "Patient#": patients,
            "Appt#": np.tile(np.arange(4), 120),
            "DFU#": 1,
            "Age": rng.normal(size=120)[patients],  # a per-patient fingerprint in a schema column
            "Healing Phase Abs": np.array(["I", "P", "R"])[patient_label[patients]],
        }
    )
    metadata = Metadata(Path("synthetic.csv"), frame, patient_label[patients], patients, np.arange(len(frame)) + 2)
    fold = patient_folds(metadata.labels, metadata.patients, 4, 0)[0]
    probs = fold_probabilities(
        metadata, fold, TrainConfig(rf_trees=60, rf_min_leaf=1, rf_max_depth=30, rf_oof_folds=4).rf_settings
    )
    train_labels = metadata.labels[fold.train]
    oof_accuracy = (probs.train.argmax(axis=1) == train_labels).mean()
    # A model that had seen the patient would score ~1.0; grouped OOF stays near chance.
    assert oof_accuracy < 0.55
    in_sample = fit_metadata_model(
        feature_frame(metadata).iloc[fold.train],
        train_labels,
        TrainConfig(rf_trees=60, rf_min_leaf=1, rf_max_depth=30).rf_settings,
    )
    assert (in_sample.predict(feature_frame(metadata).iloc[fold.train]) == train_labels).mean() > 0.95


def test_fold_probabilities_are_cached_and_reused(real_csv: Path, cache_dir: Path) -> None:
    metadata = read_metadata(real_csv)
    fold = patient_folds(metadata.labels, metadata.patients, 5, 0)[2]
    first = cached_fold_probabilities(metadata, fold, FAST, cache_dir)
    entries = list((cache_dir / "metadata").glob("fold2-*/probs.npz"))
    assert len(entries) == 1
    stamp = entries[0].stat().st_mtime_ns
    second = cached_fold_probabilities(metadata, fold, FAST, cache_dir)
    np.testing.assert_array_equal(first.val, second.val)
    assert entries[0].stat().st_mtime_ns == stamp
    cached_fold_probabilities(metadata, fold, dataclasses.replace(FAST, trees=41), cache_dir)
    assert len(list((cache_dir / "metadata").glob("fold2-*/probs.npz"))) == 2  # other RF settings, other entry
