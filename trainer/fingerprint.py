"""A fingerprint of a data set, so a study refuses workers that would train on different data."""

from __future__ import annotations

import hashlib
from pathlib import Path

from trainer.errors import DataError
from trainer.schema import BOX_FILES, MODALITY_FOLDERS


def data_fingerprint(source: Path) -> dict:
    """Hashes of the CSVs, plus the count and total size of the images (hashing every image would take minutes)."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_file():
        return {"metadata_sha256": _sha256(source)}
    from trainer.data import _find_metadata_csv

    fingerprint = {"metadata_sha256": _sha256(_find_metadata_csv(source))}
    for name in BOX_FILES.values():
        if (source / name).is_file():
            fingerprint[name] = _sha256(source / name)
    count = size = 0
    for folder in MODALITY_FOLDERS.values():
        if (source / folder).is_dir():
            for image in (source / folder).iterdir():
                count += 1
                size += image.stat().st_size
    fingerprint.update(images=count, image_bytes=size)
    return fingerprint


def describe_difference(expected: dict, actual: dict) -> str:
    keys = [k for k in expected if expected.get(k) != actual.get(k)] + [k for k in actual if k not in expected]
    return ", ".join(f"{k} {actual.get(k)!r:.20} here vs {expected.get(k)!r:.20} in the study" for k in keys)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
