"""Loading the metadata CSV: columns by name, labels, keys, leaks, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data import load_dataset, read_metadata
from trainer.errors import DataError
from trainer.schema import LABEL_LEAKS, NEVER_FEATURES


def test_real_metadata_loads_with_expected_counts(real_csv: Path) -> None:
    metadata = read_metadata(real_csv)
    assert len(metadata) == 890
    assert len(np.unique(metadata.patients)) == 268
    assert np.bincount(metadata.labels).tolist() == [276, 496, 118]  # I, P, R
    features = metadata.feature_columns
    assert not set(features) & NEVER_FEATURES
    assert "Healing Phase" not in features and "Phase Confidence (%)" not in features
    assert "Patient#" not in features and "Appt#" not in features
    assert len(features) == 72 - len([c for c in metadata.frame.columns if c in NEVER_FEATURES])


def test_columns_found_by_name_in_any_order_with_or_without_bom(real_csv: Path, tmp_path: Path) -> None:
    original = pd.read_csv(real_csv, encoding="utf-8-sig")
    shuffled = original[list(reversed(original.columns))]
    no_bom = tmp_path / "nobom.csv"
    shuffled.to_csv(no_bom, index=False, encoding="utf-8")
    assert not no_bom.read_bytes().startswith(b"\xef\xbb\xbf")
    shuffled.assign(**{"Ward Notes": "x", "Bed#": np.arange(len(shuffled))}).to_csv(
        extra := tmp_path / "extra.csv", index=False
    )
    a, b, c = read_metadata(real_csv), read_metadata(no_bom), read_metadata(extra)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.patients, b.patients)
    assert a.feature_columns == b.feature_columns == c.feature_columns  # canonical order; unknown columns ignored

    # same data, same answer: the metadata branch's probabilities are identical, not merely close
    from trainer.config import TrainConfig
    from trainer.data import patient_folds
    from trainer.model import fold_probabilities

    fold = patient_folds(a.labels, a.patients, 5, 0)[0]
    settings = TrainConfig(rf_trees=30, rf_oof_folds=3).rf_settings
    expected = fold_probabilities(a, fold, settings)
    for other in (b, c):
        got = fold_probabilities(other, fold, settings)
        np.testing.assert_array_equal(got.val, expected.val)
        np.testing.assert_array_equal(got.train, expected.train)


def test_bare_csv_is_metadata_only_and_refuses_image_modalities(real_csv: Path) -> None:
    assert load_dataset(real_csv).modalities == ("metadata",)
    with pytest.raises(DataError, match="bare metadata CSV has no images"):
        load_dataset(real_csv, ("metadata", "depth_rgb"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe\x00", "not a readable CSV"),
        (b"Patient#,Appt#,DFU#,Age\n1,0,1,50\n", "no column 'Healing Phase Abs'"),
        (b"Patient#,Appt#,DFU#,Healing Phase Abs\n1,0,1,I\n2,0,1,X\n", "line 3: unknown label 'X'"),
        (b"Patient#,Appt#,DFU#,Healing Phase Abs\n1,0,1,I\n2,0,1,\n", "line 3: unknown label empty"),
        (
            b"Patient#,Appt#,DFU#,Healing Phase Abs\n1,0,1,I\nabc,0,1,P\n",
            "line 3: column 'Patient#' must be an integer",
        ),
    ],
)
def test_bad_metadata_names_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_metadata(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_modality(tmp_path: Path, real_csv: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown colour"):
        load_dataset(real_csv, ("metadata", "colour"))


def test_leak_columns_present_in_data_but_not_features(real_csv: Path) -> None:
    metadata = read_metadata(real_csv)
    for leak in LABEL_LEAKS:
        assert leak in metadata.frame.columns
        assert leak not in metadata.feature_columns
