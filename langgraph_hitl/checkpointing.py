"""LangGraph's SQLite checkpointer on the ledger's file, set up safely.

`open_checkpointer` gives a `SqliteSaver` with WAL, a busy timeout and a serializer
that never unpickles and refuses types outside an allowlist. The saver also records
every gate's interrupt in the review ledger as LangGraph persists it, so a request
reaches the queue however the graph was run: `invoke`, `stream`, the CLI or async.
The same saver serves `invoke` and `ainvoke`: its async methods run the sync ones in
a worker thread, under the lock that guards its one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_hitl.ledger import BUSY_TIMEOUT_S, ReviewLedger, connect
from langgraph_hitl.models import REQUEST_KIND

# LangGraph's reserved write channels (langgraph._internal._constants).
_INTERRUPT = "__interrupt__"
_RESUME = "__resume__"
_ERROR = "__error__"


def strict_serializer(allowed_types: Iterable[type | tuple[str, ...]] = ()) -> JsonPlusSerializer:
    """msgpack with no pickle fallback, reviving only LangGraph's safe types and `allowed_types`.

    Example:
        >>> serde = strict_serializer()  # doctest: +SKIP
    """
    allowed = list(allowed_types)
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=allowed or None)


def _note_writes(
    saver: HitlSqliteSaver | HitlAsyncSqliteSaver,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
) -> None:
    """Mirror a task's persisted writes into the ledger (requests created or answered)."""
    ledger, graph = saver.ledger, saver.graph
    thread_id = str(config["configurable"]["thread_id"])
    interrupt_ids: list[str] = []
    answers: list[Any] = []
    finished = False
    for channel, value in writes:
        if channel == _INTERRUPT:
            for item in value if isinstance(value, list | tuple) else (value,):
                payload = getattr(item, "value", None)
                if isinstance(payload, dict) and payload.get("kind") == REQUEST_KIND:
                    if graph is not None and not interrupt_ids:
                        # Where the reference resolves from goes with it (first one wins).
                        ledger.register_thread(thread_id, graph, root=saver.root)
                    ledger.record_request(
                        thread_id=thread_id,
                        interrupt_id=item.id,
                        payload=payload,
                        graph=graph,
                        task_id=task_id,
                    )
                    interrupt_ids.append(item.id)
        elif channel == _RESUME:
            answers = list(value) if isinstance(value, list) else [value]
        elif channel != _ERROR:
            finished = True
    if answers and (finished or interrupt_ids):
        ledger.settle_task(thread_id, task_id, answers, finished=finished and not interrupt_ids)


def _attach(
    saver: HitlSqliteSaver | HitlAsyncSqliteSaver,
    path: str | Path,
    graph: str | None,
    ledger: ReviewLedger,
    root: str | Path | None,
) -> None:
    saver.path = Path(path)
    saver.graph = graph
    saver.root = None if graph is None else Path(root or Path.cwd()).resolve()
    saver.ledger = ledger
    ledger.setup()


class HitlSqliteSaver(SqliteSaver):
    """A `SqliteSaver` that mirrors gate interrupts into the review ledger.

    Use `open_checkpointer` rather than building one by hand.

    It serves `invoke` and `ainvoke` alike: LangGraph calls a saver's async methods
    (`aget_tuple`, `aput`, ...) when a graph runs with `ainvoke` / `astream`, and here
    they run the sync methods in a worker thread, each under the saver's lock, so the
    event loop never waits on SQLite and one file serves both.

    Attributes:
        ledger: The review ledger in the same file, sharing this saver's connection.
        graph: The graph reference recorded for threads this saver runs.
        root: Where `graph` resolves from (the project root), recorded with it.
        path: The database file.
    """

    path: Path
    graph: str | None
    root: Path | None
    ledger: ReviewLedger

    def __init__(
        self,
        conn: Any,
        *,
        path: str | Path,
        graph: str | None = None,
        root: str | Path | None = None,
        serde: JsonPlusSerializer | None = None,
    ) -> None:
        super().__init__(conn, serde=serde or strict_serializer())
        # The ledger shares this saver's connection and lock. Set it up now, outside
        # the lock: `setup()` runs under it and the lock is not re-entrant.
        _attach(self, path, graph, ReviewLedger(conn, lock=self.lock), root)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        super().put_writes(config, writes, task_id, task_path)
        _note_writes(self, config, writes, task_id)

    # SqliteSaver's own async methods raise NotImplementedError. Each sync method takes
    # `self.lock` around its cursor, so calls from several worker threads (parallel
    # async nodes) take turns on the one connection.

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        # `list` holds the lock while its generator is open: materialise it in the
        # worker thread, so the lock is not held across the caller's awaits.
        rows = await asyncio.to_thread(
            lambda: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for row in rows:
            yield row

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)


class HitlAsyncSqliteSaver(AsyncSqliteSaver):
    """The async twin of `HitlSqliteSaver`; use `open_async_checkpointer`."""

    path: Path
    graph: str | None
    root: Path | None
    ledger: ReviewLedger

    def __init__(
        self,
        conn: Any,
        *,
        path: str | Path,
        graph: str | None = None,
        root: str | Path | None = None,
        serde: JsonPlusSerializer | None = None,
    ) -> None:
        super().__init__(conn, serde=serde or strict_serializer())
        # aiosqlite's connection is async: the ledger opens its own on the same file.
        _attach(self, path, graph, ReviewLedger(connect(path)), root)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await super().aput_writes(config, writes, task_id, task_path)
        await asyncio.to_thread(_note_writes, self, config, writes, task_id)


@contextmanager
def open_checkpointer(
    path: str | Path,
    *,
    graph: str | None = None,
    root: str | Path | None = None,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
) -> Iterator[HitlSqliteSaver]:
    """Open the checkpointer and review ledger on one SQLite file; close it afterwards.

    The saver serves `invoke` / `stream` and `ainvoke` / `astream` alike.

    Args:
        path: The database file; created if missing.
        graph: The graph reference to remember for threads run through this saver
            (e.g. `"invoice"` or `"graphs/invoice.py:make_graph"`), so a reviewer in
            another process never has to name it.
        root: Where `graph` resolves from (its `langgraph.json`, its relative path):
            recorded with it, so a decider in any directory loads the same graph.
            Default: the current directory.
        allowed_types: Extra types the serializer may revive (yours, in state);
            `ReviewDesk` and the CLI also allow every type your graph's state declares.

    Example:
        >>> with open_checkpointer("hitl.sqlite", graph="invoice") as saver:  # doctest: +SKIP
        ...     graph = builder.compile(checkpointer=saver)
        ...     graph.invoke(invoice, {"configurable": {"thread_id": "INV-7"}})
    """
    conn = connect(path, create=True)
    try:
        yield HitlSqliteSaver(
            conn, path=path, graph=graph, root=root, serde=strict_serializer(allowed_types)
        )
    finally:
        conn.close()


@asynccontextmanager
async def open_async_checkpointer(
    path: str | Path,
    *,
    graph: str | None = None,
    root: str | Path | None = None,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
) -> AsyncIterator[HitlAsyncSqliteSaver]:
    """Async twin of `open_checkpointer`, for `ainvoke` / `astream`; call inside an event loop.

    A thread paused through it is decided and resumed from the CLI or `ReviewDesk`
    like any other: they drive async graphs with `ainvoke` on the same file.

    Example:
        >>> async with open_async_checkpointer("hitl.sqlite") as saver:  # doctest: +SKIP
        ...     await builder.compile(checkpointer=saver).ainvoke(invoice, config)
    """
    import aiosqlite

    if str(path) == ":memory:":
        raise ValueError("the async checkpointer needs a file: the ledger opens it separately")
    connect(path, create=True).close()  # WAL on before aiosqlite opens it
    async with aiosqlite.connect(str(path), timeout=BUSY_TIMEOUT_S) as conn:
        saver = HitlAsyncSqliteSaver(
            conn, path=path, graph=graph, root=root, serde=strict_serializer(allowed_types)
        )
        try:
            yield saver
        finally:
            saver.ledger.conn.close()
