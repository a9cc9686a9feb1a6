"""A worker: joins a study by name, runs trials until the study's budget of finished trials is met.

Everything it needs (data location and fingerprint, base config, space, pruner, budget) comes from
the study's user attributes, so ``dfu-search worker --study NAME --storage URL`` works from any
machine. SIGTERM, Ctrl-C and the launcher's death stop the worker at the next epoch boundary with
its trial failed and queued again (see :mod:`search.workers._stopping`), so a stopped worker never leaves a
trial RUNNING or lost.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import optuna

from search.pruners import make_pruner
from search.samplers import make_sampler
from search.study import (
    StaleTrialRetry,
    StudySettings,
    finished_trials,
    load_study,
    retry_trial,
    wait_out_silent_trials,
)
from search.visualization import open_artifact_store, resolve_artifact_dir
from search.workers._devices import parse_gpus
from search.workers._objective import Objective
from search.workers._stopping import StopRequest, WorkerStopping
from storage import HeartbeatSettings, StorageError, open_storage, redact
from trainer import ConfigError, DataError, UserError

log = logging.getLogger(__name__)

#: Trials in a row that may fail with an unexpected error before the worker gives up.
MAX_CONSECUTIVE_FAILURES = 3
EXIT_FAILURES = 3  # exit code for "gave up after repeated trial failures"


class WorkerGaveUp(Exception):
    pass


def worker_seed(study_seed: int, index: int | None) -> int:
    """A distinct, explicit sampler seed per worker: from its index, or from host and pid when it has none."""
    if index is not None:
        return study_seed * 1000 + index
    digest = hashlib.sha256(f"{study_seed}|{socket.gethostname()}|{os.getpid()}".encode()).hexdigest()
    return int(digest[:8], 16)


def use_gpu(gpu: str) -> None:
    """Pin this process to ``gpu`` and check that the Keras backend can compute on it.

    Without the check a worker whose CUDA libraries fail to load would train on the CPU, a hundred
    times slower, and say nothing; now it stops with an ``error:`` before it claims a trial.
    """
    ids = parse_gpus(gpu, option="--gpu")
    if len(ids) != 1:
        raise ConfigError(f"--gpu {gpu!r}: one GPU id per worker (start a worker for each GPU)")
    gpu = ids[0]
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before the backend loads
    import keras

    from trainer import gpu_devices

    if not gpu_devices():
        backend = keras.backend.backend()
        raise ConfigError(
            f"--gpu {gpu}: this worker sees no GPU (Keras backend {backend} found none with "
            f"CUDA_VISIBLE_DEVICES={gpu}); the backend's CUDA messages above say why. Check nvidia-smi and "
            "the CUDA libraries, or run without --gpu to train on the CPU"
        )


def run_worker(
    study_name: str,
    storage_url: str,
    *,
    gpu: str | None = None,
    data: Path | None = None,
    cache_dir: Path | None = None,
    index: int | None = None,
    artifacts: Path | None = None,
    heartbeat: HeartbeatSettings = HeartbeatSettings(on_stale=StaleTrialRetry()),
    reuse_pretraining: bool = True,
) -> int:
    """Run trials until the budget is met; returns how many trials this worker ran.

    ``reuse_pretraining``: share image pre-training with every trial, worker and study through the store
    under the cache folder (False: train every pre-training, as without the store).
    """
    if gpu is not None:
        use_gpu(gpu)
    storage = open_storage(storage_url, heartbeat, wait_at_start=True, create=False)
    settings = StudySettings.load(load_study(study_name, storage))
    data = Path(data or settings.data)
    from trainer import default_cache_dir

    cache_dir = Path(cache_dir or default_cache_dir())
    _check_same_data(study_name, settings, data, cache_dir)

    study, seed = join_study(study_name, storage, settings, index)
    artifact_dir = resolve_artifact_dir(storage_url, artifacts, settings.artifacts)
    objective = Objective(
        settings,
        data,
        cache_dir,
        gpu,
        open_artifact_store(artifact_dir),
        reuse_pretraining,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log.info("worker %s joined study %r on %s (sampler seed %d, artifacts in %s)",
             os.getpid(), study_name, redact(storage_url), seed, artifact_dir)  # fmt: skip
    return run_trials(study, objective, settings.trials)


def run_trials(study: optuna.Study, objective: Objective, budget: int, handle_signals: bool = True) -> int:
    """Run ``objective``'s trials in ``study`` until ``budget`` trials are finished; returns how many it ran.

    A stop request (SIGTERM/SIGINT when ``handle_signals``) ends the running trial at its next epoch boundary,
    failed and queued again. The load benchmark's simulated workers (threads) run this same loop."""
    stop = StopRequest(force=lambda: _requeue_running(study, objective))
    objective.stop = stop
    if handle_signals:
        stop.install()
    return _trial_loop(study, objective, budget, stop)


def join_study(
    study_name: str, storage: optuna.storages.BaseStorage, settings: StudySettings, index: int | None
) -> tuple[optuna.Study, int]:
    """The study as this worker sees it: the study's sampler with this worker's seed, and its pruner."""
    seed = worker_seed(settings.seed, index)
    sampler = make_sampler(settings.sampler, seed, settings.trials)
    return load_study(study_name, storage, sampler=sampler, pruner=make_pruner(settings.pruner, settings.config)), seed


def _check_same_data(study_name: str, settings: StudySettings, data: Path, cache_dir: Path) -> None:
    difference = settings.data_difference(data, cache_dir)
    if difference is not None:
        raise DataError(f"--data {data} is not the data of study {study_name!r} ({difference}); refusing to join")


def _trial_loop(study: optuna.Study, objective: Objective, budget: int, stop: StopRequest) -> int:
    """One trial after another until ``budget`` trials are finished; returns how many this worker ran. Leaving,
    the last worker out fails the trials whose workers went silent (:func:`~search.study._retry.wait_out_silent_trials`)."""
    ran = failures = 0
    while finished_trials(study) < budget:
        stop.check()
        last: list[optuna.trial.FrozenTrial] = []
        try:
            study.optimize(
                objective, n_trials=1, callbacks=[lambda _, trial, sink=last: sink.append(trial)], gc_after_trial=True
            )
        except WorkerStopping:
            stop.finish()
            raise
        except (UserError, StorageError):  # bad data, or the database gone past its outage limit: stop here
            raise
        except Exception as exc:  # the trial is FAIL in the study already; keep going unless it keeps happening
            failures += 1
            log.error("trial failed: %r", exc)
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise WorkerGaveUp(f"{failures} trials in a row failed; last error: {exc!r}") from exc
            continue
        ran += 1
        failures = 0
        if last:
            log.info("trial %d %s value=%s", last[0].number, last[0].state.name, last[0].value)
    wait_out_silent_trials(study, should_stop=lambda: stop.reason is not None)  # the last worker out
    return ran


def _requeue_running(study: optuna.Study, objective: Objective) -> None:
    """Fail this worker's running trial and queue it again, as the launcher does for a worker that died."""
    trial = objective.current
    if trial is None:
        return
    frozen = study._storage.get_trial(trial._trial_id)
    retry_trial(study, frozen, why=f"stopped ({objective.stop.reason})")  # it logs what it did
