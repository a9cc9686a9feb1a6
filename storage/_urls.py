"""Where studies live: ``--storage URL``, else ``$DFU_SEARCH_STORAGE``, else a SQLite file here.

Supported: ``sqlite:///PATH`` (one machine), ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (many
machines; psycopg 3), ``journal:///PATH`` (an append-only file, for shared file systems) and
``grpc://HOST:PORT`` (a ``dfu-search proxy`` in front of one of those, for hundreds of workers).
Passwords are never printed: use :func:`redact` on any URL that reaches output or logs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from storage._errors import StorageError

ENV_VAR = "DFU_SEARCH_STORAGE"
DEFAULT_URL = "sqlite:///dfu-search.db"
_SCHEMES = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DB, journal:///PATH or grpc://HOST:PORT"


def resolve_url(url: str | None = None) -> str:
    """The storage URL in force: the argument, else the environment variable, else the default."""
    chosen = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    kind(chosen)  # validates
    return chosen


def kind(url: str) -> str:
    """``"sqlite"``, ``"postgresql"``, ``"journal"`` or ``"grpc"``; a :class:`StorageError` for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "grpc":
        try:
            grpc_address(url)
        except ValueError:
            raise StorageError(f"--storage {redact(url)!r}: a proxy URL is grpc://HOST:PORT") from None
        return "grpc"
    if scheme == "journal":
        if not journal_path(url).name:
            raise StorageError(
                f"--storage {redact(url)!r}: a journal URL names a file, e.g. journal:///srv/studies/dfu.log"
            )
        return "journal"
    if scheme.startswith("sqlite") or scheme.startswith("postgresql") or scheme == "postgres":
        from sqlalchemy.engine import make_url  # here, not at import: `import storage` stays light
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError(f"--storage {redact(url)!r}: not a valid database URL; use {_SCHEMES}") from None
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise StorageError(
                    f"--storage {redact(url)!r}: a SQLite URL names a file (sqlite:///dfu-search.db); in-memory studies cannot be shared"
                )
            return "sqlite"
        if not parsed.database:
            raise StorageError(f"--storage {redact(url)!r}: name the database, e.g. postgresql://dfu@db-host:5432/dfu")
        return "postgresql"
    raise StorageError(f"--storage {redact(url)!r}: unsupported scheme {scheme or '(none)'!r}; use {_SCHEMES}")


def sqlalchemy_url(url: str) -> str:
    """PostgreSQL URLs use the psycopg 3 driver whatever the user wrote (``postgres://`` included)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def grpc_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname or parts.port is None:
        raise ValueError(url)
    return parts.hostname, parts.port


def journal_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path((parts.netloc + parts.path) if parts.netloc else parts.path)


def sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database)


def file_path(url: str) -> Path | None:
    """The file a SQLite or journal URL names (``~`` expanded, absolute); None for a database server or proxy."""
    storage_kind = kind(url)
    if storage_kind not in ("sqlite", "journal"):
        return None
    path = sqlite_path(url) if storage_kind == "sqlite" else journal_path(url)
    return path.expanduser().resolve()


def redact(url: str) -> str:
    """The URL with every password replaced by ``***``: ``user:PASS@host`` and ``?password=PASS`` alike."""
    shown = _USERINFO_PASSWORD.sub(r"\1***@", url)
    return _QUERY_PASSWORD.sub(r"\1***", shown)


# user:password@ in the authority (the password may hold any character but "@" and "/")
_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)[^@/]*@")
# libpq's password= (and the like) in a query string, any case
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&#]*", re.IGNORECASE)
