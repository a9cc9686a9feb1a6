"""Image rows' pixels: preprocessing each image once into a cache (:mod:`trainer.data._layout` finds the rows).

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
from PIL import Image, UnidentifiedImageError

from trainer._files import atomic_directory
from trainer.data._dataset import Dataset
from trainer.errors import DataError
from trainer.schema import MODALITY_CAMERA

log = logging.getLogger(__name__)

#: Bump when preprocessing changes, so old caches are not reused.
PREPROCESS_VERSION = 1


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
    processes; see :func:`trainer._files.atomic_directory` for why concurrent builders are safe.
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
            # memory-mapped, read-only: workers on one machine share the cache's pages instead of each holding a copy
            arrays[modality] = np.load(ready / "images.npy", mmap_mode="r", allow_pickle=False)
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
