"""The data folder's layout: bounding-box CSVs and image folders, matched to the metadata's visits.

A *shot* is one depth photo and its thermal partner (same name after ``_``, camera letter ``T``).
Each shot of a visit is one image row; the map images share their RGB shot's name and box.

Reads only CSVs and folder listings (pandas), never an image: :mod:`trainer.data._images` opens them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.errors import DataError
from trainer.schema import (
    APPT,
    BOX_COLUMNS,
    BOX_FILES,
    DFU,
    MODALITY_CAMERA,
    MODALITY_FOLDERS,
    PATIENT,
    image_suffix,
    shot_key,
)

log = logging.getLogger(__name__)

BOX = ("Xmin", "Ymin", "Xmax", "Ymax")


def match_image_rows(
    folder: Path, visits: pd.DataFrame, metadata_name: str, modalities: tuple[str, ...]
) -> pd.DataFrame:
    """One row per shot of a known visit that has a box for every camera the modalities need.

    ``visits``: the metadata's rows (patient, appointment and DFU columns), named ``metadata_name``
    in messages. Columns: ``visit`` (row position in ``visits``), ``shot``, ``box_D``/``box_T``
    (x0, y0, x1, y1) and ``file_<modality>`` (a path) for each selected modality.
    """
    cameras = sorted({MODALITY_CAMERA[m] for m in modalities})
    per_camera = [_read_boxes(folder / BOX_FILES[camera], camera) for camera in cameras]
    shots = per_camera[0]
    for other in per_camera[1:]:
        shots = shots.merge(other, on=["shot", PATIENT, APPT, DFU], how="inner")
    if shots.empty:
        raise DataError(f"{folder}: no shot has a box in {' and '.join(BOX_FILES[c] for c in cameras)}")

    visit_of = pd.DataFrame(
        {
            PATIENT: visits[PATIENT],
            APPT: visits[APPT],
            DFU: visits[DFU],
            "visit": np.arange(len(visits)),
        }
    )
    # A key that appears twice in the metadata is the same visit recorded twice: each copy gets the shots.
    rows = shots.merge(visit_of, on=[PATIENT, APPT, DFU], how="inner")
    unmatched = len(shots) - rows["shot"].nunique()
    if unmatched > 0:
        log.info("%d shots belong to no visit in %s; they are ignored", unmatched, metadata_name)
    if rows.empty:
        raise DataError(f"{folder}: no shot in the bounding-box CSVs matches a visit of {metadata_name}")

    for modality in modalities:
        camera = MODALITY_CAMERA[modality]
        index = _folder_index(folder / MODALITY_FOLDERS[modality])
        files = []
        for name, line in zip(rows[f"name_{camera}"], rows[f"line_{camera}"]):
            found = index.get(image_suffix(name))
            if found is None:
                raise DataError(
                    f"{folder / BOX_FILES[camera]}: line {line}: image {name} not found in {MODALITY_FOLDERS[modality]}/"
                )
            files.append(found)
        rows[f"file_{modality}"] = files
    rows = rows.sort_values(["visit", "shot"], kind="stable").reset_index(drop=True)
    return rows


def _read_boxes(path: Path, camera: str) -> pd.DataFrame:
    """Boxes of one camera, one row per (shot, visit key); several boxes of a wound become their union."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (needed for the {'depth' if camera == 'D' else 'thermal'} images)")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in BOX_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(repr(c) for c in missing)}")
    frame["line"] = np.arange(len(frame)) + 2
    numeric = {}
    for column in (PATIENT, APPT, DFU, *BOX):
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        bad = values.isna() | (values % 1 != 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: line {frame['line'].iloc[i]}: column {column!r} must be an integer, got {frame[column].iloc[i]!r}"
            )
        numeric[column] = values.astype(np.int64)
    frame = frame.assign(**numeric)
    frame["Filename"] = frame["Filename"].str.strip()
    frame["shot"] = frame["Filename"].map(shot_key)
    bad_name = frame["shot"].isna()
    if bad_name.any():
        i = int(np.flatnonzero(bad_name.to_numpy())[0])
        raise DataError(
            f"{path}: line {frame['line'].iloc[i]}: file name {frame['Filename'].iloc[i]!r} is not like "
            "'{n}_P{patient:03d}{appt:02d}{dfu}{B|A}{D|T}{R|M|L}{Z|W}.png'"
        )
    empty = (frame["Xmax"] <= frame["Xmin"]) | (frame["Ymax"] <= frame["Ymin"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError(f"{path}: line {frame['line'].iloc[i]}: empty box (Xmax <= Xmin or Ymax <= Ymin)")
    grouped = frame.groupby(["shot", PATIENT, APPT, DFU], sort=True).agg(
        Xmin=("Xmin", "min"),
        Ymin=("Ymin", "min"),
        Xmax=("Xmax", "max"),
        Ymax=("Ymax", "max"),
        name=("Filename", "first"),
        line=("line", "first"),
    )
    grouped = grouped.reset_index()
    grouped[f"box_{camera}"] = list(zip(grouped["Xmin"], grouped["Ymin"], grouped["Xmax"], grouped["Ymax"]))
    return grouped.rename(columns={"name": f"name_{camera}", "line": f"line_{camera}"})[
        ["shot", PATIENT, APPT, DFU, f"box_{camera}", f"name_{camera}", f"line_{camera}"]
    ]


def _folder_index(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    return {image_suffix(p.name): p for p in folder.iterdir() if p.suffix.lower() == ".png"}
