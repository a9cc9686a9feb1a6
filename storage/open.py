"""Storage URLs → Optuna storages, with engine settings that suit many worker processes.

- SQLite: a 60 s busy timeout, so concurrent writers wait instead of failing with "database is locked".
- PostgreSQL: ``pool_pre_ping`` (a connection killed by a server restart is replaced, not used) and
  a small pool per process (:data:`POOL_SIZE` + :data:`MAX_OVERFLOW` connections at most).
- Heartbeats (RDB storages): a worker that dies mid-trial is noticed after ``grace_period`` seconds;
  its trial is failed and re-queued with the same parameters, at most ``max_retry`` times.
- Journal file: no heartbeats in Optuna; the launcher fails and retries its dead workers' trials.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna
from sqlalchemy.exc import OperationalError

from storage.errors import StorageError
from storage.urls import journal_path, kind, redact, sqlalchemy_url, sqlite_path

# Heartbeats and their retry callback are marked experimental in Optuna 5; we rely on them on purpose.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

#: Connections one process keeps open to PostgreSQL, and how many more it may open under load.
POOL_SIZE = 2
MAX_OVERFLOW = 1


@dataclass(frozen=True)
class HeartbeatSettings:
    interval: int = 30  # seconds between a running trial's heartbeats
    grace_period: int = 120  # a trial silent this long is stale: failed and retried
    max_retry: int = 3


def open_storage(url: str, heartbeat: HeartbeatSettings | None = HeartbeatSettings()) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; raises :class:`StorageError` with a one-line reason if it can't."""
    storage_kind = kind(url)
    if storage_kind == "journal":
        path = journal_path(url)
        if not path.parent.is_dir():
            raise StorageError(f"--storage {url}: folder {path.parent} does not exist")
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path))
        )
        return optuna.storages.JournalStorage(backend)

    if storage_kind == "sqlite":
        folder = sqlite_path(url).expanduser().resolve().parent
        if not folder.is_dir():
            raise StorageError(f"--storage {url}: folder {folder} does not exist")
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {
            "pool_pre_ping": True,
            "pool_size": POOL_SIZE,
            "max_overflow": MAX_OVERFLOW,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 10},
        }
    heartbeat_kwargs = {}
    if heartbeat is not None:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry),
        }
    try:
        return optuna.storages.RDBStorage(sqlalchemy_url(url), engine_kwargs=engine_kwargs, **heartbeat_kwargs)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise StorageError(f"cannot reach the study storage {redact(url)} ({redact(reason)})") from None
