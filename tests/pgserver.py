"""A real PostgreSQL server for the cluster tests, started from the system's binaries.

One server per test session (``initdb`` into a temporary folder, ``postgres`` on a free
port of 127.0.0.1 with trust authentication); every test gets a database of its own
(:meth:`PgServer.new_database`). Running as root, the server runs as ``nobody`` (PostgreSQL
refuses to run as root). A machine without PostgreSQL fails the tests with a message that
says what to install — never a skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

START_TIMEOUT = 60.0  # seconds for initdb + start on a busy 2-core machine
_numbers = itertools.count(1)


def pg_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``: PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, postgres) not found: install the 'postgresql' "
        "package (apt-get install -y postgresql), as .ci/run does"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """``with PgServer() as pg: pg.new_database()`` gives a ``postgresql://`` URL."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="pingcrawl-pg-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "nobody", "--", *argv]

    def start(self) -> PgServer:
        os.chmod(self.root, 0o777)  # the server user writes its data and socket here
        data = self.root / "data"
        initdb = [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        subprocess.run(self._as_server_user(initdb), check=True, capture_output=True)
        server = [str(self.bindir / "postgres"), "-D", str(data), "-k", str(self.root)]
        server += ["-p", str(self.port), "-h", "127.0.0.1", "-c", "fsync=off"]
        server += ["-c", "max_connections=200", "-c", "full_page_writes=off"]
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 (kept open with the server)
        self.process = subprocess.Popen(self._as_server_user(server), stdout=log, stderr=log)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process is not None and self.process.poll() is not None:
                    log = (self.root / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling for readiness, not waiting a fixed time

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(_numbers)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # pg_ctl as the server's user: a signal to runuser would not reach postgres.
            stop = [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.root / "data")]
            stop += ["-m", "immediate", "-w"]
            subprocess.run(self._as_server_user(stop), capture_output=True, timeout=30)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL for the whole test session."""
    with PgServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database of the session's server."""
    return pg_server.new_database()
