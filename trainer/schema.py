"""Names and roles of the DFU study's columns, files and classes (DESIGN §2).

Columns are found by name, never by position. Everything that is not a key, the label, a label
leak or free text is a candidate feature.
"""

from __future__ import annotations

import re

LABEL = "Healing Phase Abs"
CLASSES = ("I", "P", "R")  # ordinal: inflammatory < proliferative < remodeling
N_CLASSES = len(CLASSES)
LABEL_CODES = {name: code for code, name in enumerate(CLASSES)}

PATIENT, APPT, DFU = "Patient#", "Appt#", "DFU#"
KEYS = ("ID", PATIENT, APPT, DFU)
#: These encode the label itself (``Healing Phase`` is ``I+``/``P-``/...); a model that sees them cheats.
LABEL_LEAKS = ("Healing Phase", "Phase Confidence (%)")
FREE_TEXT = ("Location", "Appt Days", "Type of Pain", "Type of Pain2", "Type of Pain_Grouped2", "Dressing")
NEVER_FEATURES = frozenset((LABEL, *KEYS, *LABEL_LEAKS, *FREE_TEXT))
REQUIRED_COLUMNS = (LABEL, PATIENT, APPT, DFU)

METADATA = "metadata"
IMAGE_MODALITIES = ("depth_rgb", "depth_map", "thermal_rgb", "thermal_map")
MODALITIES = (METADATA, *IMAGE_MODALITIES)
#: Folder of each image modality in the study's layout.
MODALITY_FOLDERS = {
    "depth_rgb": "Depth_RGB",
    "depth_map": "Depth_Map_IMG",
    "thermal_rgb": "Thermal_RGB",
    "thermal_map": "Thermal_Map_IMG",
}
#: Which bounding-box CSV (camera) gives the box of each modality; map images share their RGB shot's box.
MODALITY_CAMERA = {"depth_rgb": "D", "depth_map": "D", "thermal_rgb": "T", "thermal_map": "T"}
BOX_FILES = {"D": "bounding_box_depth.csv", "T": "bounding_box_thermal.csv"}
BOX_COLUMNS = ("Filename", PATIENT, APPT, DFU, "Xmin", "Ymin", "Xmax", "Ymax")

#: ``{n}_P{patient:03d}{appt:02d}{dfu:1d}{B|A}{D|T}{R|M|L}{Z|W}.png``; ``{n}`` differs between modalities.
IMAGE_NAME = re.compile(r"^(?P<n>\d+)_(?P<shot>P\d{3}\d{2}\d[BA])(?P<camera>[DT])(?P<view>[RML][ZW])\.png$")


def shot_key(filename: str) -> str | None:
    """The camera-independent name of a shot: ``P003011B?LW`` for both ``280_P003011BDLW.png`` and its thermal twin."""
    match = IMAGE_NAME.match(filename)
    if match is None:
        return None
    return f"{match['shot']}?{match['view']}"


def image_suffix(filename: str) -> str:
    """The part after the first ``_``, which is what matches a file across modality folders."""
    return filename.split("_", 1)[1] if "_" in filename else filename
