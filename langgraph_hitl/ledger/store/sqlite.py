"""The ledger on SQLite: one file with WAL and a busy timeout, the embedded default.

A write transaction is `BEGIN IMMEDIATE`: one writer at a time, which is what keeps the
event chain's tail, first-decision-wins and the lease checks honest.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from langgraph_hitl.errors import DatabaseError
from langgraph_hitl.ledger.store.schema import MIGRATIONS

BUSY_TIMEOUT_S = 30.0
"""How long a connection waits for another writer before giving up."""

_SQLITE_MAGIC = b"SQLite format 3\x00"


def _foreign(path: str) -> bool:
    """A file with content that does not begin as every SQLite file does.

    SQLite itself takes a one-byte file for an empty database and writes over it.

    Only a file too short to be a database (a live one is empty or at least a 512-byte
    page) is opened here: closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's too, and another process's checkpoint can then reset
    the WAL under our connection (sqlite.org/howtocorrupt.html, 2.2). SQLite refuses
    every longer foreign file by itself.
    """
    try:
        if not 0 < os.stat(path).st_size < 512:
            return False
        with open(path, "rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError:
        return False  # missing, a directory or unreadable: sqlite3 says which
    return bool(head) and head != _SQLITE_MAGIC


def connect(target: str, *, create: bool = True) -> sqlite3.Connection:
    """The SQLite file with WAL and a busy timeout, as every part of the project opens it.

    With `create=False` a missing file is a `DatabaseError`, not a new empty database.
    """
    if target != ":memory:" and not create and not Path(target).is_file():
        raise DatabaseError(f"no database at {target} (run a graph first, or pass --db)")
    if target != ":memory:" and _foreign(target):
        raise DatabaseError(f"cannot open {target} as a SQLite database: file is not a database")
    try:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"cannot open {target} as a SQLite database: {err}") from err
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as err:
        conn.close()  # do not leak it: Python 3.13 warns about unclosed connections
        raise DatabaseError(f"cannot open {target} as a SQLite database: {err}") from err
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Run the migrations this file has not had, in one `BEGIN IMMEDIATE` transaction."""
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS hitl_schema (version INTEGER)")
        row = conn.execute("SELECT MAX(version) FROM hitl_schema").fetchone()
        if (row[0] or 0) >= len(MIGRATIONS):
            conn.commit()
            return
        conn.commit()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT MAX(version) FROM hitl_schema").fetchone()
            for number, script in enumerate(MIGRATIONS, start=1):
                if number > (row[0] or 0):
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO hitl_schema (version) VALUES (?)", (number,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise
        raise DatabaseError(f"cannot use the database: {err}") from err
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"not a usable SQLite database: {err}") from err
