"""A fingerprint of a data set, so a study refuses workers that would train on different data.

The fingerprint is a content digest of everything training reads: the metadata CSV, the box CSVs, and every
image of the four modality folders (each file's SHA-256 under its folder and name, so two visits' pictures
swapped, or one replaced by another of the same size, change it).

Hashing the real layout's ~11,500 images (14 GB) takes a while (15 s here, bench/fingerprint.py), so each host keeps the digests it computed
in the cache folder (``fingerprints/``), each with the file's size, modification and change times and inode:
a later join re-hashes only files whose ``stat`` changed, and reads the rest from there. Writing a file, or
renaming one over another, changes its inode or change time (which no tool can set back), so a kept digest is
only used for the file it was computed from. Workers that start together wait for the first to hash (a lock),
then read its digests. A cache folder that cannot be written is a warning and a full hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trainer._files import file_sha256, held_lock, write_atomically
from trainer.errors import DataError
from trainer.schema import BOX_FILES, MODALITY_FOLDERS

log = logging.getLogger(__name__)

FOLDER = "fingerprints"
#: Threads that hash images at once (hashlib releases the GIL on large buffers; a GPU host has many cores).
HASH_THREADS = min(8, os.cpu_count() or 1)


def data_fingerprint(source: Path, cache_dir: Path | None = None) -> dict:
    """SHA-256 digests of the CSVs and of the images' contents (with their count), as a study stores it.

    ``cache_dir``: where this host keeps the image digests it computed (None: the default cache folder)."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_file():
        return {"metadata_sha256": file_sha256(source)}
    images = _image_files(source)
    return {**_csv_digests(source), "images": len(images), "images_sha256": _images_digest(source, images, cache_dir)}


def fingerprint_like(expected: dict, source: Path, cache_dir: Path | None = None) -> dict:
    """The fingerprint of ``source`` in the form ``expected`` has: a study created before the images' content
    digest (its fingerprint counts the images and sums their sizes) is compared in its own, weaker terms."""
    if "image_bytes" not in expected or "images_sha256" in expected:
        return data_fingerprint(source, cache_dir)
    log.warning("this study's data fingerprint predates image content digests: images compared by count and size")
    source = Path(source)
    images = _image_files(source)
    size = sum((source / relative).stat().st_size for relative in images)
    return {**_csv_digests(source), "images": len(images), "image_bytes": size}


def describe_difference(expected: dict, actual: dict) -> str:
    keys = [k for k in expected if expected.get(k) != actual.get(k)] + [k for k in actual if k not in expected]
    return ", ".join(f"{k} {actual.get(k)!r:.20} here vs {expected.get(k)!r:.20} in the study" for k in keys)


def _csv_digests(source: Path) -> dict[str, str]:
    from trainer.data._dataset import _find_metadata_csv

    digests = {"metadata_sha256": file_sha256(_find_metadata_csv(source))}
    for name in BOX_FILES.values():
        if (source / name).is_file():
            digests[name] = file_sha256(source / name)
    return digests


def _image_files(source: Path) -> list[str]:
    """Every file of the modality folders, as ``folder/name``, sorted."""
    found = []
    for folder in sorted(MODALITY_FOLDERS.values()):
        if (source / folder).is_dir():
            found += [f"{folder}/{entry.name}" for entry in os.scandir(source / folder) if entry.is_file()]
    return sorted(found)


def _images_digest(source: Path, images: list[str], cache_dir: Path | None) -> str:
    """One digest over every image's name and content digest (content digests kept per host, see above)."""
    if cache_dir is None:
        from trainer._files import default_cache_dir

        cache_dir = default_cache_dir()
    kept_path = _kept_digests_path(Path(cache_dir), source)
    with contextlib.ExitStack() as held:
        try:
            kept_path.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(held_lock(kept_path))  # workers starting together: the first hashes, the others read
        except OSError as exc:
            log.warning("cannot keep image digests in %s (%s): hashing every image", kept_path.parent, exc)
            return _combine(images, _digests(source, images, {}))
        digests = _digests(source, images, _read_kept(kept_path))
        try:
            write_atomically(kept_path, json.dumps(digests))
        except OSError as exc:
            log.warning("cannot keep image digests in %s (%s)", kept_path, exc)
    return _combine(images, digests)


def _digests(source: Path, images: list[str], kept: dict[str, list]) -> dict[str, list]:
    """``folder/name`` → [size, mtime_ns, ctime_ns, inode, device, sha256]: kept entries whose stat still matches,
    the others hashed now."""
    current, stale = {}, []
    for relative in images:
        stat = os.stat(source / relative)
        signature = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]
        entry = kept.get(relative)
        if entry is not None and entry[:-1] == signature:
            current[relative] = entry
        else:
            current[relative] = signature
            stale.append(relative)
    if stale:
        started = time.perf_counter()
        total = sum(current[relative][0] for relative in stale)
        log.info("hashing %d of %d images (%.1f GB) for the data fingerprint", len(stale), len(images), total / 1e9)
        with ThreadPoolExecutor(HASH_THREADS) as pool:
            for relative, digest in zip(stale, pool.map(lambda r: file_sha256(source / r), stale)):
                current[relative] = [*current[relative], digest]
        log.info("hashed %d images in %.1f s", len(stale), time.perf_counter() - started)
    return current


def _combine(images: list[str], digests: dict[str, list]) -> str:
    combined = hashlib.sha256()
    for relative in images:
        combined.update(f"{relative}\0{digests[relative][-1]}\n".encode())
    return combined.hexdigest()


def _kept_digests_path(cache_dir: Path, source: Path) -> Path:
    """One file per host and data folder: another host's copy of the data has other inodes and times."""
    place = f"{socket.gethostname()}:{source.resolve()}"
    return cache_dir / FOLDER / f"{hashlib.sha256(place.encode()).hexdigest()[:24]}.json"


def _read_kept(path: Path) -> dict[str, list]:
    try:
        kept = json.loads(path.read_text())
        return kept if isinstance(kept, dict) else {}
    except (OSError, ValueError):  # none yet, or damaged: hash again
        return {}
