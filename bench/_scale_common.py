"""What the load benchmarks share (bench/scale.py and its study-size part): the recorded curves the simulated
workers replay, and the tests' PostgreSQL server (initdb + pg_ctl, run as postgres)."""

from __future__ import annotations

import sys

from _common import REPO

sys.path.insert(0, str(REPO / "tests"))
from _postgres import PostgresServer  # noqa: E402

CURVES = REPO / "bench" / "results" / "pruning-v2-curves-seed0.json.gz"


def postgres_server(max_connections: int) -> PostgresServer:
    return PostgresServer.start(max_connections=max_connections)


__all__ = ["CURVES", "PostgresServer", "postgres_server"]
