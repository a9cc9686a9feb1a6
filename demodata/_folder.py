"""A synthetic data folder in the study's exact layout, for demos, tests and CI (the images are private).

Calibrated to be as hard as the real data (docs/demo-data.md): the metadata carries about the real
metadata's signal (:mod:`demodata._metadata`), and the images a subtle, statistical cue of
each visit's latent phase, per modality as strong as the research found the real images to be
(:mod:`demodata._images`). Metadata and images see the phase through independent noise, so
a working fusion beats each branch and a collapsed one does not. Given the real metadata CSV, the
generator keeps its rows and labels and draws a phase consistent with each label for the images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm, truncnorm

from demodata._images import IMAGE_SIGNAL, VIEWS, Canvas, draw_shot, parse_signal, visit_cues
from demodata._metadata import COLUMNS, METADATA_SIGNAL, synthetic_metadata
from trainer import DataError
from trainer.data import read_metadata
from trainer.schema import APPT, BOX_FILES, CLASSES, DFU, MODALITY_FOLDERS, PATIENT

log = logging.getLogger(__name__)

METADATA_NAME = "DataMaster_Processed_V12_WithMissing.csv"
#: Bump when what the generator draws changes, so that folders cached by the benchmarks are redrawn.
GENERATOR_VERSION = 2
#: Canvases at this share of the cameras' 1280×720 (depth) and 1080×1440 (thermal) keep a demo fast;
#: boxes are drawn in the scaled coordinates, so the layout stays exactly the study's.
CANVAS_SCALE = 0.2
_BOX_COLUMNS = [
    "Filename", PATIENT, APPT, DFU, "DebriStat", "Camera", "Angle", "Bounding Box Number", "Xmin", "Ymin", "Xmax", "Ymax",
]  # fmt: skip


@dataclass(frozen=True)
class DemoSummary:
    folder: Path
    visits: int
    patients: int
    shots: int
    label_counts: dict[str, int]


def write_demo_data(
    out: Path,
    from_metadata: Path | None = None,
    patients: int = 80,
    seed: int = 0,
    shots_per_visit: int = 3,
    image_signal: str | float | dict[str, float] | None = None,
    metadata_signal: float = METADATA_SIGNAL,
    progress: Callable[[int, int], None] | None = None,
    fixed_world: bool = False,
) -> DemoSummary:
    """Write a complete data folder to ``out``: metadata CSV, two box CSVs and four image folders.

    ``image_signal``: see :func:`demodata._images.parse_signal` (None: the calibrated values).
    ``fixed_world``: label cuts and phase scale are the world's, not this sample's (see
    :func:`demodata._metadata.synthetic_metadata`): folders of different ``seed`` are then new patients
    of one world, e.g. a test set for a model trained on another.
    """
    out = Path(out)
    _check_arguments(out, shots_per_visit, metadata_signal)
    signal = parse_signal(image_signal)
    rng = np.random.default_rng(seed)
    if from_metadata is not None and fixed_world:
        raise DataError("--fixed-world draws new patients; with --from-metadata the labels are the CSV's own")
    if from_metadata is not None:
        metadata = read_metadata(Path(from_metadata))
        frame = pd.read_csv(from_metadata, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        labels = metadata.labels
        phases = phases_for_labels(labels, rng)
        keys = metadata.frame[[PATIENT, APPT, DFU]].to_numpy()
    else:
        if patients < 2:
            raise DataError("--patients must be at least 2")
        frame, labels, phases = synthetic_metadata(patients, rng, metadata_signal, fixed_world)
        keys = frame[[PATIENT, APPT, DFU]].to_numpy(dtype=int)

    out.mkdir(parents=True, exist_ok=True)
    for folder in MODALITY_FOLDERS.values():
        (out / folder).mkdir()
    frame.to_csv(out / METADATA_NAME, index=False, encoding="utf-8-sig")

    cues = visit_cues(phases, signal, shots_per_visit, rng)
    canvas = Canvas.scaled(CANVAS_SCALE)
    depth_rows, thermal_rows = [], []
    seen: set[tuple[int, int, int]] = set()
    # A key recorded twice is one visit: its shots are drawn once, from its first row.
    todo = [(i, key) for i, key in enumerate(keys) if tuple(key) not in seen and not seen.add(tuple(key))]
    counter = 0
    for done, (visit, (patient, appt, dfu)) in enumerate(todo, 1):
        for shot, view in enumerate(VIEWS[:shots_per_visit]):
            counter += 1
            base = f"P{patient:03d}{appt:02d}{dfu}B"
            depth_name, thermal_name = f"{counter}_{base}D{view}.png", f"{counter + 50000}_{base}T{view}.png"
            shot_cue = {m: float(c[visit, shot]) for m, c in cues.items()}
            depth_box, thermal_box = draw_shot(out, depth_name, thermal_name, shot_cue, canvas, rng)
            depth_rows.append([depth_name, f"{patient:03d}", f"{appt:02d}", dfu, "B", "D", view, 1, *depth_box])
            thermal_rows.append([thermal_name, patient, appt, dfu, "B", "T", view, 1, *thermal_box])
        if progress:
            progress(done, len(todo))
    pd.DataFrame(depth_rows, columns=_BOX_COLUMNS).to_csv(out / BOX_FILES["D"], index=False)
    pd.DataFrame(thermal_rows, columns=_BOX_COLUMNS).to_csv(out / BOX_FILES["T"], index=False)
    counts = np.bincount(labels, minlength=3)
    return DemoSummary(out, len(labels), len(np.unique(keys[:, 0])), counter, dict(zip(CLASSES, counts.tolist())))


def phases_for_labels(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A standard-normal phase per visit that, cut at the labels' own shares, gives back each label:
    the latent the synthetic metadata would have had for these labels."""
    shares = np.bincount(labels, minlength=3) / len(labels)
    cuts = norm.ppf(np.clip(np.cumsum(shares)[:-1], 1e-6, 1 - 1e-6))
    low = np.concatenate([[-np.inf], cuts])[labels]
    high = np.concatenate([cuts, [np.inf]])[labels]
    return truncnorm.rvs(low, high, random_state=rng)


__all__ = ["COLUMNS", "GENERATOR_VERSION", "IMAGE_SIGNAL", "METADATA_SIGNAL", "DemoSummary", "write_demo_data"]


def _check_arguments(out: Path, shots_per_visit: int, metadata_signal: float) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is a file; choose a new folder")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: folder exists and is not empty; choose a new folder")
    if not 1 <= shots_per_visit <= len(VIEWS):
        raise DataError(f"--shots must be between 1 and {len(VIEWS)}")
    if not 0 <= metadata_signal <= 10:
        raise DataError(f"--metadata-signal must be a number in [0, 10], got {metadata_signal}")
