"""The launch settings of a study, kept in its user attributes so any worker can join by name alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna

from search.study._space import SearchSpace
from storage import StorageError, rdb_backend
from trainer.config import TrainConfig, apply

SETTINGS_ATTR = "dfu_search"
SETTINGS_VERSION = 1


@dataclass(frozen=True)
class StudySettings:
    data: str  # where the launcher read the data; workers elsewhere pass --data
    fingerprint: dict
    base_config: dict  # TrainConfig fields: preset + config file + --set + --folds/--seed
    space: dict
    trials: int  # budget of finished (complete + pruned) trials, shared by all workers
    pruner: str = "ours"  # a study's own: a later default (search.pruners._names.DEFAULT_PRUNER) changes no study
    sampler: str = "tpe"
    rules: dict = field(default_factory=dict)  # DegeneracyRules.as_dict(); missing keys take the defaults
    seed: int = 0
    artifacts: str | None = None  # artifact folder chosen at launch (absolute); None: beside the storage file
    version: int = SETTINGS_VERSION

    @property
    def config(self) -> TrainConfig:
        return apply(TrainConfig(), self.base_config, "study settings")

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def save(self, study: optuna.Study) -> None:
        study.set_user_attr(SETTINGS_ATTR, asdict(self))

    def data_difference(self, data: Path, cache_dir: Path | None) -> str | None:
        """How ``data`` differs from the study's data (its fingerprint), or None when it is the same data: what a
        resume and a joining worker check before they train on it."""
        from trainer.data import describe_difference, fingerprint_like

        found = fingerprint_like(self.fingerprint, data, cache_dir)
        return None if found == self.fingerprint else describe_difference(self.fingerprint, found)

    @classmethod
    def load(cls, study: optuna.Study) -> StudySettings:
        data = study.user_attrs.get(SETTINGS_ATTR)
        if data is None:
            raise StorageError(
                f"study {study.study_name!r} was not created by dfu-search launch (no {SETTINGS_ATTR!r} attribute)"
            )
        if data.get("version", SETTINGS_VERSION) > SETTINGS_VERSION:
            raise StorageError(
                f"study {study.study_name!r} was created by a newer dfu-search (settings version {data['version']}, "
                f"this one reads {SETTINGS_VERSION}); upgrade dfu-search to join it"
            )
        return cls(**data)


def load_study(name: str, storage: optuna.storages.BaseStorage, **kwargs) -> optuna.Study:
    """``optuna.load_study`` with a one-line error naming the study and the studies that do exist."""
    try:
        return optuna.load_study(study_name=name, storage=storage, **kwargs)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = f"studies here: {', '.join(names)}" if names else "no studies here yet"
        raise StorageError(f"no study named {name!r} ({known}); create it with dfu-search launch") from None


def finished_trials(study: optuna.Study) -> int:
    """Complete + pruned trials: what the shared budget counts (a ``count(*)`` on PostgreSQL and SQLite)."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    backend = rdb_backend(study._storage)
    if backend is not None:
        return backend.count_trials(study._study_id, states)
    return len(study.get_trials(deepcopy=False, states=states))
