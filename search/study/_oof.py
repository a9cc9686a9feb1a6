"""Out-of-fold predictions kept in the study: what a complete trial predicted for every validation visit.

A complete trial stores them in its ``oof`` user attribute, a study its visits' labels and patient groups once in
``oof_visits``: with them :mod:`search.query`'s selection estimate re-runs the choice of the best trial on
bootstrap samples of patients, without training anything (BBC-CV, Tsamardinos et al., 2018).

Compact, because a study may hold thousands of trials: probabilities as 16-bit fixed point (steps of 1.5e-5, far
below any difference that moves an argmax between real classes) and folds as bytes, base64 in JSON — 8,345 bytes a
trial of 890 visits (9.4 a visit), 42 MB for a 5,000-trial study; the visits' labels and patient groups once
(5,981 bytes for 890). Patients are stored as group numbers (0, 1, …), never their IDs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

#: The trial user attribute holding its out-of-fold predictions, and the study user attribute with the visits.
OOF_TRIAL_ATTR = "oof"
OOF_STUDY_ATTR = "oof_visits"
_SCALE = 65535


@dataclass(frozen=True)
class OutOfFold:
    """One trial's out-of-fold predictions: fold and probabilities (I, P, R) per visit, in metadata order."""

    folds: np.ndarray  # int, -1 where no fold held the visit out
    probabilities: np.ndarray  # float32, (visits, 3)

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


@dataclass(frozen=True)
class StudyVisits:
    """What the selection estimate needs of the data, stored once per study: labels and patient groups."""

    labels: np.ndarray  # 0/1/2 per visit
    patients: np.ndarray  # group number per visit (0, 1, …; visits of one patient share it)


def encode_oof(n_visits: int, folds: list[tuple[int, np.ndarray, np.ndarray]]) -> dict:
    """``folds``: (fold number, visit positions, probabilities) per fold. The trial attribute's JSON value."""
    fold_of = np.full(n_visits, 255, dtype=np.uint8)
    fixed = np.zeros((n_visits, 3), dtype="<u2")
    for fold, visits, probabilities in folds:
        fold_of[visits] = fold
        fixed[visits] = np.rint(np.clip(np.asarray(probabilities, dtype=np.float64), 0, 1) * _SCALE)
    return {"visits": n_visits, "folds": _b64(fold_of), "p": _b64(fixed)}


def decode_oof(value: dict) -> OutOfFold:
    n = int(value["visits"])
    folds = np.frombuffer(base64.b64decode(value["folds"]), dtype=np.uint8).astype(int)
    fixed = np.frombuffer(base64.b64decode(value["p"]), dtype="<u2").reshape(n, 3)
    folds[folds == 255] = -1
    return OutOfFold(folds, fixed.astype(np.float32) / _SCALE)


def encode_visits(labels: np.ndarray, patients: np.ndarray) -> dict:
    """The study attribute's JSON value: labels, and patients as group numbers in order of first appearance."""
    _, first, groups = np.unique(np.asarray(patients), return_index=True, return_inverse=True)
    renumber = np.argsort(np.argsort(first))  # group numbers by first appearance, not by ID order
    return {
        "visits": len(labels),
        "labels": _b64(np.asarray(labels, dtype=np.uint8)),
        "patients": _b64(renumber[groups].astype("<u4")),
    }


def decode_visits(value: dict) -> StudyVisits:
    labels = np.frombuffer(base64.b64decode(value["labels"]), dtype=np.uint8).astype(int)
    patients = np.frombuffer(base64.b64decode(value["patients"]), dtype="<u4").astype(int)
    return StudyVisits(labels, patients)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
