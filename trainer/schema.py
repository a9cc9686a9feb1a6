"""Names and roles of the DFU study's columns, files and classes (docs/design.md, the data).

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
#: The DFU metadata CSV's columns, in its order. Features are taken in this order whatever the file's order,
#: and columns outside it are ignored: the same data gives the same model (see Metadata.feature_columns).
METADATA_COLUMNS = (
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
