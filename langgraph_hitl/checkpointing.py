"""LangGraph's SQLite checkpointer on the ledger's file, set up safely.

`open_checkpointer` gives a `SqliteSaver` with WAL, a busy timeout and a serializer
that never unpickles and refuses types outside an allowlist. The saver also records
every gate's interrupt in the review ledger as LangGraph persists it, so a request
reaches the queue however the graph was run: `invoke`, `stream`, the CLI or async.
Values of 16 KiB or more are stored once per thread rather than in every checkpoint
(`_blobs`); everything else is stored as LangGraph's saver stores it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_hitl._blobs import BlobStore, with_blobs
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
    ledger: ReviewLedger,
    graph: str | None,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
) -> None:
    """Mirror a task's persisted writes into the ledger (requests created or answered)."""
    thread_id = str(config["configurable"]["thread_id"])
    interrupt_ids: list[str] = []
    answers: list[Any] = []
    finished = False
    for channel, value in writes:
        if channel == _INTERRUPT:
            for item in value if isinstance(value, list | tuple) else (value,):
                payload = getattr(item, "value", None)
                if isinstance(payload, dict) and payload.get("kind") == REQUEST_KIND:
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
) -> None:
    saver.path = Path(path)
    saver.graph = graph
    saver.ledger = ledger
    ledger.setup()


class HitlSqliteSaver(SqliteSaver):
    """A `SqliteSaver` that mirrors gate interrupts into the review ledger.

    Use `open_checkpointer` rather than building one by hand.

    Attributes:
        ledger: The review ledger in the same file, sharing this saver's connection.
        graph: The graph reference recorded for threads this saver runs.
        path: The database file.
        blobs: Where large values are stored once per thread (`hitl_blobs`).
    """

    path: Path
    graph: str | None
    ledger: ReviewLedger
    blobs: BlobStore

    def __init__(
        self,
        conn: Any,
        *,
        path: str | Path,
        graph: str | None = None,
        serde: JsonPlusSerializer | None = None,
    ) -> None:
        super().__init__(conn, serde=serde or strict_serializer())
        # The ledger shares this saver's connection and lock. Set it up now, outside
        # the lock: `setup()` runs under it and the lock is not re-entrant.
        _attach(self, path, graph, ReviewLedger(conn, lock=self.lock))
        # Large values are stored once per thread (see `_blobs`). LangGraph reads
        # while holding `self.lock`, so the blob reader must not take it again.
        self.blobs = BlobStore(conn, self.lock, lock_reads=False)
        self.blobs.setup()
        self.serde = with_blobs(self.serde, self.blobs)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        split = self.blobs.split_checkpoint(config, checkpoint, self.serde)
        return super().put(config, split, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        split = self.blobs.split_writes(config, writes, self.serde)
        super().put_writes(config, split, task_id, task_path)
        _note_writes(self.ledger, self.graph, config, writes, task_id)

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        self.blobs.delete_thread(thread_id)


class HitlAsyncSqliteSaver(AsyncSqliteSaver):
    """The async twin of `HitlSqliteSaver`; use `open_async_checkpointer`."""

    path: Path
    graph: str | None
    ledger: ReviewLedger
    blobs: BlobStore

    def __init__(
        self,
        conn: Any,
        *,
        path: str | Path,
        graph: str | None = None,
        serde: JsonPlusSerializer | None = None,
    ) -> None:
        super().__init__(conn, serde=serde or strict_serializer())
        # aiosqlite's connection is async: the ledger opens its own on the same file,
        # and large values are stored and read through it (see `_blobs`).
        lock = threading.Lock()
        _attach(self, path, graph, ReviewLedger(connect(path), lock=lock))
        self.blobs = BlobStore(self.ledger.conn, lock, lock_reads=True)
        self.blobs.setup()
        self.serde = with_blobs(self.serde, self.blobs)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        split = await asyncio.to_thread(self.blobs.split_checkpoint, config, checkpoint, self.serde)
        return await super().aput(config, split, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        split = await asyncio.to_thread(self.blobs.split_writes, config, writes, self.serde)
        await super().aput_writes(config, split, task_id, task_path)
        await asyncio.to_thread(_note_writes, self.ledger, self.graph, config, writes, task_id)

    async def adelete_thread(self, thread_id: str) -> None:
        await super().adelete_thread(thread_id)
        await asyncio.to_thread(self.blobs.delete_thread, thread_id)


@contextmanager
def open_checkpointer(
    path: str | Path,
    *,
    graph: str | None = None,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
) -> Iterator[HitlSqliteSaver]:
    """Open the checkpointer and review ledger on one SQLite file; close it afterwards.

    Args:
        path: The database file; created if missing.
        graph: The graph reference to remember for threads run through this saver
            (e.g. `"invoice"` or `"graphs/invoice.py:make_graph"`), so a reviewer in
            another process never has to name it.
        allowed_types: Extra types the serializer may revive (yours, in state).

    Example:
        >>> with open_checkpointer("hitl.sqlite", graph="invoice") as saver:  # doctest: +SKIP
        ...     graph = builder.compile(checkpointer=saver)
        ...     graph.invoke(invoice, {"configurable": {"thread_id": "INV-7"}})
    """
    conn = connect(path, create=True)
    try:
        yield HitlSqliteSaver(conn, path=path, graph=graph, serde=strict_serializer(allowed_types))
    finally:
        conn.close()


@asynccontextmanager
async def open_async_checkpointer(
    path: str | Path,
    *,
    graph: str | None = None,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
) -> AsyncIterator[HitlAsyncSqliteSaver]:
    """Async twin of `open_checkpointer`, for `ainvoke` / `astream`; call inside an event loop.

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
            conn, path=path, graph=graph, serde=strict_serializer(allowed_types)
        )
        try:
            yield saver
        finally:
            saver.ledger.conn.close()
