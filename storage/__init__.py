"""Storage URLs → Optuna storages: SQLite by default, PostgreSQL for many machines, a journal file.

Knows nothing of Keras. Imports Optuna and SQLAlchemy only when a storage is opened.
"""

from storage.errors import StorageError
from storage.urls import DEFAULT_URL, ENV_VAR, kind, redact, resolve_url

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "HeartbeatSettings",
    "StorageError",
    "kind",
    "open_storage",
    "redact",
    "resolve_url",
]


def __getattr__(name: str):
    if name in ("open_storage", "HeartbeatSettings"):
        from storage import open as _open

        return getattr(_open, name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
