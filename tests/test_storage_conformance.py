"""Optuna's storage conformance suite against the storage dfu-search opens, as Optuna checks third-party storages.

``optuna.testing.pytest_storages.StorageTestCase`` (shipped with Optuna) runs against :func:`storage.open_storage`
on SQLite, on the tests' PostgreSQL and through the gRPC proxy in front of it. Each test gets an empty storage:
a new SQLite file, a new PostgreSQL database copied from a template that holds Optuna's schema already
(``CREATE DATABASE … TEMPLATE``: much faster than creating the schema 59 times), a new proxy server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.testing.pytest_storages import StorageTestCase

from storage import open_storage, rdb_backend

_templates: dict[int, str] = {}  # PostgreSQL server port → the template database's name


def _postgres_database(postgres) -> str:
    """A new, empty dfu-search database on the tests' PostgreSQL server; returns its URL."""
    import psycopg

    template = _templates.get(postgres.port)
    if template is None:
        template = f"conformance_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {template}")
        made = open_storage(postgres.url(template), heartbeat=None)  # Optuna's schema and ours
        rdb_backend(made).engine.dispose()  # a template must have no connections
        _templates[postgres.port] = template
    name = f"c_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return postgres.url(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql", "grpc-proxy"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[optuna.storages.BaseStorage]:
    if request.param == "postgresql":
        url = _postgres_database(request.getfixturevalue("postgres"))
    else:
        url = f"sqlite:///{tmp_path / 'conformance.db'}"
    opened = open_storage(url, heartbeat=None)
    if request.param != "grpc-proxy":
        yield opened
        rdb_backend(opened).engine.dispose()
        return
    port = _free_port()
    server = optuna.storages._grpc.server.make_server(opened, "127.0.0.1", port)
    thread = threading.Thread(target=server.start)
    thread.start()
    proxy = open_storage(f"grpc://127.0.0.1:{port}")
    try:
        yield proxy
    finally:
        proxy.close()
        server.stop(5).wait()
        thread.join()
        rdb_backend(opened).engine.dispose()


class TestOpenStorage(StorageTestCase):
    """Every test of Optuna's suite, on each storage kind of the ``storage`` fixture."""

    @pytest.mark.parametrize("param_names", [["a", "b"], ["b", "a"]])
    def test_get_all_trials_params_order(self, storage: optuna.storages.BaseStorage, param_names: list[str]) -> None:
        # Optuna's own run of this suite skips it for the proxy in the same words (tests/storages_tests): the
        # proxy sends params as a protobuf map, which keeps no order (measured: stock RDBStorage behind it gives
        # one order for both). The suite itself says the order is not required of a storage.
        if isinstance(storage, optuna.storages.GrpcStorageProxy):
            pytest.skip("GrpcStorageProxy does not preserve the order of parameters (Optuna skips it too).")
        super().test_get_all_trials_params_order(storage, param_names)


_USER_PROGRAM = """
import optuna
from storage import open_storage

open_storage("sqlite:///{db}")  # with heartbeats: an experimental argument, used by dfu-search on purpose
optuna.pruners.PatientPruner(None, patience=1)  # the user's own experimental call: Optuna warns
"""


def test_opening_a_storage_leaves_a_programs_own_optuna_warnings_alone(tmp_path: Path) -> None:
    """A user's program that opens a storage through dfu-search still sees Optuna's warnings for its own calls,
    and none for the experimental features dfu-search itself relies on (heartbeats)."""
    program = _USER_PROGRAM.format(db=tmp_path / "s.db")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "ExperimentalWarning" in line]
    assert len(warned) == 1 and "PatientPruner" in warned[0], done.stderr
