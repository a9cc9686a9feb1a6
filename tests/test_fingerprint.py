"""The data fingerprint digests the images' contents: swapped or replaced pictures are other data; later joins
on a host read the digests it kept, and a kept digest is never used for a changed file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from trainer.data import _fingerprint as fingerprint
from trainer.data import data_fingerprint, fingerprint_like


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the fingerprint hashes, in order (the real hashing still runs)."""
    seen: list[Path] = []
    real = fingerprint.file_sha256

    def counting(path: Path) -> str:
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(fingerprint, "file_sha256", counting)
    return seen


def _pictures(data: Path) -> list[Path]:
    return sorted((data / "Depth_RGB").iterdir())


def test_two_visits_pictures_swapped_are_other_data(demo_copy: Path, tmp_path: Path) -> None:
    """Same names, same count, same total size, same CSVs: only the contents moved. The fingerprint a study
    created before content digests kept (count and total size) cannot tell; this one can."""
    cache = tmp_path / "cache"
    before = data_fingerprint(demo_copy, cache)
    old_style = fingerprint_like({"image_bytes": 0}, demo_copy)
    first, second = _pictures(demo_copy)[:2]
    assert first.stat().st_size != second.stat().st_size  # two different pictures
    first.rename(demo_copy / "exchange.png")
    second.rename(first)
    (demo_copy / "exchange.png").rename(second)
    after = data_fingerprint(demo_copy, cache)
    assert after["images_sha256"] != before["images_sha256"]
    assert {k: v for k, v in after.items() if k != "images_sha256"} == {
        k: v for k, v in before.items() if k != "images_sha256"
    }
    assert fingerprint_like({"image_bytes": 0}, demo_copy) == old_style  # what the old fingerprint saw: nothing


def test_a_later_join_hashes_only_what_changed_even_behind_a_restored_mtime(
    demo_copy: Path, tmp_path: Path, hashed: list[Path]
) -> None:
    cache = tmp_path / "cache"
    first = data_fingerprint(demo_copy, cache)
    images = sum(1 for folder in demo_copy.iterdir() if folder.is_dir() for _ in folder.iterdir())
    assert len([p for p in hashed if p.suffix == ".png"]) == images == first["images"]
    hashed.clear()
    assert data_fingerprint(demo_copy, cache) == first
    assert not [p for p in hashed if p.suffix == ".png"]  # the kept digests: only the CSVs hashed again

    picture = _pictures(demo_copy)[5]
    stat = picture.stat()
    content = bytearray(picture.read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, other content ...
    picture.write_bytes(bytes(content))
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the old modification time put back
    hashed.clear()
    changed = data_fingerprint(demo_copy, cache)
    assert [p for p in hashed if p.suffix == ".png"] == [picture]  # its change time gave it away
    assert changed["images_sha256"] != first["images_sha256"]


def test_an_unwritable_cache_folder_hashes_everything_with_a_warning(
    demo_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    assert data_fingerprint(demo_copy, blocked) == data_fingerprint(demo_copy, tmp_path / "cache")
    assert "cannot keep image digests" in caplog.text


def test_a_copy_of_the_data_elsewhere_has_the_same_fingerprint(demo_copy: Path, tmp_path: Path) -> None:
    """Another host's copy (other path, inodes and times) is the same data: digests, not stat, decide."""
    copy = tmp_path / "elsewhere"
    shutil.copytree(demo_copy, copy)
    assert data_fingerprint(copy, tmp_path / "cache") == data_fingerprint(demo_copy, tmp_path / "cache")
