"""The on-disk cache shared by runs, trials and worker processes.

Entries are directories that appear atomically: a builder writes into a private temporary
directory and renames it into place, so a reader sees either nothing or a complete entry, and a
builder that raises on bad input leaves nothing behind (one killed mid-way leaves its private
folder, which the next builder of that entry removes). A lock file makes a second builder wait
for the first instead of doing the same work twice; the kernel releases it with a dead builder.
"""

from __future__ import annotations

import fcntl
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


@contextmanager
def atomic_directory(target: Path, build: Callable[[Path], None]) -> Iterator[Path]:
    """Yield ``target``, building it with ``build(tmp_dir)`` first if it does not exist yet."""
    target = Path(target)
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
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
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    yield target
