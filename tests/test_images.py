"""Image rows of a data folder: matching through the box CSVs, preprocessing, and the shared cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from trainer.data import load_dataset, load_images
from trainer.data._images import preprocess_image
from trainer.errors import DataError


def test_shots_are_matched_to_visits_through_box_csvs(demo_folder: Path) -> None:
    dataset = load_dataset(demo_folder)
    assert dataset.modalities == ("metadata", "depth_rgb", "thermal_map")
    rows = dataset.image_rows
    assert len(rows) == 2 * len(dataset.metadata)  # two shots per visit in the fixture
    depth = pd.read_csv(demo_folder / "bounding_box_depth.csv", dtype=str)
    for _, row in rows.sample(10, random_state=0).iterrows():
        visit = dataset.metadata.frame.iloc[row["visit"]]
        name = row["file_depth_rgb"].name
        box_row = depth[depth["Filename"] == name].iloc[0]
        assert (int(box_row["Patient#"]), int(box_row["Appt#"]), int(box_row["DFU#"])) == (
            visit["Patient#"],
            visit["Appt#"],
            visit["DFU#"],
        )
        # the thermal partner: same name after "_", camera letter T
        assert row["file_thermal_map"].name.split("_", 1)[1] == name.split("_", 1)[1].replace("BD", "BT")


def test_preprocessing_crops_resizes_keeping_aspect_and_pads(tmp_path: Path) -> None:
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[20:40, 50:130] = [250, 10, 10]  # an 80×20 red box
    Image.fromarray(pixels).save(tmp_path / "x.png")
    out = preprocess_image(tmp_path / "x.png", (50, 20, 130, 40), 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    filled = np.flatnonzero(out[:, :, 0].max(axis=1) > 0)
    assert len(filled) == 8  # 80×20 → 32×8: aspect ratio kept
    assert out[:12].max() == 0 and out[20:].max() == 0  # zero padding above and below, centred
    assert out[14, 5].tolist() == [250, 10, 10]


def test_image_cache_is_built_once_and_reused(demo_folder: Path, cache_dir: Path) -> None:
    dataset = load_dataset(demo_folder)
    first = load_images(dataset, 32, cache_dir)
    assert set(first) == {"depth_rgb", "thermal_map"}
    assert first["depth_rgb"].shape == (len(dataset.image_rows), 32, 32, 3)
    entries = sorted((cache_dir / "images").glob("*px-*"))
    entries = [e for e in entries if e.is_dir()]
    assert len(entries) == 2
    stamps = [e.stat().st_mtime_ns for e in entries]
    second = load_images(dataset, 32, cache_dir)
    np.testing.assert_array_equal(first["thermal_map"], second["thermal_map"])
    # memory-mapped and read-only: workers on one machine share the cache's pages, and none can change them
    assert isinstance(second["thermal_map"], np.memmap) and not second["thermal_map"].flags.writeable
    assert [e.stat().st_mtime_ns for e in entries] == stamps
    load_images(dataset, 16, cache_dir)  # another size, another entry
    assert len([e for e in (cache_dir / "images").iterdir() if e.is_dir()]) == 4


def test_two_processes_building_the_cache_at_once_agree(demo_folder: Path, cache_dir: Path) -> None:
    script = (
        "import sys, numpy as np; from trainer.data import load_dataset; from trainer.data._images import load_images; "
        f"a = load_images(load_dataset(r'{demo_folder}'), 24, r'{cache_dir}'); "
        "print(int(a['depth_rgb'].sum()), int(a['thermal_map'].sum()))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1] != ""
    assert len([e for e in (cache_dir / "images").iterdir() if e.is_dir() and not e.name.startswith(".")]) == 2
    assert not [e for e in (cache_dir / "images").iterdir() if e.name.startswith(".")]  # no temporary leftovers


def test_box_csv_naming_a_missing_image_is_an_error(demo_copy: Path) -> None:
    victim = sorted((demo_copy / "Depth_RGB").iterdir())[3]
    victim.unlink()
    with pytest.raises(
        DataError, match=rf"bounding_box_depth.csv: line \d+: image {victim.name} not found in Depth_RGB/"
    ):
        load_dataset(demo_copy)


def test_unreadable_png_is_an_error_and_leaves_no_cache(demo_copy: Path, cache_dir: Path) -> None:
    victim = sorted((demo_copy / "Thermal_Map_IMG").iterdir())[5]
    victim.write_bytes(b"not a png at all")
    dataset = load_dataset(demo_copy)
    with pytest.raises(DataError, match=f"{victim.name}: unreadable image"):
        load_images(dataset, 32, cache_dir)
    leftovers = [e.name for e in (cache_dir / "images").iterdir() if not e.name.endswith(".lock")]
    assert all(name.startswith("depth_rgb") for name in leftovers)  # the finished modality only, no half-built one


def test_box_csv_errors_name_the_line(demo_copy: Path) -> None:
    path = demo_copy / "bounding_box_thermal.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[4, "Xmin"] = "left"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"bounding_box_thermal.csv: line 6: column 'Xmin' must be an integer"):
        load_dataset(demo_copy)
    path.unlink()
    with pytest.raises(DataError, match="bounding_box_thermal.csv: no such file"):
        load_dataset(demo_copy, ("metadata", "thermal_rgb"))
