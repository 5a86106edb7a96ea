"""LangGraph's SQLite checkpointer on the ledger's file, set up safely.

`open_checkpointer` gives a `SqliteSaver` with WAL, a busy timeout and a serializer
that never unpickles and refuses types outside an allowlist. The saver also records
every gate's interrupt in the review ledger as LangGraph persists it, so a request
reaches the queue however the graph was run: `invoke`, `stream`, the CLI or async.
Values of 16 KiB or more are stored once per thread rather than in every checkpoint
(`_blobs`); everything else is stored as LangGraph's saver stores it. The same saver
serves `invoke` and `ainvoke`: its async methods run the sync ones in a worker thread,
under the lock that guards its one connection. Every checkpoint write is fenced: under
a desk's lease, the lease must still be the desk's; and a checkpoint must sort after
the thread's newest one (its id comes from this host's clock).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.base.id import UUID
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_hitl._pregel import auth_user_of, lease_of
from langgraph_hitl.checkpointing._blobs import BlobStore, with_blobs
from langgraph_hitl.errors import ClockSkewError, LeaseLostError, ThreadBusyError
from langgraph_hitl.ledger import BUSY_TIMEOUT_S, ReviewLedger, connect
from langgraph_hitl.ledger.store.postgres import database, is_postgres
from langgraph_hitl.models import REQUEST_KIND

if TYPE_CHECKING:
    from langgraph_hitl.checkpointing.postgres import HitlPostgresSaver

HitlSaver: TypeAlias = "HitlSqliteSaver | HitlAsyncSqliteSaver | HitlPostgresSaver"
"""Our savers: each mirrors interrupts into the ledger its database holds."""

# LangGraph's reserved write channels (langgraph._internal._constants).
_INTERRUPT = "__interrupt__"
_RESUME = "__resume__"
_ERROR = "__error__"


def strict_serializer(allowed_types: Iterable[type | tuple[str, ...]] = ()) -> JsonPlusSerializer:
    """msgpack with no pickle fallback, reviving only LangGraph's safe types and `allowed_types`.

    Example:
        >>> from langgraph_hitl.graphs.invoice import LineItem
        >>> line = LineItem(description="Onboarding", quantity=1, unit_price=2000.0)
        >>> serde = strict_serializer()
        >>> serde.loads_typed(serde.dumps_typed(line))  # not allowed: back as plain data
        {'description': 'Onboarding', 'quantity': 1.0, 'unit_price': 2000.0}
        >>> serde = strict_serializer([LineItem])
        >>> serde.loads_typed(serde.dumps_typed(line))
        LineItem(description='Onboarding', quantity=1.0, unit_price=2000.0)
    """
    allowed = list(allowed_types)
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=allowed or None)


CLOCK_TOLERANCE_S = 2.0
"""How far behind a thread's last checkpoint this host's clock may be and be waited out."""

_UUID6_EPOCH = 0x01B21DD213814000
"""100-ns intervals from 1582-10-15 (a version-6 UUID's epoch) to the Unix epoch."""


def checkpoint_time(checkpoint_id: str) -> float:
    """When a checkpoint was written, in Unix seconds, read off its id (a version-6 UUID).

    LangGraph makes checkpoint ids from the writer's wall clock and orders a thread's
    checkpoints by them: the newest id is the thread's current state.

    Example:
        >>> round(checkpoint_time("1f0c0a2e-3b4d-6c5e-8000-000000000000"))
        1763046629
    """
    return (UUID(checkpoint_id).time - _UUID6_EPOCH) / 1e7


def newest_checkpoint(conn: Any, thread_id: str, checkpoint_ns: str = "") -> str | None:
    """The id of the thread's newest checkpoint in a namespace (the root by default)."""
    row = conn.execute(
        "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?",
        (thread_id, checkpoint_ns),
    ).fetchone()
    return None if row is None else row[0]


def clock_behind_error(thread_id: str, newest: str, now: float) -> ClockSkewError:
    """The error for a host whose clock is behind the thread's newest checkpoint."""
    behind = checkpoint_time(newest) - now
    return ClockSkewError(
        f"this host's clock is {behind:,.1f}s behind the last checkpoint of thread"
        f" {thread_id}: a checkpoint written now would sort before it and the thread would"
        " lose its newest steps; nothing was written. Fix the clock (NTP) and run again"
    )


def starts_branch(metadata: CheckpointMetadata) -> bool:
    """Whether LangGraph saves this checkpoint to start a branch on purpose: time travel
    (`source` "fork") or `update_state` (`source` "update"), which may address an old step."""
    return metadata.get("source") in ("fork", "update")


def _may_write(
    conn: Any, config: RunnableConfig, checkpoint_id: str | None, *, fork: bool = False
) -> None:
    """Raise unless this write may happen: under a desk's lease, the lease is still that
    one (`LeaseLostError`); a new checkpoint follows the thread's newest one in its
    namespace, unless it starts a branch on purpose (`fork`: LangGraph's time travel and
    `update_state`), so two runs that read the same step never both go on from it
    (`ThreadBusyError`); and it sorts after the newest (`ClockSkewError`: its id comes
    from this host's clock). A checkpoint with no parent is a thread's first as far as
    its writer knew: LangGraph's savers accept it beside others, and so does this."""
    configurable = config["configurable"]
    thread_id = str(configurable["thread_id"])
    lease = lease_of(config)
    if lease is not None:
        holder = ReviewLedger.lease_holder_in(conn, thread_id)
        if holder != lease:
            raise LeaseLostError(
                f"thread {thread_id} was taken over by another process"
                f" ({holder or 'nobody holds it now'}) while this one was applying"
                " it; this one stopped before writing"
            )
    if checkpoint_id is not None:
        newest = newest_checkpoint(conn, thread_id, str(configurable.get("checkpoint_ns", "")))
        if newest is None:
            return
        parent = configurable.get("checkpoint_id")
        if parent is not None and parent != newest and not fork:
            raise ThreadBusyError(
                f"another run wrote thread {thread_id} after this one read it: this run's"
                " next step would branch off an old one, so it stopped before writing"
            )
        if checkpoint_id < newest:
            raise clock_behind_error(thread_id, newest, time.time())


def _note_writes(
    saver: HitlSaver,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
) -> None:
    """Mirror a task's persisted writes into the ledger (requests created or answered).

    Our gates' interrupts carry `REQUEST_KIND`; LangChain's HumanInTheLoopMiddleware
    pauses with its own shapes, recorded as one request per tool call (`_stock_hitl`).
    """
    from langgraph_hitl.capture._stock_hitl import is_stock_pause, record_pause, settle_stock_task

    ledger, graph = saver.ledger, saver.graph
    thread_id = str(config["configurable"]["thread_id"])
    if graph is None and saver.graph_from_run:
        # Under Agent Server (`langgraph_hitl.server`): the graph's name in langgraph.json.
        named = config["configurable"].get("graph_id")
        graph = str(named) if named else None
    interrupt_ids: list[str] = []
    answers: list[Any] = []
    problem: str | None = None
    finished = False
    for channel, value in writes:
        if channel == _INTERRUPT:
            for item in value if isinstance(value, list | tuple) else (value,):
                payload = getattr(item, "value", None)
                if isinstance(payload, dict) and payload.get("kind") == REQUEST_KIND:
                    if graph is not None and not interrupt_ids:
                        # Where the reference resolves from goes with it (first one wins).
                        register_thread(saver, thread_id, graph, saver.root)
                    record_request(
                        saver,
                        thread_id=thread_id,
                        interrupt_id=item.id,
                        payload=payload,
                        graph=graph,
                        task_id=task_id,
                    )
                    interrupt_ids.append(item.id)
                    problem = payload.get("problem") or problem
                elif is_stock_pause(payload):
                    if graph is not None and not interrupt_ids:
                        register_thread(saver, thread_id, graph, saver.root)
                    interrupt_ids += record_pause(
                        ledger,
                        thread_id=thread_id,
                        interrupt_id=item.id,
                        value=payload,
                        response_schema=getattr(item, "response_schema", None),
                        graph=graph,
                        task_id=task_id,
                    )
        elif channel == _RESUME:
            answers = list(value) if isinstance(value, list) else [value]
        elif channel != _ERROR:
            finished = True
    if answers and (finished or interrupt_ids):
        direct = lease_of(config) is None
        # Under Agent Server, who answered directly is the run's signed-in user.
        who = auth_user_of(config)
        if settle_stock_task(ledger, thread_id, task_id, answers, direct=direct, reviewer=who):
            return
        ledger.settle_task(
            thread_id,
            task_id,
            answers,
            finished=finished and not interrupt_ids,
            direct=direct,
            problem=problem,
        )


_MEMO_SIZE = 256
"""How many ledger writes a saver remembers having made (see `register_thread`)."""


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    memo[key] = value
    if len(memo) > _MEMO_SIZE:
        del memo[next(iter(memo))]


def register_thread(saver: HitlSaver, thread_id: str, graph: str, root: str | Path | None) -> None:
    """Register the thread's graph and root in the saver's ledger, unless this saver already
    did: the desk registers a thread before it runs it, and the saver again when its first
    interrupt lands; the second is a write transaction that changes nothing."""
    key = (thread_id, graph, None if root is None else str(root))
    if key in saver.mirrored:
        return
    saver.ledger.register_thread(thread_id, graph, root=root)
    _remember(saver.mirrored, key, None)


def record_request(
    saver: HitlSaver,
    *,
    thread_id: str,
    interrupt_id: str,
    payload: dict[str, Any],
    graph: str | None,
    task_id: str | None,
) -> str:
    """Record a gate's interrupt in the saver's ledger (idempotent); the request id.

    A request this saver recorded itself, with the same graph and its task (or no task
    given now), is not written again: reconciling a thread's state after a run (`ReviewDesk`)
    finds the interrupts the saver mirrored as they were written, and writing them again
    would be a write transaction that changes nothing.
    """
    key = ("request", thread_id, interrupt_id)
    known = saver.mirrored.get(key)
    if known is not None:
        request_id, known_graph, known_task = known
        if graph in (None, known_graph) and task_id in (None, known_task):
            return str(request_id)
    request_id = saver.ledger.record_request(
        thread_id=thread_id,
        interrupt_id=interrupt_id,
        payload=payload,
        graph=graph,
        task_id=task_id,
    )
    _remember(saver.mirrored, key, (request_id, graph, task_id))
    return request_id


def _attach(
    saver: HitlSaver,
    path: str | Path,
    graph: str | None,
    ledger: ReviewLedger,
    root: str | Path | None,
    blobs: BlobStore | None,
) -> None:
    """What our savers add to LangGraph's: the ledger, the graph reference, the blob store
    (SQLite's: LangGraph's PostgreSQL saver already stores each value once per version)."""
    saver.path = database(path)
    saver.graph = graph
    saver.graph_from_run = False
    saver.root = None if graph is None else Path(root or Path.cwd()).resolve()
    saver.ledger = ledger
    saver.mirrored = {}
    ledger.setup()
    if blobs is not None:
        saver.blobs = blobs  # type: ignore[union-attr]
        blobs.setup()
        saver.serde = with_blobs(saver.serde, blobs)


class FencedWrites(BaseCheckpointSaver[str]):
    """What our sync savers do around LangGraph's writes: each one fenced in its own
    transaction (`_fenced`, per backend), each task's writes mirrored into the ledger."""

    ledger: ReviewLedger

    def _fenced(
        self, config: RunnableConfig, checkpoint_id: str | None = None, *, fork: bool = False
    ) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _stored_checkpoint(self, config: RunnableConfig, checkpoint: Checkpoint) -> Checkpoint:
        """The checkpoint as LangGraph's saver is to store it (the SQLite saver keeps large
        values apart)."""
        return checkpoint

    def _stored_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]]
    ) -> Sequence[tuple[str, Any]]:
        """A task's writes as LangGraph's saver is to store them."""
        return writes

    def wait_for_clock(self, thread_id: str, *, tolerance: float = CLOCK_TOLERANCE_S) -> None:
        """Before running a thread on: make sure this host's clock is past its last checkpoint.

        A clock a moment behind (another host's clock a little ahead wrote the last step)
        is waited out; one further behind than `tolerance` seconds is refused with
        `ClockSkewError`, before anything runs.
        """
        with self.ledger.reading() as conn:
            newest = newest_checkpoint(conn, thread_id)
        if newest is None:
            return
        behind = checkpoint_time(newest) - time.time()
        if behind > tolerance:
            raise clock_behind_error(thread_id, newest, time.time())
        if behind > 0:
            # Not a wait for another process: the wall clock itself must pass a point.
            time.sleep(behind + 0.001)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        stored = self._stored_checkpoint(config, checkpoint)
        with self._fenced(config, checkpoint["id"], fork=starts_branch(metadata)):
            return super().put(config, stored, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        stored = self._stored_writes(config, writes)
        with self._fenced(config):
            super().put_writes(config, stored, task_id, task_path)
        _note_writes(self, config, writes, task_id)  # type: ignore[arg-type]


class AsyncInThreads:
    """LangGraph's async saver methods, run as the sync ones in a worker thread.

    LangGraph calls a saver's async methods (`aget_tuple`, `aput`, ...) when a graph runs
    with `ainvoke` / `astream`; the sync savers' own raise NotImplementedError. Each sync
    method takes the saver's lock around its cursor, so calls from several worker threads
    (parallel async nodes) take turns on the one connection.
    """

    # The sync saver's methods, as this mixin reaches them.
    get_tuple: Callable[..., CheckpointTuple | None]
    list: Callable[..., Iterator[CheckpointTuple]]
    put: Callable[..., RunnableConfig]
    put_writes: Callable[..., None]
    delete_thread: Callable[[str], None]

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


class HitlSqliteSaver(FencedWrites, AsyncInThreads, SqliteSaver):
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
        blobs: Where large values are stored once per thread (`hitl_blobs`).
    """

    path: str | Path
    graph: str | None
    graph_from_run: bool
    root: Path | None
    ledger: ReviewLedger
    mirrored: dict[Any, Any]
    blobs: BlobStore

    def __init__(
        self,
        conn: Any,
        *,
        path: str | Path,
        graph: str | None = None,
        root: str | Path | None = None,
        serde: JsonPlusSerializer | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(conn, serde=serde or strict_serializer())
        # Re-entrant: a fenced write holds the lock around the saver's own `put`, which
        # takes it again. The ledger shares this connection and lock (and so does
        # whoever passes `lock`: every user of `conn` must take the same one).
        self.lock = lock or threading.RLock()  # type: ignore[assignment]
        ledger = ReviewLedger(conn, lock=self.lock)  # type: ignore[arg-type]
        # Large values are stored once per thread (see `_blobs`). LangGraph reads
        # while holding `self.lock`, so the blob reader need not take it again.
        blobs = BlobStore(conn, self.lock, lock_reads=False)  # type: ignore[arg-type]
        _attach(self, path, graph, ledger, root, blobs)

    @contextmanager
    def _fenced(
        self, config: RunnableConfig, checkpoint_id: str | None = None, *, fork: bool = False
    ) -> Iterator[None]:
        """Check, in the write's own transaction, that it may happen; then let it happen.

        Under a desk's lease (in the run config), the lease must still be that one: a
        process that lost its lease stops before it writes. A new checkpoint must sort
        after the thread's newest one in its namespace, or the thread would read as if
        the steps since never ran (its id comes from this host's clock).
        """
        if lease_of(config) is None and checkpoint_id is None:
            yield
            return
        with self.lock:
            self.setup()
            if self.conn.in_transaction:
                self.conn.commit()
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                _may_write(self.conn, config, checkpoint_id, fork=fork)
                yield  # the saver's own write, committed by its cursor
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.rollback()
                raise

    def _stored_checkpoint(self, config: RunnableConfig, checkpoint: Checkpoint) -> Checkpoint:
        # Large values go to `hitl_blobs` first, in their own transaction: they are
        # keyed by content, so a write the fence then refuses leaves nothing wrong.
        return self.blobs.split_checkpoint(config, checkpoint, self.serde)

    def _stored_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]]
    ) -> Sequence[tuple[str, Any]]:
        return self.blobs.split_writes(config, writes, self.serde)

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        self.blobs.delete_thread(thread_id)


class HitlAsyncSqliteSaver(AsyncSqliteSaver):
    """The async twin of `HitlSqliteSaver`; use `open_async_checkpointer`."""

    path: str | Path
    graph: str | None
    graph_from_run: bool
    root: Path | None
    ledger: ReviewLedger
    mirrored: dict[Any, Any]
    blobs: BlobStore

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
        # aiosqlite's connection is async: the ledger opens its own on the same file,
        # and large values are stored and read through it (see `_blobs`).
        lock = threading.Lock()
        file = connect(path)
        ledger = ReviewLedger(file, lock=lock)
        _attach(self, path, graph, ledger, root, BlobStore(file, lock, lock_reads=True))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        split = await asyncio.to_thread(self.blobs.split_checkpoint, config, checkpoint, self.serde)
        # The same checks as the sync saver's, on the ledger's connection to the file,
        # just before the write (aiosqlite's own connection is out of our transactions).
        await self.setup()  # LangGraph's tables, before the check reads them
        await asyncio.to_thread(self._may_write, config, checkpoint["id"], starts_branch(metadata))
        return await super().aput(config, split, metadata, new_versions)

    def _may_write(
        self, config: RunnableConfig, checkpoint_id: str | None, fork: bool = False
    ) -> None:
        with self.ledger.reading() as conn:
            _may_write(conn, config, checkpoint_id, fork=fork)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        split = await asyncio.to_thread(self.blobs.split_writes, config, writes, self.serde)
        await self.setup()
        await asyncio.to_thread(self._may_write, config, None)
        await super().aput_writes(config, split, task_id, task_path)
        await asyncio.to_thread(_note_writes, self, config, writes, task_id)

    async def adelete_thread(self, thread_id: str) -> None:
        await super().adelete_thread(thread_id)
        await asyncio.to_thread(self.blobs.delete_thread, thread_id)


@contextmanager
def open_checkpointer(
    path: str | Path,
    *,
    graph: str | None = None,
    root: str | Path | None = None,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
    pooled: bool = False,
) -> Iterator[HitlSqliteSaver | HitlPostgresSaver]:
    """Open the checkpointer and review ledger on one database; close it afterwards.

    The saver serves `invoke` / `stream` and `ainvoke` / `astream` alike.

    Args:
        path: The SQLite file (created if missing), or a `postgresql://` URL: then
            LangGraph's `PostgresSaver` with the ledger in the same database (the
            `postgres` extra).
        graph: The graph reference to remember for threads run through this saver
            (e.g. `"invoice"` or `"graphs/invoice.py:make_graph"`), so a reviewer in
            another process never has to name it.
        root: Where `graph` resolves from (its `langgraph.json`, its relative path):
            recorded with it, so a decider in any directory loads the same graph.
            Default: the current directory.
        allowed_types: Extra types the serializer may revive (yours, in state);
            `ReviewDesk` and the CLI also allow every type your graph's state declares.
        pooled: On PostgreSQL, take the connection from this process's pool and give it
            back on closing, for a process that opens a checkpointer again and again
            (an app server per request, `ReviewDesk`). Nothing changes on SQLite.

    Example:
        >>> from langgraph_hitl.graphs.invoice import make_graph
        >>> with open_checkpointer("hitl.sqlite", graph="invoice") as saver:
        ...     graph = make_graph(saver)  # the factory compiles with this saver
        ...     run = graph.invoke(invoice, {"configurable": {"thread_id": "INV-1003-again"}})
        >>> run["__interrupt__"][0].value["request"]["summary"]
        'Pay INV-1003: 52,000.00 USD to Initech LLC'
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:  # waiting for a reviewer
        ...     [rec.status for rec in ledger.pending(thread_id="INV-1003-again")]
        ['pending']
    """
    if is_postgres(path):
        from langgraph_hitl.checkpointing.postgres import open_postgres_checkpointer

        with open_postgres_checkpointer(
            str(path),
            graph=graph,
            root=root,
            serde=strict_serializer(allowed_types),
            pooled=pooled,
        ) as saver:
            yield saver
        return
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
        >>> from langgraph_hitl.graphs.invoice import make_graph
        >>> async def pay(invoice):
        ...     async with open_async_checkpointer("hitl.sqlite", graph="invoice") as saver:
        ...         config = {"configurable": {"thread_id": "INV-1003-async"}}
        ...         return await make_graph(saver).ainvoke(invoice, config)
        >>> asyncio.run(pay(invoice))["__interrupt__"][0].value["request"]["problems"]
        ['duplicate: INV-1003 is still pending in thread INV-1003']
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
