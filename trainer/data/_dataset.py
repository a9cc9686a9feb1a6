"""Loading the DFU study's metadata CSV and, for a data folder, its image rows.

``--data`` is either a bare metadata CSV (metadata only) or a folder in the study's layout
(docs/design.md, the data). Every problem a user can cause is raised as :class:`DataError` naming the
file, line or column, before anything is cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data._layout import match_image_rows
from trainer.errors import DataError
from trainer.schema import (
    APPT,
    BOX_FILES,
    DFU,
    IMAGE_MODALITIES,
    LABEL,
    LABEL_CODES,
    METADATA,
    METADATA_COLUMNS,
    MODALITIES,
    MODALITY_FOLDERS,
    NEVER_FEATURES,
    PATIENT,
    REQUIRED_COLUMNS,
)

log = logging.getLogger(__name__)

#: Header line is line 1, so data row ``i`` (0-based) is on line ``i + 2``.
_FIRST_DATA_LINE = 2


@dataclass(frozen=True)
class Metadata:
    """The visits of a metadata CSV: one row per visit, in file order (or a subset of it)."""

    path: Path
    frame: pd.DataFrame
    labels: np.ndarray  # int codes, I=0, P=1, R=2
    patients: np.ndarray  # grouping key for cross-validation
    lines: np.ndarray  # CSV line of each row, for error messages

    @property
    def feature_columns(self) -> list[str]:
        """Candidate feature columns in the DFU CSV's canonical order: everything but keys, the label, label leaks
        and free text. The file's column order does not matter, and columns outside the schema are ignored."""
        present = set(self.frame.columns)
        return [c for c in METADATA_COLUMNS if c in present and c not in NEVER_FEATURES]

    @property
    def labelled(self) -> bool:
        """Whether every visit has its label (a CSV read for prediction may have none: all -1)."""
        return bool((self.labels >= 0).all())

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, rows: np.ndarray) -> Metadata:
        rows = np.asarray(rows, dtype=int)
        return Metadata(
            self.path,
            self.frame.iloc[rows].reset_index(drop=True),
            self.labels[rows],
            self.patients[rows],
            self.lines[rows],
        )


@dataclass(frozen=True)
class Dataset:
    """What a training run reads: visits, and for image modalities one row per shot of a visit.

    ``image_rows`` has a ``visit`` column (a position in ``metadata``), the box of each camera
    and the file of each selected image modality. Visits without a usable shot are left out when
    image modalities are selected.
    """

    source: Path
    modalities: tuple[str, ...]
    metadata: Metadata
    image_rows: pd.DataFrame | None

    @property
    def image_modalities(self) -> tuple[str, ...]:
        return tuple(m for m in self.modalities if m in IMAGE_MODALITIES)


def read_metadata(path: Path, labels_required: bool = True) -> Metadata:
    """Read and validate a metadata CSV (UTF-8, with or without BOM, columns in any order).

    ``labels_required=False`` (new visits to predict): a CSV without the label column is read with every label
    unknown (-1); one with it is checked as for training, so its visits can be scored."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({_first_line(exc)})") from None
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    required = [c for c in REQUIRED_COLUMNS if labels_required or c != LABEL]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(repr(c) for c in missing)} (is this the DFU metadata CSV?)")
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    lines = np.arange(len(frame)) + _FIRST_DATA_LINE
    unknown_columns = [c for c in frame.columns if c not in METADATA_COLUMNS]
    if unknown_columns:
        log.warning("%s: ignoring %d column(s) outside the DFU schema: %s", path.name, len(unknown_columns),
                    ", ".join(repr(c) for c in unknown_columns[:5]) + (" …" if len(unknown_columns) > 5 else ""))  # fmt: skip

    for column in (PATIENT, APPT, DFU):
        frame[column] = _integer_column(path, frame, column, lines)
    if LABEL not in frame.columns:  # only without labels_required: new visits, nothing to score
        return Metadata(path, frame, np.full(len(frame), -1), frame[PATIENT].to_numpy(dtype=np.int64), lines)
    raw_labels = frame[LABEL].astype("string").str.strip()
    unknown = ~raw_labels.isin(list(LABEL_CODES))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        shown = "empty" if pd.isna(raw_labels.iloc[i]) else repr(str(raw_labels.iloc[i]))
        raise DataError(f"{path}: line {lines[i]}: unknown label {shown} in column {LABEL!r} (expected I, P or R)")
    labels = raw_labels.map(LABEL_CODES).to_numpy(dtype=np.int64)
    return Metadata(path, frame, labels, frame[PATIENT].to_numpy(dtype=np.int64), lines)


def load_dataset(source: Path, modalities: tuple[str, ...] | None = None, labels_required: bool = True) -> Dataset:
    """Load ``--data``: a bare metadata CSV or a folder in the study's layout (``labels_required``: see
    :func:`read_metadata`).

    ``modalities=None`` picks the default: metadata plus ``depth_rgb`` and ``thermal_map`` for a
    folder with images, metadata alone for a bare CSV.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir():
        metadata = read_metadata(_find_metadata_csv(source), labels_required)
        has_images = any(source.joinpath(f).exists() for f in BOX_FILES.values())
        folders = [f for f in MODALITY_FOLDERS.values() if source.joinpath(f).is_dir()]
        if folders and not has_images:  # images without boxes: a half-copied folder, never "metadata only"
            raise DataError(
                f"{source}: has image folders ({', '.join(folders)}) but no {' or '.join(BOX_FILES.values())}"
            )
    else:
        metadata = read_metadata(source, labels_required)
        has_images = False
    if modalities is None:
        modalities = (METADATA, "depth_rgb", "thermal_map") if has_images else (METADATA,)
    modalities = _check_modalities(modalities)
    image_modalities = tuple(m for m in modalities if m in IMAGE_MODALITIES)
    if not image_modalities:
        return Dataset(source, modalities, metadata, None)
    if not source.is_dir():
        raise DataError(
            f"{source}: a bare metadata CSV has no images; modalities {', '.join(image_modalities)} "
            "need a data folder (metadata CSV, bounding-box CSVs and image folders)"
        )
    rows = match_image_rows(source, metadata.frame, metadata.path.name, image_modalities)
    used = np.unique(rows["visit"].to_numpy())
    dropped = len(metadata) - len(used)
    if dropped:
        log.info(
            "%d of %d visits have no shot with %s; they are left out",
            dropped,
            len(metadata),
            "+".join(image_modalities),
        )
    remap = np.full(len(metadata), -1)
    remap[used] = np.arange(len(used))
    rows = rows.assign(visit=remap[rows["visit"].to_numpy()])
    return Dataset(source, modalities, metadata.subset(used), rows.reset_index(drop=True))


def _check_modalities(modalities: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(m.strip().lower() for m in modalities if m.strip()))
    unknown = [m for m in cleaned if m not in MODALITIES]
    if unknown or not cleaned:
        raise DataError(
            f"--modalities: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODALITIES)}"
        )
    # Canonical order, so that a run's config and caches don't depend on how the user typed it.
    return tuple(m for m in MODALITIES if m in cleaned)


def _find_metadata_csv(folder: Path) -> Path:
    candidates = sorted(
        p for p in folder.glob("*.csv") if p.name not in BOX_FILES.values() and not p.name.startswith(".")
    )
    if len(candidates) > 1:
        preferred = [p for p in candidates if p.name.startswith("DataMaster")]
        candidates = preferred or candidates
    if not candidates:
        raise DataError(
            f"{folder}: no metadata CSV in this folder (expected e.g. DataMaster_Processed_V12_WithMissing.csv)"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise DataError(f"{folder}: several metadata CSVs ({names}); pass one with --data FILE")
    return candidates[0]


def _integer_column(path: Path, frame: pd.DataFrame, column: str, lines: np.ndarray) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: line {lines[i]}: column {column!r} must be an integer, got {frame[column].iloc[i]!r}")
    return values.astype(np.int64)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
