"""The synthetic data generator: the real columns, shares and gaps; a calibrated, subtle, statistical signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demodata import COLUMNS, phases_for_labels, write_demo_data
from demodata._images import CAMERA_NOISE, IMAGE_SIGNAL, VISIT_NOISE, parse_signal, visit_cues
from demodata._metadata import LABEL_SHARES, synthetic_metadata
from trainer import load_config, train
from trainer.data import load_dataset, load_images, read_metadata
from trainer.errors import DataError


def test_synthetic_metadata_looks_like_the_real_csv(real_csv: Path, tmp_path: Path) -> None:
    real = pd.read_csv(real_csv, encoding="utf-8-sig")
    assert tuple(real.columns) == COLUMNS
    frame, labels, _ = synthetic_metadata(268, np.random.default_rng(0))
    assert tuple(frame.columns) == COLUMNS
    np.testing.assert_allclose(np.bincount(labels) / len(labels), LABEL_SHARES, atol=0.01)
    assert 2.8 <= len(frame) / 268 <= 3.9  # visits per patient, 3.3 in the real data
    for column in (
        "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)",
        "Type of Pain2",
        "Clinical Score",
        "Age",
    ):
        assert abs(frame[column].isna().mean() - real[column].isna().mean()) < 0.06, column
    for column in ("Sex (F:0, M:1)", "Foot Aspect", "Odor"):
        assert frame[column].dropna().map(lambda v: isinstance(v, str)).all()

    # its metadata signal is about the real metadata's: a RandomForest scores QWK ≈ 0.4 on patient-grouped folds
    csv = tmp_path / "metadata.csv"
    frame.to_csv(csv, index=False, encoding="utf-8-sig")
    assert read_metadata(csv).labels.tolist() == labels.tolist()
    summary = train(csv, load_config(overrides={"modalities": ["metadata"], "rf_trees": 100}), tmp_path / "cache")
    assert 0.33 <= summary["qwk"] <= 0.55


def test_the_cue_is_a_noisy_view_of_the_phase_shared_loosely_by_both_cameras() -> None:
    rng = np.random.default_rng(0)
    phase = rng.normal(0, 1, 20_000)
    cues = visit_cues(phase, parse_signal(None), 2, rng)
    depth, thermal = cues["depth_rgb"][:, 0], cues["thermal_map"][:, 0]
    s = IMAGE_SIGNAL["depth_rgb"]
    expected = s / np.sqrt(s**2 * (1 + VISIT_NOISE**2 + CAMERA_NOISE**2) + 1)
    assert np.corrcoef(depth, phase)[0, 1] == pytest.approx(expected, abs=0.02)
    assert 0.05 < np.corrcoef(depth, thermal)[0, 1] < 0.5  # correlated, not copies
    none = visit_cues(phase, parse_signal(0), 1, rng)
    assert abs(np.corrcoef(none["thermal_map"][:, 0], phase)[0, 1]) < 0.03
    assert parse_signal("depth_map=0.1")["depth_map"] == 0.1 and parse_signal(2.0)["thermal_rgb"] == 2.0
    for bad in ("depth=1", "depth_rgb=abc", "-1", "thermal_map=11"):
        with pytest.raises(DataError, match="--image-signal"):
            parse_signal(bad)


def test_phases_for_real_labels_cut_back_to_the_labels() -> None:
    labels = np.repeat([0, 1, 2], [276, 496, 118])
    phase = phases_for_labels(labels, np.random.default_rng(0))
    cuts = np.quantile(phase, np.cumsum(np.bincount(labels) / len(labels))[:-1])
    assert (np.searchsorted(cuts, phase) == labels).mean() > 0.99


def test_a_strong_signal_shows_in_the_pixels_and_none_does_not(tmp_path: Path) -> None:
    """The depth photo's tissue mix moves with the phase: strong at --image-signal 4, absent at 0."""
    correlations = {}
    for signal in (0.0, 4.0):
        folder = tmp_path / f"s{signal}"
        write_demo_data(folder, patients=40, seed=3, shots_per_visit=1, image_signal=signal)
        dataset = load_dataset(folder, ("metadata", "depth_rgb"))
        pixels = load_images(dataset, 24, tmp_path / "cache")["depth_rgb"].astype(float)
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        slough = ((g > 0.75 * r) & (g > b + 30)).mean(axis=(1, 2))  # yellow tissue: early phases
        labels = dataset.metadata.labels[dataset.image_rows["visit"].to_numpy()]
        correlations[signal] = np.corrcoef(slough, labels)[0, 1]
    assert correlations[4.0] < -0.3
    assert abs(correlations[0.0]) < 0.2


def test_from_metadata_keeps_rows_and_labels(real_csv: Path, tmp_path: Path) -> None:
    # Only the first 60 visits, to keep the test fast: the generator works on any valid CSV.
    subset = tmp_path / "subset.csv"
    pd.read_csv(real_csv, encoding="utf-8-sig").head(60).to_csv(subset, index=False, encoding="utf-8-sig")
    summary = write_demo_data(tmp_path / "out", from_metadata=subset, shots_per_visit=1)
    written = read_metadata(tmp_path / "out" / "DataMaster_Processed_V12_WithMissing.csv")
    np.testing.assert_array_equal(written.labels, read_metadata(subset).labels)
    assert summary.visits == 60
    assert len(load_dataset(tmp_path / "out").image_rows) == len(
        {tuple(k) for k in written.frame[["Patient#", "Appt#", "DFU#"]].to_numpy()}
    )
