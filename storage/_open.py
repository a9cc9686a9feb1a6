"""Storage URLs → Optuna storages, with engine settings that suit many worker processes.

- SQLite: a 60 s busy timeout, so concurrent writers wait instead of failing with "database is locked".
- PostgreSQL: ``pool_pre_ping`` (a connection killed by a server restart is replaced, not used) and
  a small pool per process (:data:`POOL_SIZE` + :data:`MAX_OVERFLOW` connections at most).
- Heartbeats (RDB storages): a worker that dies mid-trial is noticed after ``grace_period`` seconds;
  its trial is failed and handed to ``on_stale`` (the search re-queues it through its one retry path).
- Journal file: no heartbeats in Optuna; the launcher fails and retries its dead workers' trials.
- gRPC proxy (``grpc://HOST:PORT``): one ``dfu-search proxy`` holds the database connections for
  many workers. No heartbeats pass through it and it has no authentication: private networks only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import optuna

from storage._errors import StorageError
from storage._resilient import ResilientRDBStorage
from storage._urls import file_path, grpc_address, kind, redact, sqlalchemy_url

#: Connections one process keeps open to PostgreSQL, and how many more it may open under load.
POOL_SIZE = 2
MAX_OVERFLOW = 1


#: Seconds a worker waits for an unreachable database before it gives up ($DFU_SEARCH_OUTAGE_LIMIT).
DEFAULT_OUTAGE_LIMIT = 120.0


@dataclass(frozen=True)
class HeartbeatSettings:
    interval: int = 30  # seconds between a running trial's heartbeats
    #: A trial silent this long is stale: failed and retried by any worker. None: the outage limit
    #: plus three intervals, so that a live worker riding out an outage is never taken for dead
    #: (its last beat can be an interval before the outage, its next an interval after).
    grace_period: int | None = None
    #: Called with (study, trial) for each trial that went stale, after it was failed; None: failed only.
    on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None

    def grace_for(self, outage_limit: float) -> int:
        shortest = outage_limit + 2 * self.interval
        if self.grace_period is None:
            return int(outage_limit + 3 * self.interval)
        if self.grace_period <= shortest:
            raise StorageError(
                f"heartbeat grace period {self.grace_period} s must exceed the outage limit {outage_limit:.0f} s "
                f"+ 2 heartbeat intervals ({shortest:.0f} s), or live trials would be failed during an outage"
            )
        return self.grace_period


def serve_proxy(url: str, host: str, port: int) -> None:
    """Run Optuna's gRPC storage proxy in front of ``url`` until interrupted."""
    if kind(url) == "grpc":
        raise StorageError("--storage of a proxy must be the database itself, not another grpc:// proxy")
    backend = open_storage(url, heartbeat=None)
    with _experimental_on_purpose():
        optuna.storages.run_grpc_proxy_server(backend, host=host, port=port)


def open_storage(
    url: str,
    heartbeat: HeartbeatSettings | None = HeartbeatSettings(),
    outage_limit: float | None = None,
    wait_at_start: bool = False,
    create: bool = True,
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; raises :class:`StorageError` with a one-line reason if it can't.

    ``outage_limit``: seconds an RDB storage keeps retrying through a database outage (default
    ``$DFU_SEARCH_OUTAGE_LIMIT`` or 120). ``wait_at_start``: also wait that long for the first
    connection (workers); one-shot commands fail at once instead. ``create=False`` (the read-only
    commands): a SQLite or journal file that does not exist is an error, never created.
    """
    storage_kind = kind(url)
    limit = outage_limit if outage_limit is not None else _outage_limit_from_env()
    if storage_kind == "grpc":
        return _open_proxy(url, limit if wait_at_start else 5.0)
    path = file_path(url)
    if path is not None:
        if not create and not path.is_file():
            raise StorageError(
                f"no study storage at {path} (--storage {redact(url)}); create a study with dfu-search launch"
            )
        if not path.parent.is_dir():
            raise StorageError(f"--storage {redact(url)}: folder {path.parent} does not exist")
    if storage_kind == "journal":
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path))
        )
        return optuna.storages.JournalStorage(backend)
    heartbeat_kwargs = {}
    if heartbeat is not None:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_for(limit),
            "heartbeat_stale_trial_callback": heartbeat.on_stale,
        }
    with _experimental_on_purpose():  # the heartbeat arguments
        storage = ResilientRDBStorage(
            sqlalchemy_url(url),
            engine_kwargs=_engine_settings(storage_kind),
            outage_limit=limit if wait_at_start else 0,
            shown_url=redact(url),
            **heartbeat_kwargs,
        )
    storage.outage_limit = limit
    return storage


def _open_proxy(url: str, wait: float) -> optuna.storages.BaseStorage:
    host, port = grpc_address(url)
    with _experimental_on_purpose():
        proxy = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=wait)
    except ConnectionError:
        raise StorageError(f"cannot reach the storage proxy {redact(url)} within {wait:.0f} s") from None
    return proxy


@contextmanager
def _experimental_on_purpose() -> Iterator[None]:
    """Optuna marks heartbeats and the gRPC proxy experimental; dfu-search relies on them on purpose, so their
    ``ExperimentalWarning`` is silenced for these calls only (a process-wide filter would hide Optuna's
    warnings from a user's own program that opens a storage through dfu-search)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _engine_settings(storage_kind: str) -> dict:
    """SQLAlchemy engine settings: SQLite waits for its lock; PostgreSQL pools few, checked connections."""
    if storage_kind == "sqlite":
        return {"connect_args": {"timeout": 60}}
    return {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": 1800,
        # application_name shows in pg_stat_activity which process holds which connections
        "connect_args": {"connect_timeout": 10, "application_name": f"dfu-search:{os.getpid()}"},
    }


def _outage_limit_from_env() -> float:
    raw = os.environ.get("DFU_SEARCH_OUTAGE_LIMIT", str(DEFAULT_OUTAGE_LIMIT))
    try:
        limit = float(raw)
    except ValueError:
        raise StorageError(f"DFU_SEARCH_OUTAGE_LIMIT={raw!r} is not a number of seconds") from None
    if limit < 0:
        raise StorageError(f"DFU_SEARCH_OUTAGE_LIMIT={raw!r} must be 0 or more seconds")
    return limit
