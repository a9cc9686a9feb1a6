"""The synthetic data generator: real column names, real labels on request, a real but noisy image signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data import load_dataset, read_metadata
from trainer.images import load_images
from trainer.synthetic import COLUMNS, write_demo_data


def test_synthetic_metadata_has_the_real_columns(demo_folder: Path, real_csv: Path) -> None:
    real = pd.read_csv(real_csv, encoding="utf-8-sig", nrows=1)
    assert tuple(real.columns) == COLUMNS
    demo = read_metadata(demo_folder / "DataMaster_Processed_V12_WithMissing.csv")
    assert tuple(demo.frame.columns) == COLUMNS
    assert set(np.unique(demo.labels)) == {0, 1, 2}


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


def test_images_carry_a_real_but_noisy_class_signal(demo_folder: Path, cache_dir: Path) -> None:
    dataset = load_dataset(demo_folder, ("metadata", "depth_rgb"))
    pixels = load_images(dataset, 16, cache_dir)["depth_rgb"].astype(float)
    colour = pixels[:, 5:11, 5:11].mean(axis=(1, 2))  # centre of the wound
    labels = dataset.metadata.labels[dataset.image_rows["visit"].to_numpy()]
    centroids = np.stack([colour[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((colour[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    accuracy = (nearest == labels).mean()
    assert 0.5 < accuracy < 0.95  # well above chance (~0.33), well below perfect
