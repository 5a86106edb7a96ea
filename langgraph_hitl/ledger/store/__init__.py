"""The ledger's storage: one small interface, two backends.

`LedgerStore` is everything above it reads and writes through: `open` a database by path
or URL, `setup` (migrations, once), `write()` (one short write transaction: nobody else
writes the ledger until it ends), `read()` (rows, outside any transaction), `reading()`
(the connection, for reads of the database's other tables) and `snapshot()` (one read
transaction, every figure from the same state). Below it a `Backend` knows its database:
`sqlite` (the embedded default: one file, WAL, `BEGIN IMMEDIATE`) and `postgres`
(psycopg 3; the same SQL, translated as it runs; a transaction-scoped advisory lock for
the one writer). The concepts above (`langgraph_hitl.ledger`'s requests, decisions,
reviewers, events, leases, ...) write their SQL once, for both.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from langgraph_hitl.ledger.store import postgres, sqlite
from langgraph_hitl.ledger.store.sqlite import BUSY_TIMEOUT_S

__all__ = [
    "BUSY_TIMEOUT_S",
    "Backend",
    "Connection",
    "Cursor",
    "LedgerStore",
    "backend_of",
    "connect",
    "stable_id",
    "table_names",
]


class Cursor(Protocol):
    """What the ledger reads off a statement's result, on either backend."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """A ledger connection: `sqlite3.Connection`, or `postgres.PgConnection` with its face."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


class Backend:
    """What differs between the two databases, and nothing else.

    `share_lock` and `update_lock` are the clauses that keep a row read inside a write
    transaction locked until it ends, for reading or for changing it, and `claim_lock`
    the one that passes over rows another transaction holds (PostgreSQL's `FOR SHARE`,
    `FOR UPDATE` and `FOR UPDATE SKIP LOCKED`; SQLite's one writer needs none);
    `announce_work` tells idle workers, as the transaction commits, that a thread has a
    decision to apply (PostgreSQL's `NOTIFY`; workers poll SQLite).
    """

    name: ClassVar[str] = "sqlite"
    share_lock: ClassVar[str] = ""
    update_lock: ClassVar[str] = ""
    claim_lock: ClassVar[str] = ""
    tables_sql: ClassVar[str] = "SELECT name FROM sqlite_master WHERE type = 'table'"

    def migrate(self, conn: Any) -> None:
        sqlite.migrate(conn)

    def begin(self, conn: Any, *, serial: bool) -> None:
        """Start a write transaction: SQLite has one writer, serial or not."""
        conn.execute("BEGIN IMMEDIATE")

    def begin_snapshot(self, conn: Any) -> None:
        """Start a read transaction: SQLite's sees one state of the file throughout."""
        conn.execute("BEGIN")

    def announce_work(self, conn: Connection, thread_id: str | None) -> None:
        """Nothing to send: SQLite's workers poll."""


class PostgresBackend(Backend):
    """PostgreSQL, through `postgres.PgConnection`."""

    name: ClassVar[str] = "postgres"
    share_lock: ClassVar[str] = " FOR SHARE"
    update_lock: ClassVar[str] = " FOR UPDATE"
    claim_lock: ClassVar[str] = " FOR UPDATE OF t SKIP LOCKED"
    tables_sql: ClassVar[str] = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )

    def migrate(self, conn: Any) -> None:
        postgres.migrate(conn)

    def begin(self, conn: Any, *, serial: bool) -> None:
        """Start a write transaction: under the ledger's one write lock when `serial`."""
        conn.begin(exclusive=serial)

    def begin_snapshot(self, conn: Any) -> None:
        """Start a read transaction that sees one state throughout (READ COMMITTED
        would give each statement its own)."""
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    def announce_work(self, conn: Connection, thread_id: str | None) -> None:
        # Delivered when the transaction commits, never before: idle workers LISTEN on
        # it (`langgraph_hitl.deciding.worker`) and apply at once.
        conn.execute("SELECT pg_notify(?, ?)", (postgres.WORK_CHANNEL, thread_id or ""))


SQLITE = Backend()
POSTGRES = PostgresBackend()


def backend_of(conn: Connection) -> Backend:
    """The backend a connection belongs to."""
    return POSTGRES if isinstance(conn, postgres.PgConnection) else SQLITE


def connect(path: str | Path, *, create: bool = True, pooled: bool = False) -> Any:
    """Open the ledger's database: a `postgresql://` URL on PostgreSQL, else the SQLite
    file with WAL and a busy timeout, as every part of the project does.

    With `create=False` a missing SQLite file is a `DatabaseError`, not a new database.
    With `pooled`, a PostgreSQL connection comes from the process's pool and goes back
    to it when closed (`postgres.connect`); a SQLite file is opened either way.
    """
    target = str(path)
    if postgres.is_postgres(target):
        return postgres.connect(target, pooled=pooled)
    return sqlite.connect(target, create=create)


def table_names(conn: Connection) -> set[str]:
    """The tables in the ledger's database (the ledger's, LangGraph's, any other)."""
    return {str(row[0]) for row in conn.execute(backend_of(conn).tables_sql).fetchall()}


def stable_id(prefix: str, *parts: Any) -> str:
    """`prefix_` and 12 hex of a SHA-256 over the parts: the same parts, the same id.

    Example:
        >>> stable_id("rt", "inv-7", "score", 3) == stable_id("rt", "inv-7", "score", 3)
        True
    """
    key = "\x00".join(str(part) for part in parts)
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class LedgerStore:
    """The ledger's storage, over a connection the caller owns or one it opens.

    Args:
        conn: An open connection to the checkpoint database.
        lock: A lock shared with other users of `conn` (the checkpointer's), if any.
    """

    def __init__(self, conn: Connection, *, lock: threading.Lock | None = None) -> None:
        self.conn = conn
        self.backend = backend_of(conn)
        self._lock = lock or threading.Lock()
        self._is_setup = False

    @classmethod
    @contextmanager
    def open(
        cls, path: str | Path, *, create: bool = False, pooled: bool = False
    ) -> Iterator[Self]:
        """Open the ledger at `path` (a SQLite file or a PostgreSQL URL), close it after.

        Raises `DatabaseError` if the file is missing (unless `create`), is not a SQLite
        database, or holds no ledger and cannot get one. `pooled`: see `connect`.
        """
        conn = connect(path, create=create, pooled=pooled)
        try:
            ledger = cls(conn)
            ledger.setup()
            yield ledger
        finally:
            conn.close()

    def setup(self) -> None:
        """Create or migrate the ledger's tables, once per instance."""
        if self._is_setup:
            return
        with self._lock:
            self.backend.migrate(self.conn)
        self._is_setup = True

    @contextmanager
    def write(self, *, serial: bool = True) -> Iterator[Connection]:
        """One short write transaction; nobody else writes the ledger until it ends.

        With `serial=False`, on PostgreSQL, a transaction beside other writers, for
        writes that neither append to the event chain nor read what it guards: it
        relies on row locks (`Backend.update_lock`, `claim_lock`). SQLite has one
        writer either way.
        """
        with self._lock:
            if self.conn.in_transaction:
                self.conn.commit()
            self.backend.begin(self.conn, serial=serial)
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The connection, for reads of the database's other tables (the checkpoints)
        under the ledger's lock; any transaction the reads began is ended afterwards."""
        with self._lock:
            try:
                yield self.conn
            finally:
                if self.conn.in_transaction:
                    self.conn.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """One read transaction: every read inside it sees the same state; nothing is
        written (it is rolled back)."""
        with self._lock:
            if self.conn.in_transaction:
                self.conn.commit()
            self.backend.begin_snapshot(self.conn)
            try:
                yield self.conn
            finally:
                self.conn.rollback()

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query, read outside any transaction."""
        with self._lock:
            rows: list[tuple[Any, ...]] = self.conn.execute(sql, params).fetchall()
            if self.conn.in_transaction:
                self.conn.commit()
            return rows
