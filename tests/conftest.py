"""Shared fixtures: the real DFU metadata (read from ../shared/data, never copied) and small demo folders."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DFU_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_CSV = SHARED_DATA / "DataMaster_Processed_V12_WithMissing.csv"
# What a test leaves to the default cache folder (the data fingerprint's image digests, a worker without
# --cache-dir) goes to a folder of this test process, never the user's ~/.cache/dfu-search.
os.environ["DFU_SEARCH_CACHE"] = tempfile.mkdtemp(prefix="dfu-test-cache-")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (EfficientNet, long studies)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The tests that read the finished preset study (~2.5 min to train) run first: under pytest-xdist one
    # process trains it while the other starts on the rest, instead of waiting for it halfway through.
    items.sort(key=lambda item: "preset_study" not in getattr(item, "fixturenames", ()))
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A session folder that the pytest-xdist workers of one run share (``make test`` runs two): the first to
    ask builds it, the others wait for it and reuse it — the preprocessing cache's own atomic, locked build
    (:func:`trainer._files.atomic_directory`). Without xdist, a plain session folder.

    (``--dist loadgroup`` would keep a fixture's users in one process instead, but it stopped grouping with
    pytest 9.2: pytest-xdist issue #1386.)"""
    from trainer._files import atomic_directory

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's folder; each worker's basetemp is inside it
    with atomic_directory(root / name, build) as folder:
        return folder


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        pytest.fail(f"real DFU metadata not found at {REAL_CSV} (set DFU_SHARED_DATA)")
    return REAL_CSV


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data folder (30 patients, 2 shots a visit), shared by the session; treat as read-only."""
    from demodata import write_demo_data

    folder = tmp_path_factory.mktemp("demo") / "data"
    write_demo_data(folder, patients=30, seed=0, shots_per_visit=2)
    return folder


@pytest.fixture
def demo_copy(demo_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the demo folder that a test may damage."""
    target = tmp_path / "data"
    shutil.copytree(demo_folder, target)
    return target


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (see tests/_postgres.py)."""
    from _postgres import PostgresServer

    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def training_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo folder big enough for the networks to learn something in a few epochs (~280 visits)."""
    from demodata import write_demo_data

    def build(root: Path) -> None:
        write_demo_data(root / "data", patients=80, seed=1, shots_per_visit=2)

    return _built_once(tmp_path_factory, "training", build) / "data"


@dataclass(frozen=True)
class FinishedStudy:
    name: str
    url: str
    data: Path
    folder: Path  # the launch's working directory: the SQLite file and its artifact folder are here
    cache: Path


@pytest.fixture(scope="session")
def preset_study(training_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> FinishedStudy:
    """A finished SQLite study run by real workers: the default and degenerate presets enqueued, nothing else
    (quick preset, 32 px, 3 folds). Shared by the study, query and dashboard tests; treat as read-only."""
    from _cli import run_cli

    def build(folder: Path) -> None:
        # The quick preset as a user runs it. (At 24 px the default recipe's images learn nothing on this small
        # folder either, and a rule rightly ends it: the contrast between the presets needs 32 px.)
        result = run_cli("launch", "--study", "presets", "--storage", f"sqlite:///{folder / 'dfu-search.db'}",
                         "--data", training_folder, "--workers", "1", "--trials", "2", "--folds", "3",
                         "--preset", "quick", "--enqueue", "degenerate", "--enqueue", "default",
                         "--cache-dir", folder / "cache", "--log-dir", folder / "logs", cwd=folder)  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    folder = _built_once(tmp_path_factory, "preset-study", build)
    return FinishedStudy("presets", f"sqlite:///{folder / 'dfu-search.db'}", training_folder, folder, folder / "cache")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One preprocessing cache for the study tests: entries are keyed by content and safe to share (see
    trainer/_files.py), so each test does not rebuild the same images and RandomForests."""
    return tmp_path_factory.mktemp("shared-cache")
