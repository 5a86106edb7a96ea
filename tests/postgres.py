"""A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package.

`PostgresServer.start()` runs `initdb` into a temporary folder and `pg_ctl start` on a
free port on 127.0.0.1 (and a socket in that folder), with trust authentication for
local connections only; `stop()` stops it and removes the folder. PostgreSQL refuses
to run as root, and CI runs as root: then both run as the system user `hitl-pg`, which
`make test` creates. When the binaries or that user are missing, `unavailable()` says
why, and the tests that need a server skip with that reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_USER = "hitl-pg"


def _binaries() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: Debian's newest, else the PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def unavailable() -> str | None:
    """Why no server can be started here, or None when one can."""
    if _binaries() is None:
        return "PostgreSQL's binaries are not installed (make test installs Debian's postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no user {PG_USER} (make test adds it)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One server, started once per test session."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hitl-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.bin = _binaries()

    @property
    def dsn(self) -> str:
        """The superuser's connection string (database `postgres`)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database on this server: its connection string."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn_for(name)

    def _run(self, *argv: str) -> None:
        assert self.bin is not None
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            os.chmod(self.folder, 0o700)
            shutil.chown(self.folder, PG_USER, PG_USER)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
            " -c fsync=off -c max_connections=200",
            "-w",
            "start",
        )
        return self

    def restart(self) -> None:
        """`pg_ctl restart`: every connection is cut; the data stays. (The server's output
        goes to the log, never to our pipes: a server holding them would hang the run.)"""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-m", "fast",
            "-w", "restart",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A copy of the database at `url` (PostgreSQL's byte copy: `CREATE DATABASE ...
    TEMPLATE`, which refuses while anyone is connected to it), dropped afterwards."""
    import psycopg

    from langgraph_hitl.ledger.store.postgres import close_pools

    close_pools(url)  # what this process's desks keep open to the source
    base, source = url.rsplit("/", 1)
    name = f"c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
