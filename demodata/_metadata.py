"""Synthetic clinical metadata shaped like the real CSV: its columns, types, gaps, label shares and signal.

Patients have 1–17 visits (≈ 3.3 on average, as in the real data). Each visit has a **phase**, a
latent that grows with the patient's own healing tendency and with time; the label is the phase cut
at the real label shares (I 31 %, P 56 %, R 13 %). A dozen wound-related columns are noisy views of
the phase — ``metadata_signal`` scales how much — and the rest are patient constants or visit
noise, as most real columns are. Each column has the real CSV's share of missing values. At the
calibrated :data:`METADATA_SIGNAL` a RandomForest scores QWK ≈ 0.4 on 5 patient-grouped folds,
like the real metadata's 0.38–0.39 (docs/design.md, reference figures).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from trainer.schema import APPT, CLASSES, DFU, METADATA_COLUMNS, PATIENT

#: Real label shares I, P, R (docs/design.md, the data): the label is the phase cut at these quantiles.
LABEL_SHARES = (0.31, 0.56, 0.13)
#: Calibrated strength of the phase in the wound-related columns (README "Demo data").
METADATA_SIGNAL = 0.4
# Share of empty cells per column in the real CSV (rounded); columns not named here are never empty.
_MISSING = {
    "Weight (Kg)": 0.03, "Height (cm)": 0.03, "Type of Diabetes": 0.03, "Sensory Peripheral": 0.02,
    "Clinical Score": 0.06, "Onset (Days)": 0.04, "No Toes Deformities": 0.04, "Bunion": 0.04, "Claw": 0.04,
    "Hammer": 0.04, "Charcot Arthropathy": 0.05, "Flat (Pes Planus) Arch": 0.05, "Abnormally High Arch": 0.05,
    "No Arch Deformities": 0.05, "Foot Score": 0.06, "Wound Centre Temperature (°C)": 0.05,
    "Peri-Ulcer Temperature (°C)": 0.05, "Intact Skin Temperature (°C)": 0.05,
    "Wound Centre Temperature Normalized (°C)": 0.05, "Peri-Ulcer Temperature Normalized (°C)": 0.05,
    "Pain Level": 0.01, "Type of Pain": 0.01, "Type of Pain Grouped": 0.01, "Type of Pain2": 0.8,
    "Type of Pain_Grouped2": 0.8, "Wound Tunneling": 0.02, "Exudate Amount (None:0,Minor,Medium,Severe:3)": 0.03,
    "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)": 0.22, "Odor": 0.02,
    "No Peri-ulcer Conditions (False:0, True:1)": 0.02, "Erythema at Peri-ulcer": 0.02, "Edema at Peri-ulcer": 0.02,
    "Pale Colour at Peri-ulcer": 0.02, "Maceration at Peri-ulcer": 0.02, "Wound Score": 0.02, "Dressing": 0.02,
    "Dressing Grouped": 0.02, "No Foot Abnormalities": 0.02, "Foot Hair Loss": 0.02, "Foot Dry Skin": 0.02,
    "Foot Fissure Cracks": 0.02, "Foot Callus": 0.02, "Thickened Toenail": 0.02, "Foot Fungal Nails": 0.02,
    "Leg Score": 0.02, "No Offloading": 0.01, "Offloading: Therapeutic Footwear": 0.01,
    "Offloading: Scotcast Boot or RCW": 0.01, "Offloading: Half Shoes or Sandals": 0.01,
    "Offloading: Total Contact Cast": 0.01, "Offloading: Crutches, Walkers or Wheelchairs": 0.01,
    "Offloading Score": 0.01, "Phase Confidence (%)": 0.03,
}  # fmt: skip
COLUMNS = METADATA_COLUMNS  # the real CSV's, in its order
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


def synthetic_metadata(
    n_patients: int, rng: np.random.Generator, signal: float = METADATA_SIGNAL, fixed_world: bool = False
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The metadata frame (the real CSV's columns), the labels 0/1/2 and each visit's standardised phase.

    ``fixed_world``: standardise the phase and cut the labels by the world's constants (:func:`world_constants`)
    rather than this sample's, so that folders drawn with different seeds are independent patients of one world;
    by default each folder is standardised on itself and its label shares are exactly :data:`LABEL_SHARES`."""
    patient, appt, phase = _patients_and_phases(n_patients, rng)
    if fixed_world:
        mean, sd, cuts = world_constants()
        phase = (phase - mean) / sd
    else:
        phase = (phase - phase.mean()) / phase.std()
        cuts = np.quantile(phase, np.cumsum(LABEL_SHARES)[:-1])
    labels = np.searchsorted(cuts, phase)

    rows = []
    constants: dict = {}
    for i, (p, a) in enumerate(zip(patient, appt)):
        if a == 0:
            constants = {c: _number(rng, *_NUMBERS[c]) for c in _NUMBERS}
            constants.update({c: rng.choice(v) for c, v in _TEXT_CHOICES.items()})
            constants.update(
                {c: int(rng.random() < 0.2) for c in COLUMNS if c not in _NUMBERS and c not in _TEXT_CHOICES}
            )
            constants["ID"] = str(1000 + p)
        rows.append(_visit_row(rng, int(p), int(a), int(labels[i]), signal * phase[i], constants))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column, share in _MISSING.items():
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
    return frame, labels, phase


def _patients_and_phases(n_patients: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patients with 1–17 visits each, and each visit's latent phase (unstandardised)."""
    visits = np.minimum(rng.geometric(0.3, n_patients), 17)  # ≥ 1, mean ≈ 3.3 as in the real data
    patient = np.repeat(np.arange(1, n_patients + 1), visits)
    appt = np.concatenate([np.arange(v) for v in visits])
    tendency = rng.normal(0, 0.8, n_patients)
    return patient, appt, tendency[patient - 1] + 0.12 * appt + rng.normal(0, 0.6, len(patient))


@functools.cache
def world_constants() -> tuple[float, float, np.ndarray]:
    """The world's phase mean and standard deviation over visits, and the standardised phases that cut it into
    :data:`LABEL_SHARES`: from 200,000 patients drawn once with a fixed seed (≈ 660,000 visits; the constants
    move by < 0.005 between such draws)."""
    _, _, phase = _patients_and_phases(200_000, np.random.default_rng(20261207))
    mean, sd = float(phase.mean()), float(phase.std())
    return mean, sd, np.quantile((phase - mean) / sd, np.cumsum(LABEL_SHARES)[:-1])


def _visit_row(rng: np.random.Generator, patient: int, appt: int, label: int, signal: float, constants: dict) -> dict:
    """One visit: the patient's constants, and wound columns that see ``signal`` (phase × strength) through noise."""

    def seen() -> float:  # each column gets its own noisy view of the phase
        return signal + rng.normal(0, 1)

    row = dict(constants)
    row.update(
        {
            PATIENT: patient,
            APPT: appt,
            DFU: 1,
            "Number of DFUs": 1,
            "Appt Days": appt * 14 + int(rng.integers(0, 5)),
            "Onset (Days)": round(float(np.exp(5.2 + 0.35 * seen() + rng.normal(0, 0.7)))),
            "Wound Centre Temperature (°C)": round(31 - 0.8 * seen() + rng.normal(0, 1.5), 1),
            "Peri-Ulcer Temperature (°C)": round(31 - 0.5 * seen() + rng.normal(0, 1.5), 1),
            "Wound Centre Temperature Normalized (°C)": round(-0.03 - 0.02 * seen(), 5),
            "Peri-Ulcer Temperature Normalized (°C)": round(rng.normal(0, 0.02), 5),
            "Pain Level": float(np.clip(round(1.0 - 0.5 * seen()), 0, 5)),
            "Wound Tunneling": float(np.clip(round(0.4 - 0.4 * seen()), 0, 3)),
            "Exudate Amount (None:0,Minor,Medium,Severe:3)": float(np.clip(round(1.0 - 0.5 * seen()), 0, 2)),
            "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)": _TEXT_CHOICES[
                "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)"
            ][int(np.clip(round(1.2 - 0.7 * seen()), 0, 3))],
            "Odor": "Unpleasant" if seen() < -1.3 else "NoOdor",
            "Erythema at Peri-ulcer": float(seen() < -0.8),
            "Edema at Peri-ulcer": float(seen() < -1.0),
            "Wound Score": float(np.clip(round(1.3 - 0.6 * seen()), 0, 4)),
            "Healing Phase": CLASSES[label] + rng.choice(["", "+", "-"]),
            "Phase Confidence (%)": float(rng.integers(10, 21) * 5),
            "Healing Phase Abs": CLASSES[label],
        }
    )
    return row


def _number(rng: np.random.Generator, mean: float, sd: float, low: float, high: float, decimals: int) -> float:
    value = float(np.clip(rng.normal(mean, sd), low, high))
    return round(value, decimals) if decimals else int(round(value))
