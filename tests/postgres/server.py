"""A throwaway PostgreSQL for the tests: Debian's server binaries, one cluster per test session.

initdb + pg_ctl in a private temp dir, listening on a Unix socket there and on no TCP port. The
server refuses to run as root, so as root it runs as the ``postgres`` user (``runuser``). One
server serves the whole session (``shared()``); each test gets a fresh database (``pg_url``).
It is stopped at the end of the session, also when tests fail (atexit).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin with a server, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why no test PostgreSQL can run here, or None."""
    if pg_bindir() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'fleet[postgres]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser not found (needed to run PostgreSQL as the postgres user)"
    return None


@dataclass
class PgServer:
    bindir: Path
    root: Path  # data/, the socket and the log live here

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run(self, "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(server: PgServer, tool: str, *args: str, check: bool = True) -> None:
    cmd = [*_as_postgres(), str(server.bindir / tool), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        log = server.root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n{tail}")


def start_server(*, fsync: bool = False) -> PgServer:
    """initdb and start a cluster on a Unix socket in a new temp dir (no TCP). Tests run without
    fsync (a killed client, not a crashed server, is what they test); benchmarks with it."""
    bindir = pg_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="fleet-pg-", dir="/tmp"))  # short: socket paths max 107
    server = PgServer(bindir, root)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        _run(server, "initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N")
        opts = f"-k {root} -c listen_addresses='' -c fsync={'on' if fsync else 'off'} -c max_connections=200"
        _run(
            server,
            "pg_ctl",
            "-D",
            str(server.data),
            "-l",
            str(root / "server.log"),
            "-o",
            opts,
            "-w",
            "start",
        )
    except BaseException:
        server.stop()
        raise
    return server


_shared: PgServer | None = None
_names = itertools.count(1)


def shared() -> PgServer:
    """The session's server, started on first use and stopped when the interpreter exits."""
    global _shared
    if _shared is None:
        _shared = start_server()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    reason = unavailable()
    if reason:
        pytest.skip(f"no PostgreSQL for the tests: {reason}")
    return shared()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    yield pg_server.create_database(f"t{os.getpid()}_{next(_names)}")
