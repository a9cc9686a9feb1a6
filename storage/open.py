"""Storage URLs → Optuna storages, with engine settings that suit many worker processes.

- SQLite: a 60 s busy timeout, so concurrent writers wait instead of failing with "database is locked".
- PostgreSQL: ``pool_pre_ping`` (a connection killed by a server restart is replaced, not used) and
  a small pool per process (:data:`POOL_SIZE` + :data:`MAX_OVERFLOW` connections at most).
- Heartbeats (RDB storages): a worker that dies mid-trial is noticed after ``grace_period`` seconds;
  its trial is failed and re-queued with the same parameters, at most ``max_retry`` times.
- Journal file: no heartbeats in Optuna; the launcher fails and retries its dead workers' trials.
- gRPC proxy (``grpc://HOST:PORT``): one ``dfu-search proxy`` holds the database connections for
  many workers. No heartbeats pass through it and it has no authentication: private networks only.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import optuna

from storage.errors import StorageError
from storage.resilient import ResilientRDBStorage
from storage.urls import grpc_address, journal_path, kind, redact, sqlalchemy_url, sqlite_path

# Heartbeats and their retry callback are marked experimental in Optuna 5; we rely on them on purpose.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

#: Connections one process keeps open to PostgreSQL, and how many more it may open under load.
POOL_SIZE = 2
MAX_OVERFLOW = 1


#: Seconds a worker waits for an unreachable database before it gives up ($DFU_SEARCH_OUTAGE_LIMIT).
DEFAULT_OUTAGE_LIMIT = 120.0


@dataclass(frozen=True)
class HeartbeatSettings:
    interval: int = 30  # seconds between a running trial's heartbeats
    grace_period: int = 120  # a trial silent this long is stale: failed and retried
    max_retry: int = 3


def serve_proxy(url: str, host: str, port: int) -> None:
    """Run Optuna's gRPC storage proxy in front of ``url`` until interrupted."""
    if kind(url) == "grpc":
        raise StorageError("--storage of a proxy must be the database itself, not another grpc:// proxy")
    optuna.storages.run_grpc_proxy_server(open_storage(url, heartbeat=None), host=host, port=port)


def open_storage(
    url: str,
    heartbeat: HeartbeatSettings | None = HeartbeatSettings(),
    outage_limit: float | None = None,
    wait_at_start: bool = False,
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; raises :class:`StorageError` with a one-line reason if it can't.

    ``outage_limit``: seconds an RDB storage keeps retrying through a database outage (default
    ``$DFU_SEARCH_OUTAGE_LIMIT`` or 120). ``wait_at_start``: also wait that long for the first
    connection (workers); one-shot commands fail at once instead.
    """
    storage_kind = kind(url)
    if storage_kind == "grpc":
        host, port = grpc_address(url)
        return optuna.storages.GrpcStorageProxy(host=host, port=port)
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
            # application_name shows in pg_stat_activity which process holds which connections
            "connect_args": {"connect_timeout": 10, "application_name": f"dfu-search:{os.getpid()}"},
        }
    heartbeat_kwargs = {}
    if heartbeat is not None:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=heartbeat.max_retry
            ),
        }
    if outage_limit is None:
        outage_limit = float(os.environ.get("DFU_SEARCH_OUTAGE_LIMIT", DEFAULT_OUTAGE_LIMIT))
    storage = ResilientRDBStorage(
        sqlalchemy_url(url),
        engine_kwargs=engine_kwargs,
        outage_limit=outage_limit if wait_at_start else 0,
        shown_url=redact(url),
        **heartbeat_kwargs,
    )
    storage.outage_limit = outage_limit
    return storage
