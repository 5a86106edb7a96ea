"""The CLI processes the tests start, how they are checked, and the database they leave.

Every process started is remembered, so that a failing test leaves none running.
"""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PROCESS_TIMEOUT_S = 120.0
HANDSHAKE_TIMEOUT_S = 60.0

STARTED: list[subprocess.Popen[Any]] = []
"""Processes a test started; `track` them so a failing test leaves none running."""


def track(proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
    """Remember a started process, to be killed if the test ends while it still runs."""
    STARTED.append(proc)
    return proc


def read_line(fd: int, proc: subprocess.Popen[Any], timeout: float) -> str:
    """The first line `proc` writes to the FIFO whose read end is `fd`; no sleeping.

    Raises `TimeoutError` (after killing `proc`) when no line comes within `timeout`
    seconds, and `ChildProcessError` when `proc` exits first.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise TimeoutError(f"no ready line in {timeout}s")
        readable, _, _ = select.select([fd], [], [], min(left, 1.0))
        if readable:
            data += os.read(fd, 4096)
        elif proc.poll() is not None:
            raise ChildProcessError("exited before its crash point")
    return data.decode()


def run_cli(
    db: str | Path,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    under: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """One `langgraph-hitl --db DB ...` process, run to its end (DB: a SQLite file or a
    `postgresql://` URL).

    Args:
        cwd: Where it runs; default the SQLite file's folder, or the repository root.
        env: Settings on top of this environment without any of its own `LANGGRAPH_HITL_*`
            or `E2E_*` (`cli_env`).
        under: A command to run it under, e.g. `faketime -f -2d`.
    """
    return subprocess.run(
        [*under, sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=cwd or (db.parent if isinstance(db, Path) else REPO),
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit `code`, one `error: ...` line on stderr, no traceback, nothing on stdout."""
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any `LANGGRAPH_HITL_*` or `E2E_*` setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGGRAPH_HITL_", "E2E_"))}
    env.update(extra or {})
    return env


def start_cli(
    db: str | Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start one `langgraph-hitl --db DB ...` process from the repository root, tracked
    (DB: a SQLite file or a `postgresql://` URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=REPO,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    track(proc)
    return proc


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait for a started process to end; its exit code and output. Killed if it runs over."""
    try:
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} ran over {PROCESS_TIMEOUT_S}s\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class Fifos:
    """The crash-point handshake of the test graphs (`fault_pay.py`, `gated_pay.py`).

    A process started with `env(point)` writes one line to the ready FIFO when it
    reaches `point` (`E2E_BLOCK_AT`), then blocks reading the block FIFO until `release`.
    A test's own hook (a notify command) may take the two FIFOs alone: `env()`.
    """

    def __init__(self, ready: Path, block: Path) -> None:
        self.ready, self.block = ready, block
        os.mkfifo(ready)
        os.mkfifo(block)
        # Read-write: opening never blocks, and the read end exists before the child opens
        # the write end; reads block (under select) until the child writes its line.
        self.fd = os.open(ready, os.O_RDWR)

    def env(self, point: str | None = None) -> dict[str, str]:
        """The settings that make a process stop at `point`."""
        env = {"E2E_READY_FIFO": str(self.ready), "E2E_BLOCK_FIFO": str(self.block)}
        if point is not None:
            env["E2E_BLOCK_AT"] = point
        return env

    def wait_ready(self, proc: subprocess.Popen[str]) -> str:
        """The line `proc` writes when it reaches its point (a bounded wait, no sleeping)."""
        try:
            return read_line(self.fd, proc, HANDSHAKE_TIMEOUT_S)
        except (TimeoutError, ChildProcessError) as error:
            raise AssertionError(f"{error}\n{finish(proc)}") from None

    def release(self) -> None:
        """Let the process carry on from its point (it holds the block FIFO open)."""
        fd = os.open(self.block, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"go\n")
        finally:
            os.close(fd)

    def close(self) -> None:
        os.close(self.fd)


def query(db: str | Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the database (a SQLite file, which must exist, or a PostgreSQL
    URL: the SQL in the ledger's dialect), read directly."""
    if str(db).startswith("postgresql://"):
        from langgraph_hitl.ledger import connect

        with closing(connect(str(db))) as pg:
            return [tuple(row) for row in pg.execute(sql, params).fetchall()]
    assert Path(db).is_file(), db
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def records(db: str | Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of `sql` as dicts by column name (see `query`)."""
    if str(db).startswith("postgresql://"):
        from langgraph_hitl.ledger import connect

        with closing(connect(str(db))) as pg:
            cursor = pg.execute(sql, params)
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert Path(db).is_file(), db
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        cursor = conn.execute(sql, params)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def execute(db: str | Path, sql: str, *params: Any) -> int:
    """Run one statement on the database behind the package's back (a test's fault or
    repair: see `query`), committed; the rows it changed."""
    if str(db).startswith("postgresql://"):
        from langgraph_hitl.ledger import connect

        with closing(connect(str(db))) as pg:  # autocommit
            return int(pg.execute(sql, params).rowcount)
    assert Path(db).is_file(), db
    with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
        return conn.execute(sql, params).rowcount


def table_rows(db: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by table, in a stable order (one connection): what
    "changed nothing" compares, on either backend."""
    if str(db).startswith("postgresql://"):
        from langgraph_hitl.ledger import connect

        tables = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " ORDER BY table_name"
        )
        with closing(connect(str(db))) as pg:
            names = [name for (name,) in pg.execute(tables).fetchall()]
            return {
                name: sorted(
                    (tuple(row) for row in pg.execute(f'SELECT * FROM "{name}"').fetchall()),
                    key=repr,
                )
                for name in names
            }
    assert Path(db).is_file(), db
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
            for name in names
        }
