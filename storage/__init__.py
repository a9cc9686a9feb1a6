"""Storage URLs → Optuna storages: SQLite by default, PostgreSQL for many machines, a journal file.

Knows nothing of Keras. Names load on first use (PEP 562): importing ``storage`` imports neither Optuna nor
SQLAlchemy, which only opening a storage does.
"""

import importlib as _importlib

_EXPORTS = {
    "StorageError": "storage._errors",
    "HeartbeatSettings": "storage._open",
    "MAX_OVERFLOW": "storage._open",
    "POOL_SIZE": "storage._open",
    "open_storage": "storage._open",
    "serve_proxy": "storage._open",
    "ResilientRDBStorage": "storage._resilient",
    "rdb_backend": "storage._resilient",
    "cached_trials": "storage._trial_reads",
    "read_trials": "storage._trial_reads",
    "DEFAULT_URL": "storage._urls",
    "ENV_VAR": "storage._urls",
    "file_path": "storage._urls",
    "kind": "storage._urls",
    "redact": "storage._urls",
    "resolve_url": "storage._urls",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(_importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
