"""A synthetic data folder in the study's exact layout, for demos, tests and CI (the images are private).

The class signal is real but noisy, and the image signal is partly independent of the metadata:
each visit draws an *image class* that equals its label with probability ``1 - image_noise`` and
is random otherwise, and the metadata columns carry their own, independent noise. So the RF and
the CNN each know part of the truth, a working fusion beats both, and a collapsed one does not.
Given the real metadata CSV, the generator keeps its rows and labels and draws images for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from trainer.data import read_metadata
from trainer.errors import DataError
from trainer.schema import APPT, BOX_FILES, CLASSES, DFU, MODALITY_FOLDERS, PATIENT

log = logging.getLogger(__name__)

METADATA_NAME = "DataMaster_Processed_V12_WithMissing.csv"
#: The real CSV's columns, in its order.
COLUMNS = (
    "ID",
    "Patient#",
    "Age",
    "Sex (F:0, M:1)",
    "Weight (Kg)",
    "Height (cm)",
    "Smoking",
    "Alcohol Consumption",
    "Habits Score",
    "Type of Diabetes",
    "Heart Conditions",
    "Cancer History",
    "Sensory Peripheral",
    "Clinical Score",
    "Number of DFUs",
    "DFU#",
    "Side (Left:0, Right:1)",
    "Foot Aspect",
    "Location",
    "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)",
    "Onset (Days)",
    "No Toes Deformities",
    "Bunion",
    "Claw",
    "Hammer",
    "Charcot Arthropathy",
    "Flat (Pes Planus) Arch",
    "Abnormally High Arch",
    "No Arch Deformities",
    "Foot Score",
    "Appt#",
    "Appt Days",
    "Wound Centre Temperature (°C)",
    "Peri-Ulcer Temperature (°C)",
    "Intact Skin Temperature (°C)",
    "Wound Centre Temperature Normalized (°C)",
    "Peri-Ulcer Temperature Normalized (°C)",
    "Pain Level",
    "Type of Pain",
    "Type of Pain Grouped",
    "Type of Pain2",
    "Type of Pain_Grouped2",
    "Wound Tunneling",
    "Exudate Amount (None:0,Minor,Medium,Severe:3)",
    "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)",
    "Odor",
    "No Peri-ulcer Conditions (False:0, True:1)",
    "Erythema at Peri-ulcer",
    "Edema at Peri-ulcer",
    "Pale Colour at Peri-ulcer",
    "Maceration at Peri-ulcer",
    "Wound Score",
    "Dressing",
    "Dressing Grouped",
    "No Foot Abnormalities",
    "Foot Hair Loss",
    "Foot Dry Skin",
    "Foot Fissure Cracks",
    "Foot Callus",
    "Thickened Toenail",
    "Foot Fungal Nails",
    "Leg Score",
    "No Offloading",
    "Offloading: Therapeutic Footwear",
    "Offloading: Scotcast Boot or RCW",
    "Offloading: Half Shoes or Sandals",
    "Offloading: Total Contact Cast",
    "Offloading: Crutches, Walkers or Wheelchairs",
    "Offloading Score",
    "Healing Phase",
    "Phase Confidence (%)",
    "Healing Phase Abs",
)
_TEXT_CHOICES = {
    "Sex (F:0, M:1)": ("F", "M"),
    "Side (Left:0, Right:1)": ("Left", "Right"),
    "Foot Aspect": ("Plantar", "Medial", "Dorsal", "Lateral"),
    "Location": ("Big Toe", "Plantar 5th metatarsal", "Heel", "2nd metatarsal"),
    "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)": ("Hallux", "toes", "middle", "Heel", "ankle"),
    "Type of Pain": ("0", "Dull", "Sharp"),
    "Type of Pain Grouped": ("NoPain", "GeneralAches", "LocalizedPain"),
    "Type of Pain2": ("0", "Dull", "Sharp"),
    "Type of Pain_Grouped2": ("NoPain", "GeneralAches", "LocalizedPain"),
    "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)": ("Serous", "Haemoserous", "Bloody", "Thick"),
    "Odor": ("NoOdor", "Unpleasant"),
    "Dressing": ("Gauze", "Betadine", "Idosorb", "0"),
    "Dressing Grouped": ("BasicDressing", "Antiseptic", "AbsorbentDressing", "NoDressing"),
}
#: Patient-level numbers: (mean, sd, low, high, decimals).
_NUMBERS = {
    "Age": (62, 11, 27, 93, 0),
    "Weight (Kg)": (95, 26, 50, 220, 1),
    "Height (cm)": (176, 9, 142, 198, 1),
    "Smoking": (0.3, 0.9, 0, 3, 0),
    "Alcohol Consumption": (0.4, 0.7, 0, 3, 0),
    "Habits Score": (0.7, 1.1, 0, 6, 0),
    "Type of Diabetes": (1.8, 0.4, 1, 2, 0),
    "Clinical Score": (3.2, 0.85, 1, 5, 0),
    "Foot Score": (0.8, 0.85, 0, 3, 0),
    "Leg Score": (1.4, 1.06, 0, 6, 0),
    "Offloading Score": (1.0, 0.5, 0, 3, 0),
    "Intact Skin Temperature (°C)": (30, 2.8, 14, 38.8, 1),
}
# (RGB of wound tissue, depth-map grey, wound temperature °C) per image class I, P, R.
# The classes differ by about one nuisance standard deviation per shot: learnable over many shots,
# not from a glance, as in the real photos.
_WOUND_RGB = np.array([[190, 70, 70], [205, 95, 100], [200, 120, 115]], dtype=float)
_WOUND_DEPTH = np.array([95.0, 115.0, 135.0])
_WOUND_TEMP = np.array([33.3, 32.6, 31.9])
_VIEWS = ("MW", "LW", "RW", "MZ")


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
    patients: int = 40,
    seed: int = 0,
    shots_per_visit: int = 3,
    image_noise: float = 0.4,
    scale: float = 0.2,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Write a complete data folder to ``out``: metadata CSV, two box CSVs and four image folders.

    ``scale`` shrinks the canvases (1280×720 depth, 1080×1440 thermal) to keep the demo fast;
    boxes are drawn in the scaled coordinates, so the layout stays exactly the study's.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: folder exists and is not empty; choose a new folder")
    if not 1 <= shots_per_visit <= len(_VIEWS):
        raise DataError(f"--shots must be between 1 and {len(_VIEWS)}")
    rng = np.random.default_rng(seed)
    if from_metadata is not None:
        metadata = read_metadata(Path(from_metadata))
        frame = pd.read_csv(from_metadata, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        labels = metadata.labels
    else:
        if patients < 2:
            raise DataError("--patients must be at least 2")
        frame, labels = _synthetic_metadata(patients, rng)
    keys = (
        metadata.frame[[PATIENT, APPT, DFU]].to_numpy()
        if from_metadata is not None
        else frame[[PATIENT, APPT, DFU]].to_numpy(dtype=int)
    )

    out.mkdir(parents=True, exist_ok=True)
    for folder in MODALITY_FOLDERS.values():
        (out / folder).mkdir()
    frame.to_csv(out / METADATA_NAME, index=False, encoding="utf-8-sig")

    image_class = np.where(rng.random(len(labels)) < image_noise, rng.integers(0, 3, len(labels)), labels)
    depth_rows, thermal_rows = [], []
    seen: set[tuple[int, int, int]] = set()
    todo = [(i, key) for i, key in enumerate(keys) if tuple(key) not in seen and not seen.add(tuple(key))]
    counter = 0
    for done, (visit, (patient, appt, dfu)) in enumerate(todo, 1):
        for view in _VIEWS[:shots_per_visit]:
            counter += 1
            base = f"P{patient:03d}{appt:02d}{dfu}B"
            depth_name, thermal_name = f"{counter}_{base}D{view}.png", f"{counter + 50000}_{base}T{view}.png"
            depth_box, thermal_box = _draw_shot(out, depth_name, thermal_name, image_class[visit], scale, rng)
            depth_rows.append([depth_name, f"{patient:03d}", f"{appt:02d}", dfu, "B", "D", view, 1, *depth_box])
            thermal_rows.append([thermal_name, patient, appt, dfu, "B", "T", view, 1, *thermal_box])
        if progress:
            progress(done, len(todo))
    box_columns = [
        "Filename",
        PATIENT,
        APPT,
        DFU,
        "DebriStat",
        "Camera",
        "Angle",
        "Bounding Box Number",
        "Xmin",
        "Ymin",
        "Xmax",
        "Ymax",
    ]
    pd.DataFrame(depth_rows, columns=box_columns).to_csv(out / BOX_FILES["D"], index=False)
    pd.DataFrame(thermal_rows, columns=box_columns).to_csv(out / BOX_FILES["T"], index=False)
    counts = np.bincount(labels, minlength=3)
    return DemoSummary(out, len(labels), len(np.unique(keys[:, 0])), counter, dict(zip(CLASSES, counts.tolist())))


def _synthetic_metadata(n_patients: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Patients with 1–6 visits whose phase tends to advance I → P → R, and ~60 noisy clinical columns."""
    rows, labels = [], []
    for patient in range(1, n_patients + 1):
        constants = {c: _number(rng, *_NUMBERS[c]) for c in _NUMBERS}
        constants.update({c: rng.choice(v) for c, v in _TEXT_CHOICES.items()})
        start = rng.choice(3, p=[0.45, 0.45, 0.10])
        for appt in range(int(rng.integers(1, 7))):
            label = int(np.clip(start + (appt >= 2) * rng.choice([0, 1], p=[0.6, 0.4]) + (appt >= 4), 0, 2))
            label = label if rng.random() > 0.15 else int(rng.integers(0, 3))
            rows.append(_visit_row(rng, patient, appt, label, constants))
            labels.append(label)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    numeric = [
        c
        for c in COLUMNS
        if c not in _TEXT_CHOICES and c not in ("ID", "Healing Phase", "Healing Phase Abs", "Appt Days")
    ]
    missing = rng.random((len(frame), len(numeric))) < 0.05
    for j, column in enumerate(numeric):
        if column not in (PATIENT, APPT, DFU):
            frame.loc[missing[:, j], column] = np.nan
    return frame, np.array(labels)


def _visit_row(rng: np.random.Generator, patient: int, appt: int, label: int, constants: dict) -> dict:
    z = label + rng.normal(0, 1.1)  # the metadata's own noisy view of the phase
    row = {c: int(rng.random() < 0.2) for c in COLUMNS}
    row.update(constants)
    row.update(
        {
            "ID": str(1000 + patient),
            PATIENT: patient,
            APPT: appt,
            DFU: 1,
            "Number of DFUs": 1,
            "Appt Days": str(appt * 14),
            "Onset (Days)": round(float(np.exp(5 + 0.4 * z + rng.normal(0, 0.8)))),
            "Wound Centre Temperature (°C)": round(31 - 0.9 * z + rng.normal(0, 1.8), 1),
            "Peri-Ulcer Temperature (°C)": round(31 - 0.5 * z + rng.normal(0, 1.8), 1),
            "Wound Centre Temperature Normalized (°C)": round(-0.03 * z + rng.normal(0, 0.06), 3),
            "Peri-Ulcer Temperature Normalized (°C)": round(rng.normal(0, 0.08), 3),
            "Pain Level": int(np.clip(round(1.2 - 0.5 * z + rng.normal(0, 1)), 0, 5)),
            "Wound Tunneling": int(np.clip(round(0.6 - 0.3 * z + rng.normal(0, 0.5)), 0, 3)),
            "Exudate Amount (None:0,Minor,Medium,Severe:3)": int(
                np.clip(round(1.5 - 0.5 * z + rng.normal(0, 0.5)), 0, 3)
            ),
            "Erythema at Peri-ulcer": int(rng.random() < 1 / (1 + np.exp(1.5 * z - 0.5))),
            "Wound Score": int(np.clip(round(1.4 - 0.6 * z + rng.normal(0, 0.6)), 0, 4)),
            "Healing Phase": CLASSES[label] + rng.choice(["", "+", "-"]),
            "Phase Confidence (%)": int(rng.integers(50, 101)),
            "Healing Phase Abs": CLASSES[label],
        }
    )
    return row


def _number(rng: np.random.Generator, mean: float, sd: float, low: float, high: float, decimals: int) -> float:
    value = float(np.clip(rng.normal(mean, sd), low, high))
    return round(value, decimals) if decimals else int(round(value))


def _draw_shot(out: Path, depth_name: str, thermal_name: str, image_class: int, scale: float, rng: np.random.Generator):
    """Draw one shot in all four modalities; returns the depth and thermal boxes."""
    tone = rng.normal(0, 15, 3)  # this shot's lighting and skin tone
    depth_size = (max(64, round(1280 * scale)), max(36, round(720 * scale)))
    thermal_size = (max(54, round(1080 * scale)), max(72, round(1440 * scale)))

    depth_box, mask = _wound_box(depth_size, rng)
    wound = _WOUND_RGB[image_class] + tone + rng.normal(0, 12, 3)
    rgb = _canvas(depth_size, np.array([205, 160, 135]) + tone, rng)
    _paint(rgb, depth_box, mask, wound, rng, 30)
    depth_map = np.full(depth_size[::-1], 200.0 + rng.normal(0, 8))
    _paint(depth_map, depth_box, mask, _WOUND_DEPTH[image_class] + rng.normal(0, 20), rng, 25)
    _save(out / MODALITY_FOLDERS["depth_rgb"] / depth_name, rgb)
    _save(out / MODALITY_FOLDERS["depth_map"] / depth_name, depth_map)

    thermal_box, mask = _wound_box(thermal_size, rng)
    temperature = np.full(thermal_size[::-1], 29.0 + rng.normal(0, 0.4))
    _paint(temperature, thermal_box, mask, _WOUND_TEMP[image_class] + rng.normal(0, 0.7), rng, 0.8)
    heat = np.clip((temperature - 26) / 10, 0, 1)
    thermal_rgb = np.stack([255 * heat, 255 * (1 - np.abs(2 * heat - 1)), 255 * (1 - heat)], axis=-1)
    _save(out / MODALITY_FOLDERS["thermal_rgb"] / thermal_name, thermal_rgb)
    _save(out / MODALITY_FOLDERS["thermal_map"] / thermal_name, 255 * heat)
    return depth_box, thermal_box


def _wound_box(size: tuple[int, int], rng: np.random.Generator):
    width, height = size
    side = int(min(width, height) * rng.uniform(0.2, 0.35))
    box_w, box_h = side, max(4, int(side * rng.uniform(0.7, 1.3)))
    x0, y0 = int(rng.integers(0, width - box_w)), int(rng.integers(0, height - box_h))
    yy, xx = np.mgrid[0:box_h, 0:box_w]
    mask = ((xx - box_w / 2) / (box_w / 2.2)) ** 2 + ((yy - box_h / 2) / (box_h / 2.2)) ** 2 <= 1
    return (x0, y0, x0 + box_w, y0 + box_h), mask


def _canvas(size: tuple[int, int], colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Smooth shading, not per-pixel noise: noise everywhere makes PNGs ~10× larger and slower to write.
    shade = np.linspace(-1, 1, size[0])[None, :, None] * rng.normal(0, 10, 3)
    return np.broadcast_to(colour, (size[1], size[0], 3)) + shade


def _paint(image: np.ndarray, box, mask: np.ndarray, value, rng: np.random.Generator, noise: float) -> None:
    x0, y0, x1, y1 = box
    region = image[y0:y1, x0:x1]
    region[mask] = value + rng.normal(0, noise, region[mask].shape)


def _save(path: Path, pixels: np.ndarray) -> None:
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, compress_level=1)
