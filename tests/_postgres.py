"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on loopback.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user
(``runuser``). ``make test`` installs Debian's ``postgresql`` when ``pg_ctl`` is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "s3cret-pw"


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    bin: Path
    data: Path
    port: int
    max_connections: int = 200

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, check=check, timeout=120)

    @classmethod
    def start(cls, max_connections: int = 200) -> PostgresServer:
        binary = pg_bin()
        if binary is None:
            raise RuntimeError("PostgreSQL is not installed (make test installs Debian's postgresql)")
        folder = Path(tempfile.mkdtemp(prefix="dfu-pg-"))
        os.chmod(folder, 0o755)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        server = cls(binary, folder / "db", _free_port(), max_connections)
        pwfile = folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        os.chmod(pwfile, 0o644)
        server._run(str(binary / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=scram-sha-256",
                    f"--pwfile={pwfile}", "-E", "UTF8")  # fmt: skip
        server.start_server()
        return server

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), *args)

    # The server's output goes to a log file: otherwise it inherits pg_ctl's stdout pipe, which then
    # never closes.
    def start_server(self) -> None:
        options = (f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections}")  # fmt: skip
        self.pg_ctl("start", "-w", "-l", str(self.data.parent / "server.log"), "-o", options)

    def restart_server(self) -> None:
        self.pg_ctl("restart", "-m", "fast", "-w", "-l", str(self.data.parent / "server.log"))

    def stop_server(self) -> None:
        self.pg_ctl("stop", "-m", "fast", "-w")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.data.parent, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def query(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            return conn.execute(sql).fetchall()
