"""The ledger on PostgreSQL: a psycopg 3 connection with the face the ledger's code uses.

The ledger's SQL is written once, in the dialect SQLite and PostgreSQL share, with a few
of SQLite's functions that the PostgreSQL schema defines under the same names
(`json_extract`, `json_set`, `json_type`, `json_each`, `json_group_array`, `total`,
`sum` of a condition, two-argument `min` / `max`: see `PRELUDE`). `PgConnection`
rewrites the rest as each statement runs (placeholders, `INSERT OR IGNORE`, `IS`
between two values, `LIMIT -1`) and keeps sqlite3's shape: `execute()` returning a
cursor, `commit()`, `rollback()`, `in_transaction`.

One rule of the SQLite ledger carries over unchanged: a write transaction
(`BEGIN IMMEDIATE`) is the only writer of the ledger until it ends. Here it is a
transaction-scoped advisory lock taken right after `BEGIN`, so the event chain's tail,
first-decision-wins and the lease checks read what every earlier writer committed
(READ COMMITTED gives each statement a fresh snapshot, taken after the lock).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_hitl.errors import DatabaseError
from langgraph_hitl.ledger.store.schema import MIGRATIONS, PG_AFTER

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import psycopg

WRITE_LOCK = 0x686974_6C  # "hitl": the ledger's one advisory lock key
"""The advisory lock every ledger write transaction holds until it ends."""

SCHEMES = ("postgresql://", "postgres://")

WORK_CHANNEL = "hitl_work"
"""The channel a recorded decision is announced on (its thread id), as it commits."""


def is_postgres(target: object) -> bool:
    """Whether a `--db` value names a PostgreSQL database (a `postgresql://` URL).

    Example:
        >>> is_postgres("postgresql://ledger@db.internal/hitl"), is_postgres("hitl.sqlite")
        (True, False)
    """
    return isinstance(target, str) and target.startswith(SCHEMES)


def database(target: str | Path) -> str | Path:
    """A `--db` value as the project holds it: a PostgreSQL URL as given, else a path.

    Example:
        >>> database("postgresql://db.internal/hitl"), database("hitl.sqlite")
        ('postgresql://db.internal/hitl', PosixPath('hitl.sqlite'))
    """
    return target if is_postgres(target) else Path(target)


def redact(target: str) -> str:
    """A connection string fit for a message: any password replaced by `***`.

    Example:
        >>> redact("postgresql://ana:s3cret@db.internal:5432/hitl")
        'postgresql://ana:***@db.internal:5432/hitl'
    """
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", target)


_QUOTED = re.compile(r"('(?:[^']|'')*')")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """One statement in the shared dialect, as PostgreSQL takes it.

    Example:
        >>> translate("INSERT OR IGNORE INTO hitl_args (digest, args) VALUES (?, ?)")
        'INSERT INTO hitl_args (digest, args) VALUES (%s, %s) ON CONFLICT DO NOTHING'
        >>> translate("SELECT 1 FROM t WHERE note LIKE '50%?' AND id = ? AND at < :until")
        "SELECT 1 FROM t WHERE note LIKE '50%%?' AND id = %s AND at < %(until)s"
        >>> translate("SELECT SUM(reviewer IS ?) FROM d LIMIT -1")
        'SELECT SUM(reviewer IS NOT DISTINCT FROM %s) FROM d LIMIT ALL'
    """
    parts = _QUOTED.split(sql)
    for index in range(0, len(parts), 2):  # outside string literals only
        parts[index] = _NAMED.sub(r"%(\1)s", parts[index].replace("%", "%%").replace("?", "%s"))
    for index in range(1, len(parts), 2):
        parts[index] = parts[index].replace("%", "%%")
    text = "".join(parts).replace("LIMIT -1", "LIMIT ALL")
    # SQLite's `a IS b` compares any two values; PostgreSQL's IS takes NULL, TRUE, FALSE.
    text = re.sub(r"\bIS NOT (?!NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", "IS DISTINCT FROM ", text)
    text = re.sub(r"\bIS (?!NOT\b|NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", "IS NOT DISTINCT FROM ", text)
    if re.match(r"\s*INSERT OR IGNORE\b", text, re.IGNORECASE):
        text = re.sub(r"INSERT OR IGNORE", "INSERT", text, count=1, flags=re.IGNORECASE)
        returning = re.search(r"\sRETURNING\s", text, re.IGNORECASE)
        if returning:
            at = returning.start()
            text = f"{text[:at]} ON CONFLICT DO NOTHING{text[at:]}"
        else:
            text = f"{text.rstrip()} ON CONFLICT DO NOTHING"
    return text


def translate_ddl(script: str) -> str:
    """A migration in SQLite's DDL, as PostgreSQL's: 8-byte floats and integers,
    generated keys where SQLite's `INTEGER PRIMARY KEY` assigns them, bytes for blobs.

    Example:
        >>> translate_ddl("CREATE TABLE t (n INTEGER, at REAL NOT NULL, data BLOB)")
        'CREATE TABLE t (n BIGINT, at DOUBLE PRECISION NOT NULL, data BYTEA)'
    """
    text = re.sub(
        r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", script
    )
    text = re.sub(r"\bINTEGER\b", "BIGINT", text)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
    return re.sub(r"\bBLOB\b", "BYTEA", text)


PRELUDE = (
    # SQLite's JSON helpers, as the ledger's queries use them (on text columns).
    """
    CREATE OR REPLACE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE AS $$
        SELECT CASE jsonb_typeof(doc::jsonb #> string_to_array(substr(path, 3), '.'))
            WHEN 'string' THEN doc::jsonb #>> string_to_array(substr(path, 3), '.')
            WHEN 'null' THEN NULL
            ELSE (doc::jsonb #> string_to_array(substr(path, 3), '.'))::text END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION json_set(doc TEXT, path TEXT, value JSON) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE AS $$
        SELECT jsonb_set(doc::jsonb, string_to_array(substr(path, 3), '.'), value::jsonb)::text
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION hitl_json_array(items ANYCOMPATIBLEARRAY) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE AS $$ SELECT COALESCE(array_to_json(items)::text, '[]') $$
    """,
    """
    CREATE OR REPLACE AGGREGATE json_group_array(ANYCOMPATIBLE) (
        SFUNC = array_append, STYPE = ANYCOMPATIBLEARRAY,
        FINALFUNC = hitl_json_array, INITCOND = '{}'
    )
    """,
    # SQLite counts with SUM(condition) and TOTAL(...): a condition is 0 or 1 there, and
    # TOTAL is a float sum that is 0.0 over no rows. (STRICT: NULLs are skipped.)
    """
    CREATE OR REPLACE FUNCTION hitl_add(total DOUBLE PRECISION, item BOOLEAN)
    RETURNS DOUBLE PRECISION LANGUAGE SQL IMMUTABLE STRICT AS $$
        SELECT total + CASE WHEN item THEN 1 ELSE 0 END $$
    """,
    """
    CREATE OR REPLACE FUNCTION hitl_add(total DOUBLE PRECISION, item DOUBLE PRECISION)
    RETURNS DOUBLE PRECISION LANGUAGE SQL IMMUTABLE STRICT AS $$ SELECT total + item $$
    """,
    """
    CREATE OR REPLACE FUNCTION hitl_count(total BIGINT, item BOOLEAN) RETURNS BIGINT
    LANGUAGE SQL IMMUTABLE STRICT AS $$ SELECT total + CASE WHEN item THEN 1 ELSE 0 END $$
    """,
    """
    CREATE OR REPLACE AGGREGATE sum(BOOLEAN) (SFUNC = hitl_count, STYPE = BIGINT, INITCOND = '0')
    """,
    """
    CREATE OR REPLACE AGGREGATE total(BOOLEAN) (
        SFUNC = hitl_add, STYPE = DOUBLE PRECISION, INITCOND = '0')
    """,
    """
    CREATE OR REPLACE AGGREGATE total(DOUBLE PRECISION) (
        SFUNC = hitl_add, STYPE = DOUBLE PRECISION, INITCOND = '0')
    """,
    # SQLite's two-argument MIN and MAX (NULL if either is).
    """
    CREATE OR REPLACE FUNCTION min(a ANYCOMPATIBLE, b ANYCOMPATIBLE) RETURNS ANYCOMPATIBLE
    LANGUAGE SQL IMMUTABLE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL
        ELSE LEAST(a, b) END $$
    """,
    """
    CREATE OR REPLACE FUNCTION max(a ANYCOMPATIBLE, b ANYCOMPATIBLE) RETURNS ANYCOMPATIBLE
    LANGUAGE SQL IMMUTABLE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL
        ELSE GREATEST(a, b) END $$
    """,
    """
    CREATE OR REPLACE FUNCTION json_type(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE AS $$
        SELECT jsonb_typeof(doc::jsonb #> string_to_array(substr(path, 3), '.'))
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION json_each(doc TEXT) RETURNS TABLE (value TEXT)
    LANGUAGE SQL IMMUTABLE AS $$
        SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(doc::jsonb) = 'array'
            THEN doc::jsonb ELSE '[]'::jsonb END)
    $$
    """,
)
"""Run before the first migration on a new PostgreSQL ledger."""


def statements(script: str) -> Iterable[str]:
    """A migration's statements (they never contain a `;` of their own)."""
    return (part for part in script.split(";") if part.strip())


class PgConnection:
    """A psycopg connection (autocommit, so reads never hold a transaction open) with
    sqlite3's face: `execute`, `commit`, `rollback`, `in_transaction`, `close`."""

    def __init__(self, conn: psycopg.Connection[Any], target: str, pool: Any = None) -> None:
        self.raw = conn
        self.target = target
        self.pool = pool
        """The pool the connection goes back to on `close()`, if it came from one."""

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> psycopg.Cursor[Any]:
        if sql.strip().upper() == "BEGIN IMMEDIATE":
            return self.begin()
        values = params if isinstance(params, Mapping) else tuple(params)
        # Tuples, as sqlite3 gives, whatever the connection's own row factory (LangGraph's
        # saver shares it and reads dicts).
        cursor = self.raw.cursor(row_factory=tuple_row)
        return cursor.execute(translate(sql), values)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor(row_factory=tuple_row)
        cursor.executemany(translate(sql), [tuple(row) for row in rows])  # type: ignore[arg-type]
        return cursor

    def begin(self, *, exclusive: bool = True) -> psycopg.Cursor[Any]:
        """Start a transaction: by default the ledger's one write transaction (see the
        module's docstring); with `exclusive=False` a plain one, beside other writers."""
        self.commit()
        cursor = self.raw.cursor(row_factory=tuple_row)
        cursor.execute("BEGIN")
        if exclusive:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        if self.pool is None:
            self.raw.close()
            return
        try:
            self.rollback()
        except Exception:
            self.raw.close()  # broken: the pool drops it
        self.pool.putconn(self.raw)


def tuple_row(cursor: Any) -> Any:
    """psycopg's tuple row factory (imported when first used: psycopg is an extra)."""
    from psycopg.rows import tuple_row as factory

    return factory(cursor)


def from_server(error: BaseException) -> bool:
    """Whether `error` is psycopg's: the server went away (a restart, a lost network) or
    refused a statement. Read off its module: psycopg is imported only once a PostgreSQL
    database was opened."""
    return type(error).__module__.startswith("psycopg")


def first_line(error: BaseException) -> str:
    """An error's message as one line (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


CONNECT_TIMEOUT_S = 10
POOL_SIZE = 8
"""Most connections a process keeps to one database, per kind (the ledger's; a saver's)."""


def connect(target: str, *, pooled: bool = False, **options: Any) -> PgConnection:
    """Open a PostgreSQL ledger connection; `DatabaseError` (password hidden) if it fails.

    `options` go to `psycopg.connect` (LangGraph's saver wants `prepare_threshold=0` and
    dict rows on a connection it shares). With `pooled`, the connection comes from this
    process's pool for the database (psycopg's `ConnectionPool`) and goes back to it on
    `close()`: for processes that open the ledger again and again (a desk, a worker, a
    lease's heartbeat). A one-shot command opens one plain connection.
    """
    try:
        import psycopg
    except ImportError as err:
        raise DatabaseError(
            "PostgreSQL needs the postgres extra: pip install 'langgraph-hitl[postgres]'"
        ) from err
    if pooled:
        pool = _pool(target, options)
        if pool is not None:
            from psycopg_pool import PoolTimeout

            try:
                return PgConnection(pool.getconn(timeout=CONNECT_TIMEOUT_S), target, pool)
            except PoolTimeout:
                pass  # the server went away: a plain connection says why
    try:
        conn = psycopg.connect(
            target, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **options
        )
    except psycopg.Error as err:
        raise DatabaseError(
            f"cannot connect to {redact(target)}: {redact(first_line(err))}"
        ) from err
    return PgConnection(conn, target)


_pools: dict[tuple[Any, ...], Any] = {}
_pools_lock = threading.Lock()


def _pool(target: str, options: Mapping[str, Any]) -> Any:
    """This process's pool for `target` and `options`, opened on first use; None when the
    server cannot be reached (the caller's plain connection then says why)."""
    import psycopg
    from psycopg_pool import ConnectionPool

    key = (os.getpid(), target, *sorted(options.items(), key=lambda item: item[0]))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            try:
                # One plain connection first: a wrong URL or a server that is down is
                # reported at once, in the server's words, not after the pool's timeout.
                psycopg.connect(target, connect_timeout=CONNECT_TIMEOUT_S).close()
            except psycopg.Error:
                return None
            pool = ConnectionPool(
                target,
                min_size=1,
                max_size=POOL_SIZE,
                kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, **options},
                # A server restart leaves the idle connections dead: each is checked as it
                # is handed out, and a dead one replaced.
                check=ConnectionPool.check_connection,
                reset=_reset,
                name=f"hitl-{redact(target)}",
                open=True,
            )
            if not _pools:
                atexit.register(close_pools)
            _pools[key] = pool
    return pool


def close_pools(target: str | None = None) -> None:
    """Close this process's pooled connections (to `target`'s database, or to all).

    A pool keeps a connection or more open while the process lives. Close them before
    the database must have no sessions: `DROP DATABASE`, `CREATE DATABASE ... TEMPLATE`.
    The next pooled open makes a new pool. Called at exit.
    """
    with _pools_lock:
        for key, pool in list(_pools.items()):
            if key[0] == os.getpid() and target in (None, key[1]):
                pool.close()
                del _pools[key]


def _reset(conn: Any) -> None:
    # A connection goes back to the pool as it came: no transaction, no LISTEN.
    conn.execute("UNLISTEN *")


def migrate(conn: PgConnection) -> None:
    """The ledger's migrations in PostgreSQL's DDL, with `PRELUDE` first, under the write
    lock, so two processes setting up one database take turns."""
    import psycopg

    prelude = hashlib.sha256("".join(PRELUDE).encode()).hexdigest()
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
                for script in PRELUDE:
                    conn.raw.execute(script)
                conn.execute("DELETE FROM hitl_pg")
                conn.execute("INSERT INTO hitl_pg (digest) VALUES (?)", (prelude,))
            for number, script in enumerate(MIGRATIONS, start=1):
                if number > (version or 0):
                    for statement in statements(translate_ddl(script)):
                        conn.raw.execute(statement)
                    for statement in PG_AFTER.get(number, ()):
                        conn.raw.execute(statement)
                    conn.execute("INSERT INTO hitl_schema (version) VALUES (?)", (number,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    except psycopg.Error as err:
        raise DatabaseError(f"cannot use the database {redact(conn.target)}: {err}") from err


class Listener:
    """A connection that LISTENs for recorded decisions, for a worker to wait on.

    A connection that drops (a server restart) is opened again on the next wait; while
    it cannot be, waiting is a plain pause, so the worker's polling still finds work.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._conn: Any = None

    def _open(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = connect(self.target).raw
            conn.execute(f"LISTEN {WORK_CHANNEL}")
            self._conn = conn
        return self._conn

    def start(self) -> None:
        """Listen from now on: a decision recorded after this wakes the next `wait`."""
        try:
            self._open()
        except Exception:
            self._conn = None

    def wait(self, seconds: float) -> bool:
        """Block until a decision is recorded or `seconds` pass; True when woken."""
        import time

        try:
            conn = self._open()
            return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
        except Exception:
            self.close()
            time.sleep(seconds)
            return False

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
