"""``dfu-search launch``: check everything, then create or resume a study and supervise local workers.

Nothing is written before every check has passed: the settings, the space, the presets to enqueue,
the data (each image opened), the GPU ids and the worker count. A bad value is one ``error:`` line
and leaves no study, no storage file, no folder behind. Resuming a study with settings that differ
from the stored ones is refused, naming each difference: a study's trials must be comparable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import optuna

from search.pruners import PRUNERS
from search.samplers import SAMPLERS
from search.study import (
    SearchSpace,
    StudyRequest,
    StudySettings,
    create_study,
    find_study,
    finished_trials,
    new_study_settings,
    resume_study,
)
from search.workers._devices import capacity, detect_gpus, parse_gpus
from storage import StorageError, file_path, open_storage, redact
from trainer import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerRequest:
    """The local workers ``launch`` asks for."""

    count: int = 1
    gpus: str | None = None  # --gpus; None: inherited CUDA_VISIBLE_DEVICES, else nvidia-smi
    workers_per_gpu: int = 1
    oversubscribe: bool = False  # more workers than GPUs/cores: only when asked for


@dataclass(frozen=True)
class Plan:
    study: optuna.Study
    settings: StudySettings
    message: str  # what happened to the study (created, resumed, budget)
    gpus: list[str]
    workers: int
    notes: list[str] = field(default_factory=list)  # what the user should know before the workers start


def prepare_launch(request: StudyRequest, workers: WorkerRequest, storage_url: str) -> Plan:
    """Validate the whole request, then create or resume the study; returns what to run."""
    gpus, count = check_workers(workers)
    _check_names(request)
    storage = _open_if_present(storage_url)
    existing = find_study(storage, request.name)
    if existing is not None:
        stored = StudySettings.load(existing)
        before = (stored.trials, finished_trials(existing))
        study, settings = existing, resume_study(request, existing, stored)
    else:
        before = None
        settings = new_study_settings(request, where=f" on {redact(storage_url)}")  # every check; nothing written
        study = create_study(request, settings, storage or open_storage(storage_url))
    message = _budget_message(request.name, before, settings.trials)
    return Plan(study, settings, message, gpus, count, _sharing_notes(settings.search_space))


def _sharing_notes(space: SearchSpace) -> list[str]:
    """Searched knobs that pre-training reads, drawn from a range: each trial then pre-trains afresh."""
    from trainer.stages import PRETRAIN_FIELDS

    ranged = [k.name for k in space.knobs if k.name in PRETRAIN_FIELDS and k.choices is None]
    if not ranged:
        return []
    return [
        f"note: {', '.join(ranged)} {'is' if len(ranged) == 1 else 'are'} sampled from a range, so no two trials "
        "share a pre-training; give the knob a few values (choices = [...] in the space file) to share them"
    ]


def check_workers(workers: WorkerRequest) -> tuple[list[str], int]:
    if workers.count < 0:
        raise ConfigError(f"--workers must be 0 or more, got {workers.count}")
    if workers.workers_per_gpu < 1:
        raise ConfigError(f"--workers-per-gpu must be at least 1, got {workers.workers_per_gpu}")
    gpus = parse_gpus(workers.gpus) if workers.gpus is not None else detect_gpus()
    most, why = capacity(gpus, workers.workers_per_gpu)
    count = workers.count
    if count > most and not workers.oversubscribe:
        log.warning("--workers %d: this machine holds %d (%s); starting %d (--oversubscribe to start more)",
                    count, most, why, most)  # fmt: skip
        count = most
    return gpus, count


def _check_names(request: StudyRequest) -> None:
    if request.trials is not None and request.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {request.trials}")
    if request.pruner is not None and request.pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {request.pruner!r}")
    if request.sampler is not None and request.sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {request.sampler!r}")


def _open_if_present(url: str) -> optuna.storages.BaseStorage | None:
    """The storage if it already exists; None for a SQLite or journal file not created yet (nothing is created)."""
    path = file_path(url)
    if path is not None and not path.is_file():
        if not path.parent.is_dir():
            raise StorageError(f"--storage {redact(url)}: folder {path.parent} does not exist")
        return None
    return open_storage(url)


def _budget_message(name: str, before: tuple[int, int] | None, budget: int) -> str:
    if before is None:
        return f"created study {name!r}: budget {budget} finished trials"
    old, finished = before
    if budget > old:
        change = f"budget raised from {old} to {budget}"
    elif budget < old:
        change = f"budget lowered from {old} to {budget}"
    else:
        change = f"budget {budget}"
    return f"resumed study {name!r} ({finished} finished): {change} finished trials"


__all__ = ["Plan", "WorkerRequest", "check_workers", "prepare_launch"]
