"""Recorded learning curves: every trial of an unpruned study, whole, as ``dfu-search replay`` reads them."""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import optuna

from search.study import CURVE_COLUMNS
from trainer import UserError
from trainer.config import StepLayout

CURVES_VERSION = 1


@dataclass(frozen=True)
class RecordedTrial:
    number: int
    value: float
    fold_qwks: list[float]
    curve: list[list]  # rows as search.study._curves.CURVE_COLUMNS
    params: dict
    #: The settings its pre-training read (trainer.stages.PRETRAIN_FIELDS), from its config: trials with
    #: equal ones share a stored pre-training. None (recorded before the store): its sampled parameters.
    pretrain: dict | None = None

    @property
    def epochs(self) -> int:
        return len(self.curve)

    @cached_property  # read for every trial of every ordering of a replay
    def pretrain_identity(self) -> str:
        """What makes two trials' pre-trainings the same (per fold), as a comparable string."""
        settings = self.pretrain if self.pretrain is not None else _pretrain_settings(self.params)
        return json.dumps(settings, sort_keys=True, default=str)


def _pretrain_settings(values: dict) -> dict:
    """The entries of a config (or of sampled parameters) that pre-training reads."""
    from trainer.stages import PRETRAIN_FIELDS

    return {k: v for k, v in values.items() if k in PRETRAIN_FIELDS}


@dataclass(frozen=True)
class Recording:
    study: str
    epochs: list[int]  # configured maximum epochs per stage: the step layout
    folds: int
    trials: list[RecordedTrial]

    @property
    def layout(self) -> StepLayout:
        return StepLayout(tuple(self.epochs))

    def save(self, path: Path) -> None:
        """A compact gzip JSON file that :func:`load_recording` reads back."""
        document = {"version": CURVES_VERSION, "columns": list(CURVE_COLUMNS), **asdict(self)}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as handle:
            json.dump(document, handle, separators=(",", ":"))


def record_from_study(study: optuna.Study) -> Recording:
    """The whole curves of a study's complete trials; refuses a study whose trials were pruned."""
    from search.study import StudySettings

    settings = StudySettings.load(study)
    trials = study.get_trials(deepcopy=False)
    pruned = [t.number for t in trials if t.state.name == "PRUNED"]
    if pruned:
        raise UserError(
            f"study {study.study_name!r} has {len(pruned)} pruned trials (their curves are cut short); replay needs "
            "a study launched with --pruner none --no-rules"
        )
    recorded = [
        RecordedTrial(t.number, float(t.value), [float(f["qwk"]) for f in t.user_attrs["folds"]],
                      t.user_attrs["curve"], dict(t.params), _pretrain_settings(t.user_attrs.get("config", {})) or None)
        for t in trials
        if t.state.name == "COMPLETE" and t.user_attrs.get("curve") and t.user_attrs.get("folds")
    ]  # fmt: skip
    config = settings.config
    return Recording(study.study_name, list(config.layout.epochs), config.folds, recorded)


def load_recording(path: Path) -> Recording:
    try:
        with gzip.open(path, "rt") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"--curves {path}: no such file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"--curves {path}: not a curves file written by dfu-search replay ({exc})") from None
    if document.get("version") != CURVES_VERSION:
        raise UserError(f"--curves {path}: unknown version {document.get('version')!r}")
    trials = [RecordedTrial(**t) for t in document["trials"]]
    return Recording(document["study"], document["epochs"], document["folds"], trials)
