"""Image rows of a data folder: matching shots to visits, and preprocessing them once into a cache.

A *shot* is one depth photo and its thermal partner (same name after ``_``, camera letter ``T``).
Each shot of a visit is one image row; the map images share their RGB shot's name and box.
Preprocessing crops to the wound box, resizes keeping the aspect ratio so the long side is the
image size, zero-pads to a square and keeps uint8 values in [0, 255].
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from trainer.cache import atomic_directory
from trainer.data import Dataset, Metadata
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

#: Bump when preprocessing changes, so old caches are not reused.
PREPROCESS_VERSION = 1
_BOX = ("Xmin", "Ymin", "Xmax", "Ymax")


def match_image_rows(folder: Path, metadata: Metadata, modalities: tuple[str, ...]) -> pd.DataFrame:
    """One row per shot of a known visit that has a box for every camera the modalities need.

    Columns: ``visit`` (position in ``metadata``), ``shot``, ``box_D``/``box_T`` (x0, y0, x1, y1)
    and ``file_<modality>`` (a path) for each selected modality.
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
            PATIENT: metadata.frame[PATIENT],
            APPT: metadata.frame[APPT],
            DFU: metadata.frame[DFU],
            "visit": np.arange(len(metadata)),
        }
    )
    # A key that appears twice in the metadata is the same visit recorded twice: each copy gets the shots.
    rows = shots.merge(visit_of, on=[PATIENT, APPT, DFU], how="inner")
    unmatched = len(shots) - rows["shot"].nunique()
    if unmatched > 0:
        log.info("%d shots belong to no visit in %s; they are ignored", unmatched, metadata.path.name)
    if rows.empty:
        raise DataError(f"{folder}: no shot in the bounding-box CSVs matches a visit of {metadata.path.name}")

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
    for column in (PATIENT, APPT, DFU, *_BOX):
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


def preprocess_image(path: Path, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Crop to ``box``, resize so the long side is ``size`` (aspect kept), zero-pad to ``size``×``size``."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from None
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(image.width, box[2]), min(image.height, box[3])
    if x1 <= x0 or y1 <= y0:
        raise DataError(f"{path}: box {box} lies outside the {image.width}x{image.height} image")
    crop = image.crop((x0, y0, x1, y1))
    scale = size / max(crop.width, crop.height)
    width, height = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
    crop = crop.resize((width, height), Image.Resampling.BILINEAR)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[top : top + height, left : left + width] = np.asarray(crop, dtype=np.uint8)
    return canvas


def verify_images(dataset: Dataset) -> None:
    """Open every image a run would read, check it decodes and holds its box; writes nothing.

    ``dfu-search launch`` calls this before it creates a study, so a garbage PNG is one ``error:``
    line at launch instead of a failed trial on every worker.
    """
    rows = dataset.image_rows
    if rows is None:
        return
    for modality in dataset.image_modalities:
        camera = MODALITY_CAMERA[modality]
        for path, box in dict(zip(rows[f"file_{modality}"], rows[f"box_{camera}"])).items():
            try:
                with Image.open(path) as opened:
                    width, height = opened.size
                    opened.verify()  # checksums and structure, without decoding the pixels
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"{path}: unreadable image ({exc})") from None
            if min(width, box[2]) <= max(0, box[0]) or min(height, box[3]) <= max(0, box[1]):
                raise DataError(f"{path}: box {tuple(box)} lies outside the {width}x{height} image")


def load_images(
    dataset: Dataset,
    image_size: int,
    cache_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Preprocessed images of every image row, per modality: uint8 arrays of shape (rows, size, size, 3).

    Each modality is built once per (files, boxes, image size) and reused by later runs and other
    processes; see :func:`trainer.cache.atomic_directory` for why concurrent builders are safe.
    """
    rows = dataset.image_rows
    if rows is None:
        return {}
    arrays = {}
    for modality in dataset.image_modalities:
        camera = MODALITY_CAMERA[modality]
        files = list(rows[f"file_{modality}"])
        boxes = list(rows[f"box_{camera}"])
        key = _cache_key(modality, files, boxes, image_size)
        target = Path(cache_dir) / "images" / f"{modality}-{image_size}px-{key}"

        def build(tmp: Path, files=files, boxes=boxes, modality=modality) -> None:
            array = _preprocess_all(
                files, boxes, image_size, lambda done: progress and progress(modality, done, len(files))
            )
            np.save(tmp / "images.npy", array, allow_pickle=False)

        with atomic_directory(target, build) as ready:
            arrays[modality] = np.load(ready / "images.npy", allow_pickle=False)
    return arrays


def _preprocess_all(files: list[Path], boxes: list[tuple], size: int, tick: Callable[[int], None]) -> np.ndarray:
    out = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    # Pillow releases the GIL while decoding PNGs, so threads use all cores without pickling.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, image in enumerate(
            pool.map(lambda fb: preprocess_image(fb[0], tuple(int(v) for v in fb[1]), size), zip(files, boxes))
        ):
            out[i] = image
            if (i + 1) % 200 == 0 or i + 1 == len(files):
                tick(i + 1)
    return out


def _cache_key(modality: str, files: list[Path], boxes: list[tuple], size: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([PREPROCESS_VERSION, modality, size]).encode())
    for path, box in zip(files, boxes):
        stat = Path(path).stat()
        digest.update(
            f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{tuple(int(v) for v in box)}\n".encode()
        )
    return digest.hexdigest()[:16]
