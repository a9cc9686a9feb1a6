"""Creating or resuming a study: settings into its attributes, presets enqueued once, dead workers' trials retried."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from search.pruners import DEFAULT_PRUNER, DegeneracyRules
from search.study._settings import StudySettings, finished_trials
from search.study._space import load_space
from storage import StorageError
from trainer import ConfigError, DataError
from trainer.config import LAYOUT_KEYS, TrainConfig, apply, load_config, parse_assignment, read_toml
from trainer.data import data_fingerprint

log = logging.getLogger(__name__)
ENQUEUED_ATTR = "dfu_search_enqueued"


@dataclass(frozen=True)
class StudyRequest:
    """What ``dfu-search launch`` asks for. Fields left None take the defaults on creation and the
    stored values on resume (where anything else is refused, see :func:`check_resume`)."""

    name: str
    data: Path | None = None
    trials: int | None = None  # create: the budget (default 20); resume: this many more from now
    folds: int | None = None
    seed: int | None = None
    preset: str | None = None
    config: Path | None = None
    sets: list[str] = field(default_factory=list)
    space: Path | None = None
    enqueue: list[str] = field(default_factory=list)
    pruner: str | None = None
    sampler: str | None = None
    rules: DegeneracyRules | None = None
    artifacts: Path | None = None  # the artifact folder, resolved; kept in the settings when the study is created
    cache_dir: Path | None = None  # where this host keeps the images' digests for the data fingerprint (None: default)


DEFAULT_TRIALS = 20


def create_or_resume(request: StudyRequest, storage: optuna.storages.BaseStorage) -> tuple[optuna.Study, StudySettings]:
    """Create the study with its settings, or resume it: ``request.trials`` more finished trials from now
    (the budget becomes finished + trials), or the stored budget when None. Everything is checked before anything
    is written (:func:`new_study_settings`, :func:`resume_study`); ``launch`` also checks its workers first."""
    study = find_study(storage, request.name)
    if study is not None:
        return study, resume_study(request, study, StudySettings.load(study))
    settings = new_study_settings(request)
    return create_study(request, settings, storage), settings


def find_study(storage: optuna.storages.BaseStorage | None, name: str) -> optuna.Study | None:
    """Study ``name`` on ``storage``; None when there is no storage yet or no such study."""
    if storage is None or name not in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def new_study_settings(request: StudyRequest, where: str = "") -> StudySettings:
    """Every check a new study needs — its config, the space and its pinned values, each preset to enqueue, the data
    (each image opened) — then the data's fingerprint: the settings to create it with. Writes nothing; ``where``
    names the storage in the error when there is no data to create it from."""
    if request.data is None:
        raise StorageError(f"no study named {request.name!r}{where} yet; pass --data to create it")
    from trainer import check_data

    base = request_config(request, None)
    space = load_space(request.space)
    config = apply(base, space.fixed, "--space")  # pinned values checked now, not in every trial
    space.check(config, f"--space {request.space}" if request.space else "search space")
    check_data(request.data, config)
    draft = StudySettings(data="", fingerprint={}, base_config=base.as_dict(), space=space.to_dict(), trials=1)
    for preset in request.enqueue:
        preset_trial(draft, preset)
    return StudySettings(
        data=str(Path(request.data).resolve()),
        fingerprint=data_fingerprint(request.data, request.cache_dir),
        base_config=base.as_dict(),
        space=space.to_dict(),
        trials=request.trials or DEFAULT_TRIALS,
        pruner=request.pruner or DEFAULT_PRUNER,
        sampler=request.sampler or "tpe",
        rules=(request.rules or DegeneracyRules()).as_dict(),
        seed=base.seed,
        artifacts=str(request.artifacts) if request.artifacts else None,
    )


def create_study(request: StudyRequest, settings: StudySettings, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """The new study, its settings in its attributes and the request's presets enqueued (settings from
    :func:`new_study_settings`)."""
    study = optuna.create_study(study_name=request.name, storage=storage, direction="maximize")
    settings.save(study)
    for preset in request.enqueue:
        enqueue_preset(study, settings, preset)
    return study


def resume_study(request: StudyRequest, study: optuna.Study, settings: StudySettings) -> StudySettings:
    """Check the request against the study's stored ``settings`` and data, then apply its budget and artifact folder
    and enqueue its presets; returns the settings now stored."""
    check_resume(request, settings)
    difference = settings.data_difference(request.data, request.cache_dir) if request.data is not None else None
    if difference is not None:
        raise DataError(f"--data {request.data} differs from study {request.name!r}'s data ({difference})")
    changes = {}
    if request.trials is not None:
        changes["trials"] = finished_trials(study) + request.trials
    if request.artifacts is not None:
        changes["artifacts"] = str(request.artifacts)
    settings = StudySettings(**{**settings.__dict__, **changes})
    settings.save(study)
    for preset in request.enqueue:
        enqueue_preset(study, settings, preset)
    return settings


def check_resume(request: StudyRequest, stored: StudySettings) -> None:
    """Refuse to resume with settings that differ from the study's, naming each difference."""
    differences = []
    asked = request_config(request, stored.base_config).as_dict()
    for key, value in stored.base_config.items():
        if asked.get(key) != value:
            differences.append(f"{key} {_shown(value)} → {_shown(asked.get(key))}")
    if request.space is not None and load_space(request.space).to_dict() != stored.space:
        differences.append(f"--space {request.space} differs from the stored search space")
    for name, value, was in (("pruner", request.pruner, stored.pruner), ("sampler", request.sampler, stored.sampler)):
        if value is not None and value != was:
            differences.append(f"--{name} {was} → {value}")
    if request.rules is not None and request.rules.enabled != stored.rules.get("enabled", True):
        differences.append("degeneracy rules on → off (--no-rules)")
    if differences:
        raise ConfigError(
            f"study {request.name!r} exists with other settings ({'; '.join(differences)}); "
            "resume it without them, or launch a new --study"
        )
    for preset in request.enqueue:
        preset_trial(stored, preset)


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def request_config(request: StudyRequest, stored: dict | None):
    """The base config a request asks for: rebuilt from ``--preset``/``--config`` when given, else the stored
    one (or the defaults) with ``--set``, ``--folds`` and ``--seed`` applied."""
    if request.preset is not None or request.config is not None or stored is None:
        base = load_config(request.preset, request.config, request.sets)
    else:
        base = apply(load_config(), stored, "study settings")
        base = apply(base, dict(parse_assignment(s) for s in request.sets), "--set")
    changes = {"seed": request.seed} if request.seed is not None else {}
    if request.folds is not None:
        changes["folds"] = request.folds
    return apply(base, changes, "command line")


def enqueue_preset(study: optuna.Study, settings: StudySettings, preset: str) -> bool:
    """Queue a trial with a preset's (or TOML file's) settings, once per study. Returns False if already queued.

    The trial runs exactly ``study base config + preset``: every searched knob is pinned to that value
    (an empty ``default.toml`` pins the defaults), not sampled. A preset may not change the step
    layout (epochs, folds, seed, modalities, image size): steps must mean the same in every trial.
    """
    done = list(study.user_attrs.get(ENQUEUED_ATTR, []))
    if preset in done:
        return False
    config, pinned_values, label = preset_trial(settings, preset)
    space = settings.search_space
    params, pinned = {}, {}
    for key, value in pinned_values.items():
        knob = space.knob(key)
        (params if knob is not None and knob.contains(value) else pinned)[key] = value
    study.enqueue_trial(params, user_attrs={"enqueued": preset, "overrides": pinned})
    study.set_user_attr(ENQUEUED_ATTR, [*done, preset])
    log.info("enqueued %s", label)
    return True


def preset_trial(settings: StudySettings, preset: str) -> tuple[TrainConfig, dict, str]:
    """The config an enqueued preset runs, and the values to pin: the preset's keys and every searched knob."""
    table, label = read_toml(preset)
    base = apply(settings.config, settings.search_space.fixed, "--space")
    config = apply(base, table, label)
    for key in LAYOUT_KEYS:
        if key in table and getattr(config, key) != getattr(base, key):
            raise ConfigError(
                f"{label}: {key} = {table[key]!r} differs from the study's {getattr(base, key)!r}; an enqueued "
                "trial must keep the step layout (epochs, folds, seed, modalities, image size) of its study"
            )
    keys = [*table, *settings.search_space.names]
    values = {key: getattr(config, key) for key in dict.fromkeys(keys)}
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return config, values, label
