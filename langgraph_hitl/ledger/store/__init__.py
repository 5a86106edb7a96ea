"""The ledger's storage: one connection, short write transactions, the event log.

`LedgerStore` is the part of the ledger that knows the database: opening it (a SQLite
file with WAL and a busy timeout, or a PostgreSQL database through `_pg`), migrating the
schema, one write transaction at a time (`BEGIN IMMEDIATE`), the hash-chained event log
with its notification outbox, threads and their leases. `ReviewLedger` builds requests,
decisions and review policy on top of it, in SQL both backends run (see `_pg`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from langgraph_hitl._time import clock, iso
from langgraph_hitl.errors import DatabaseError
from langgraph_hitl.ledger.store import postgres as _pg
from langgraph_hitl.ledger.store.schema import MIGRATIONS, PG_AFTER
from langgraph_hitl.models import canonical_json


class Cursor(Protocol):
    """What the ledger reads off a statement's result, on either backend."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """A ledger connection: `sqlite3.Connection`, or `_pg.PgConnection` with its face."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


BUSY_TIMEOUT_S = 30.0
"""How long a connection waits for another writer before giving up."""

DEFAULT_LEASE_S = 60.0
"""How long a thread's lease lasts unless its holder renews it (it renews it every quarter
of that while it lives: see `langgraph_hitl.ledger.leases`); `$LANGGRAPH_HITL_LEASE_S` sets it."""

LEASE_ENV = "LANGGRAPH_HITL_LEASE_S"


def lease_seconds() -> float:
    """The lease length: `$LANGGRAPH_HITL_LEASE_S` when it is a positive number, else 60 s."""
    text = os.environ.get(LEASE_ENV)
    try:
        value = float(text) if text else DEFAULT_LEASE_S
    except ValueError:
        return DEFAULT_LEASE_S
    return value if 0 < value < 86_400 * 365 else DEFAULT_LEASE_S


NOTIFY_KINDS = frozenset({"created", "decided", "escalated", "timed_out", "cancelled", "overdue"})
"""Events that also go to the notification outbox."""

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first event."""


def event_hash(prev_hash: str, row: Sequence[Any], subject: str | None = None) -> str:
    """An event's hash: SHA-256 over the previous hash and the row's own content.

    `row` is `(seq, at, kind, request_id, thread_id, actor, data_json)`; `subject`, when
    the event is about a request, the digest of that request's row as the event left it
    (events written before subjects existed have none, and hash as they always did).
    """
    content = list(row) if subject is None else [*row, subject]
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


SUBJECT_COLUMNS = (
    "request_id, thread_id, interrupt_id, graph, gate, action_name, action_args, payload,"
    " args_digest, status, required_role, eligible, level, quorum, owner, deadline,"
    " decision_id, proposal, proposal_digest"
)
"""The columns of a request that decide what gets done (what is asked, of whom, where
it stands, which decision); bookkeeping (when it was opened, who is applying it, the
last error) is left out."""


def subject_digest(conn: Connection, request_id: str) -> str | None:
    """The digest of a request's deciding columns and its quorum votes; None if no such row.

    Every event about a request carries it, in the same transaction as the change it
    records, so the audit trail vouches for the row as it is (`audit.verify`).
    """
    row = conn.execute(
        f"SELECT {SUBJECT_COLUMNS} FROM hitl_requests WHERE request_id = ?", (request_id,)
    ).fetchone()
    if row is None:
        return None
    votes = conn.execute(
        "SELECT reviewer, type, comment, digest FROM hitl_votes WHERE request_id = ?"
        " ORDER BY reviewer",
        (request_id,),
    ).fetchall()
    content = canonical_json([list(row), [list(vote) for vote in votes]])
    return hashlib.sha256(content.encode()).hexdigest()


def table_names(conn: Connection) -> set[str]:
    """The tables in the ledger's database (the ledger's, LangGraph's, any other)."""
    if isinstance(conn, _pg.PgConnection):
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {str(row[0]) for row in conn.execute(sql).fetchall()}


def stable_id(prefix: str, *parts: Any) -> str:
    """`prefix_` and 12 hex of a SHA-256 over the parts: the same parts, the same id.

    Example:
        >>> stable_id("rt", "inv-7", "score", 3) == stable_id("rt", "inv-7", "score", 3)
        True
    """
    key = "\x00".join(str(part) for part in parts)
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def lease_owner() -> str:
    """This process's lease name: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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


def connect(path: str | Path, *, create: bool = True) -> Any:
    """Open the ledger's database: a `postgresql://` URL on PostgreSQL (see `_pg`), else
    the SQLite file with WAL and a busy timeout, as every part of the project does.

    With `create=False` a missing file is a `DatabaseError`, not a new empty database.
    """
    target = str(path)
    if _pg.is_postgres(target):
        return _pg.connect(target)
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


class LedgerStore:
    """The ledger's SQLite storage, over a connection the caller owns or one it opens.

    Args:
        conn: An open connection to the checkpoint database.
        lock: A lock shared with other users of `conn` (the checkpointer's), if any.
    """

    def __init__(self, conn: Connection, *, lock: threading.Lock | None = None) -> None:
        self.conn = conn
        self._lock = lock or threading.Lock()
        self._is_setup = False

    @classmethod
    @contextmanager
    def open(cls, path: str | Path, *, create: bool = False) -> Iterator[Self]:
        """Open the ledger in the file at `path` and close it afterwards.

        Raises `DatabaseError` if the file is missing (unless `create`), is not a SQLite
        database, or holds no ledger and cannot get one.
        """
        conn = connect(path, create=create)
        try:
            ledger = cls(conn)
            ledger.setup()
            yield ledger
        finally:
            conn.close()

    # -- schema ---------------------------------------------------------------

    def setup(self) -> None:
        """Create or migrate the ledger's tables, once per instance."""
        if self._is_setup:
            return
        if isinstance(self.conn, _pg.PgConnection):
            with self._lock:
                self._migrate_postgres(self.conn)
            self._is_setup = True
            return
        try:
            with self._lock:
                self.conn.execute("CREATE TABLE IF NOT EXISTS hitl_schema (version INTEGER)")
                row = self.conn.execute("SELECT MAX(version) FROM hitl_schema").fetchone()
                version = row[0] or 0
                if version < len(MIGRATIONS):
                    self.conn.commit()
                    self.conn.execute("BEGIN IMMEDIATE")
                    try:
                        row = self.conn.execute("SELECT MAX(version) FROM hitl_schema").fetchone()
                        for number, script in enumerate(MIGRATIONS, start=1):
                            if number > (row[0] or 0):
                                for statement in script.split(";"):
                                    if statement.strip():
                                        self.conn.execute(statement)
                                self.conn.execute(
                                    "INSERT INTO hitl_schema (version) VALUES (?)", (number,)
                                )
                        self.conn.commit()
                    except BaseException:
                        self.conn.rollback()
                        raise
                else:
                    self.conn.commit()
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise
            raise DatabaseError(f"cannot use the database: {err}") from err
        except sqlite3.DatabaseError as err:
            raise DatabaseError(f"not a usable SQLite database: {err}") from err
        self._is_setup = True

    @staticmethod
    def _migrate_postgres(conn: _pg.PgConnection) -> None:
        """The same migrations in PostgreSQL's DDL, under the write lock, so two processes
        setting up one database take turns (see `_pg`)."""
        import psycopg

        prelude = hashlib.sha256("".join(_pg.PRELUDE).encode()).hexdigest()
        current = "SELECT (SELECT MAX(version) FROM hitl_schema), (SELECT digest FROM hitl_pg)"
        try:
            try:
                if conn.execute(current).fetchone() == (len(MIGRATIONS), prelude):
                    return  # most opens: up to date, no lock taken
            except psycopg.errors.UndefinedTable:
                pass  # a new database
            conn.begin()
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS hitl_schema (version BIGINT)")
                conn.execute("CREATE TABLE IF NOT EXISTS hitl_pg (digest TEXT)")
                version, digest = conn.execute(current).fetchone() or (None, None)
                if digest != prelude:  # SQLite's functions, as this version writes them
                    for script in _pg.PRELUDE:
                        conn.raw.execute(script)
                    conn.execute("DELETE FROM hitl_pg")
                    conn.execute("INSERT INTO hitl_pg (digest) VALUES (?)", (prelude,))
                for number, script in enumerate(MIGRATIONS, start=1):
                    if number > (version or 0):
                        for statement in _pg.statements(_pg.translate_ddl(script)):
                            conn.raw.execute(statement)
                        for statement in PG_AFTER.get(number, ()):
                            conn.raw.execute(statement)
                        conn.execute("INSERT INTO hitl_schema (version) VALUES (?)", (number,))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        except psycopg.Error as err:
            raise DatabaseError(
                f"cannot use the database {_pg.redact(conn.target)}: {err}"
            ) from err

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One short write transaction; nobody else writes until it ends."""
        with self._lock:
            if self.conn.in_transaction:
                self.conn.commit()
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The connection, for reads of the file's other tables (the checkpoints) under
        the ledger's lock; any transaction the reads began is ended afterwards."""
        with self._lock:
            try:
                yield self.conn
            finally:
                if self.conn.in_transaction:
                    self.conn.commit()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows: list[tuple[Any, ...]] = self.conn.execute(sql, params).fetchall()
            if self.conn.in_transaction:
                self.conn.commit()
            return rows

    # -- events ---------------------------------------------------------------

    def _event(
        self,
        conn: Connection,
        kind: str,
        *,
        request_id: str | None = None,
        thread_id: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> None:
        # Called inside a write transaction: the chain's tail cannot move under us.
        last = conn.execute(
            "SELECT seq, hash FROM hitl_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        at = clock() if at is None else at
        body = canonical_json(data or {})
        subject = None if request_id is None else subject_digest(conn, request_id)
        digest = event_hash(prev, (seq, at, kind, request_id, thread_id, actor, body), subject)
        conn.execute(
            "INSERT INTO hitl_events (seq, at, kind, request_id, thread_id, actor, data,"
            " prev_hash, hash, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, kind, request_id, thread_id, actor, body, prev, digest, subject),
        )
        if kind == "decided" and isinstance(conn, _pg.PgConnection):
            # Delivered when this transaction commits, never before: idle workers
            # LISTEN on it (`langgraph_hitl.deciding.worker`) and apply at once.
            conn.execute("SELECT pg_notify(?, ?)", (_pg.WORK_CHANNEL, thread_id or ""))
        if kind in NOTIFY_KINDS:
            # Same transaction as the event: a notification is never lost, and sending
            # it (see `langgraph_hitl.notify`) never holds up the graph.
            conn.execute(
                "INSERT INTO hitl_outbox (event_seq, kind, request_id, thread_id, body,"
                " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    kind,
                    request_id,
                    thread_id,
                    canonical_json(
                        {
                            "seq": seq,
                            "at": at,
                            "kind": kind,
                            "request_id": request_id,
                            "thread_id": thread_id,
                            "actor": actor,
                            "data": data or {},
                        }
                    ),
                    at,
                    at,
                ),
            )

    def add_event(
        self,
        kind: str,
        *,
        request_id: str | None = None,
        thread_id: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append one event to the log (e.g. `shown` when a reviewer opens a request)."""
        with self._tx() as conn:
            self._event(
                conn, kind, request_id=request_id, thread_id=thread_id, actor=actor, data=data
            )
            if kind == "shown" and request_id is not None:
                # The first time a reviewer opened it: time-to-correct starts here.
                conn.execute(
                    "UPDATE hitl_requests SET opened_at = COALESCE(opened_at, ?)"
                    " WHERE request_id = ?",
                    (clock(), request_id),
                )

    def events(
        self, *, request_id: str | None = None, thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Events for a request or a thread, oldest first."""
        if request_id is not None:
            sql, params = "WHERE request_id = ?", (request_id,)
        elif thread_id is not None:
            sql, params = "WHERE thread_id = ?", (thread_id,)
        else:
            sql, params = "", ()  # type: ignore[assignment]
        rows = self._read(
            "SELECT seq, at, kind, request_id, thread_id, actor, data FROM hitl_events "
            f"{sql} ORDER BY seq",
            params,
        )
        return [
            {
                "seq": seq,
                "at": iso(at),
                "kind": kind,
                "request_id": rid,
                "thread_id": tid,
                "actor": actor,
                "data": json.loads(data),
            }
            for seq, at, kind, rid, tid, actor, data in rows
        ]

    # -- threads --------------------------------------------------------------

    def register_thread(
        self, thread_id: str, graph: str | None, *, root: str | Path | None = None
    ) -> None:
        """Remember which graph a thread belongs to, and where it resolves from.

        The first registration with a graph wins; the first root given with that same
        graph goes with it (a node may name the graph before the saver knows its root).
        """
        with self._tx() as conn:
            self._register(conn, thread_id, graph, root)

    def _register(
        self,
        conn: Connection,
        thread_id: str,
        graph: str | None,
        root: str | Path | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, graph_root, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
            " graph_root = CASE WHEN hitl_threads.graph IS NULL"
            " OR hitl_threads.graph = excluded.graph"
            " THEN COALESCE(hitl_threads.graph_root, excluded.graph_root)"
            " ELSE hitl_threads.graph_root END,"
            " graph = COALESCE(hitl_threads.graph, excluded.graph)",
            (thread_id, graph, None if root is None else str(root), clock()),
        )

    def knows_thread(self, thread_id: str) -> bool:
        """Whether the ledger has seen the thread (run, routed or paused)."""
        return bool(self._read("SELECT 1 FROM hitl_threads WHERE thread_id = ?", (thread_id,)))

    def thread_graphs(self) -> dict[str, str | None]:
        """Every known thread's graph reference, in one query."""
        return dict(self._read("SELECT thread_id, graph FROM hitl_threads"))

    def thread_graph(self, thread_id: str) -> str | None:
        """The graph reference a thread was run with, if known."""
        rows = self._read("SELECT graph FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return rows[0][0] if rows else None

    def thread_origins(self) -> dict[str, tuple[str | None, str | None]]:
        """Every known thread's graph reference and the root it resolves from."""
        rows = self._read("SELECT thread_id, graph, graph_root FROM hitl_threads")
        return {thread_id: (graph, root) for thread_id, graph, root in rows}

    def thread_origin(self, thread_id: str) -> tuple[str | None, str | None]:
        """The graph reference a thread was run with and the root it resolves from."""
        rows = self._read(
            "SELECT graph, graph_root FROM hitl_threads WHERE thread_id = ?", (thread_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def acquire_lease(self, thread_id: str, owner: str, ttl: float | None = None) -> bool:
        """Take the thread's lease unless a live process holds it; True on success.

        A lease past its expiry (its holder stopped renewing it), or held by a process
        on this host that no longer exists, is taken over.
        """
        ttl = lease_seconds() if ttl is None else ttl
        now = clock()
        with self._tx() as conn:
            self._register(conn, thread_id, None)
            current, expires = conn.execute(
                "SELECT lease_owner, lease_expires FROM hitl_threads WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            free = (
                current is None
                or current == owner
                or (expires is not None and expires < now)
                or owner_is_dead(current)
            )
            if free:
                conn.execute(
                    "UPDATE hitl_threads SET lease_owner = ?, lease_expires = ? "
                    "WHERE thread_id = ?",
                    (owner, now + ttl, thread_id),
                )
            return free

    def renew_lease(self, thread_id: str, owner: str, ttl: float | None = None) -> bool:
        """Push the lease's expiry out again; False when `owner` no longer holds it."""
        ttl = lease_seconds() if ttl is None else ttl
        with self._tx() as conn:
            return bool(
                conn.execute(
                    "UPDATE hitl_threads SET lease_expires = ? WHERE thread_id = ?"
                    " AND lease_owner = ?",
                    (clock() + ttl, thread_id, owner),
                ).rowcount
            )

    @staticmethod
    def lease_holder_in(conn: Connection, thread_id: str) -> str | None:
        """Who holds the thread's lease, read inside the caller's own transaction on `conn`.

        On PostgreSQL the row stays locked (`FOR SHARE`) until that transaction ends: a
        takeover waits for the caller's write, or the caller reads the new holder.
        """
        lock = " FOR SHARE" if isinstance(conn, _pg.PgConnection) else ""
        row = conn.execute(
            f"SELECT lease_owner FROM hitl_threads WHERE thread_id = ?{lock}", (thread_id,)
        ).fetchone()
        return None if row is None else row[0]

    def lease_holder(self, thread_id: str) -> str | None:
        """Who holds the thread's lease now (expired or not), if anyone."""
        rows = self._read("SELECT lease_owner FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return rows[0][0] if rows else None

    def release_lease(self, thread_id: str, owner: str) -> None:
        """Give the lease back, if `owner` still holds it."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE hitl_threads SET lease_owner = NULL, lease_expires = NULL "
                "WHERE thread_id = ? AND lease_owner = ?",
                (thread_id, owner),
            )
