"""The on-disk cache shared by runs, trials and worker processes.

Entries are directories that appear atomically: a builder writes into a private temporary
directory and renames it into place, so a reader sees either nothing or a complete entry, and a
builder that raises on bad input leaves nothing behind (one killed mid-way leaves its private
folder, which the next builder of that entry removes). A lock file makes a second builder wait
for the first instead of doing the same work twice; the kernel releases it with a dead builder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def default_cache_dir() -> Path:
    """``$DFU_SEARCH_CACHE``, else ``$XDG_CACHE_HOME/dfu-search``, else ``~/.cache/dfu-search``."""
    if os.environ.get("DFU_SEARCH_CACHE"):
        return Path(os.environ["DFU_SEARCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dfu-search"


def lock_file(target: Path) -> Path:
    """The lock file beside ``target`` that :func:`held_lock` takes."""
    return target.with_name(target.name + ".lock")


@contextmanager
def held_lock(target: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``target`` (its :func:`lock_file`): other processes that want it wait; the kernel
    releases it with a process that dies holding it. Opening the lock file can raise ``OSError`` (a read-only
    folder)."""
    with open(lock_file(target), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def atomic_directory(target: Path, build: Callable[[Path], None]) -> Iterator[Path]:
    """Yield ``target``, building it with ``build(tmp_dir)`` first if it does not exist yet."""
    target = Path(target)
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        with held_lock(target):
            if not target.is_dir():  # another process may have built it while we waited
                for stale in target.parent.glob(f".{target.name}.*"):  # a builder killed mid-way left it
                    shutil.rmtree(stale, ignore_errors=True)
                tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
                try:
                    build(tmp)
                    os.rename(tmp, target)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
    yield target


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a private file renamed into place: a reader sees the old file or the new
    one, never half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    os.replace(partial, path)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (an image, a weights file, a CSV)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
