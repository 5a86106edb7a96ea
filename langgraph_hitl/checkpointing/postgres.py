"""LangGraph's PostgreSQL checkpointer beside the ledger, in one database.

`HitlPostgresSaver` is LangGraph's `PostgresSaver` with what `HitlSqliteSaver` adds to
the SQLite one: every gate's interrupt is mirrored into the ledger as LangGraph persists
it, and every checkpoint write is fenced (under a desk's lease the lease must still be
that one; a new checkpoint must sort after the thread's newest). The ledger shares the
saver's connection and lock, so the fence's reads and LangGraph's write are one
transaction; the thread's lease row is read `FOR SHARE`, so a takeover waits for the
write or the write sees the takeover. It serves `invoke` and `ainvoke` alike (its async
methods run the sync ones in a worker thread). Imported only when a `postgresql://`
database is opened: psycopg and LangGraph's saver come with the `postgres` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from psycopg.rows import dict_row

from langgraph_hitl._pregel import lease_of
from langgraph_hitl.checkpointing import (
    AsyncInThreads,
    FencedWrites,
    _attach,
    _may_write,
    strict_serializer,
)
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.ledger.store import postgres as _pg

SETUP_LOCK = 0x686974_6D
"""A session advisory lock held while LangGraph's tables are set up: its migrations are
not safe to run from two processes at once."""


class HitlPostgresSaver(FencedWrites, AsyncInThreads, PostgresSaver):
    """A `PostgresSaver` that mirrors gate interrupts into the review ledger.

    Use `open_checkpointer("postgresql://...")` rather than building one by hand.

    Attributes:
        ledger: The review ledger in the same database, on this saver's connection.
        graph: The graph reference recorded for threads this saver runs.
        root: Where `graph` resolves from (the project root), recorded with it.
        path: The database's connection string.
    """

    path: str | Path
    graph: str | None
    graph_from_run: bool
    root: Path | None
    ledger: ReviewLedger
    mirrored: dict[Any, Any]

    def __init__(
        self,
        conn: _pg.PgConnection,
        *,
        graph: str | None = None,
        root: str | Path | None = None,
        serde: JsonPlusSerializer | None = None,
    ) -> None:
        super().__init__(conn.raw, serde=serde or strict_serializer())
        # Re-entrant: a fenced write holds the lock around the saver's own `put`, which
        # takes it again. The ledger shares this connection and lock.
        self.lock = threading.RLock()  # type: ignore[assignment]
        ledger = ReviewLedger(conn, lock=self.lock)  # type: ignore[arg-type]
        _attach(self, conn.target, graph, ledger, root, None)

    def setup(self) -> None:
        """LangGraph's tables, set up by one process at a time."""
        with self.lock:
            cursor = self.conn.cursor()  # type: ignore[union-attr]
            cursor.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
            try:
                super().setup()
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))

    @contextmanager
    def _fenced(
        self, config: RunnableConfig, checkpoint_id: str | None = None, *, fork: bool = False
    ) -> Iterator[None]:
        """Check, in the write's own transaction, that it may happen; then let it happen
        and commit it (see `HitlSqliteSaver._fenced`)."""
        if lease_of(config) is None and checkpoint_id is None:
            yield
            return
        conn = self.ledger.conn
        assert isinstance(conn, _pg.PgConnection)
        with self.lock:
            conn.begin(exclusive=False)
            try:
                if checkpoint_id is not None:
                    # Checkpoints of one thread are written one at a time, so the check
                    # below and the write see the same newest step.
                    thread_id = str(config["configurable"]["thread_id"])
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                        (f"checkpoint:{thread_id}",),
                    )
                _may_write(conn, config, checkpoint_id, fork=fork)
                yield
            except BaseException:
                conn.rollback()
                raise
            conn.commit()


@contextmanager
def open_postgres_checkpointer(
    target: str,
    *,
    graph: str | None = None,
    root: str | Path | None = None,
    serde: JsonPlusSerializer | None = None,
    pooled: bool = False,
) -> Iterator[HitlPostgresSaver]:
    """`open_checkpointer` on a `postgresql://` database: one connection, closed after
    (with `pooled`, taken from and given back to the process's pool)."""
    # LangGraph's saver reads dict rows and wants no prepared statements (a pooler in
    # transaction mode cannot keep them); the ledger asks for tuples per cursor.
    conn = _pg.connect(target, pooled=pooled, prepare_threshold=0, row_factory=dict_row)
    try:
        saver = HitlPostgresSaver(conn, graph=graph, root=root, serde=serde)
        saver.setup()
        yield saver
    finally:
        conn.close()
