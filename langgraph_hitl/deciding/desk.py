"""`ReviewDesk`: the Python API behind the CLI. Run graphs, decide, apply, resume.

Deciding is two steps. The decision is validated against the request as the ledger
holds it and recorded, once, before LangGraph sees anything. Then it is applied:
under a lease on the thread, only if its interrupt is still pending, with LangGraph's
strict resume, one `Command(resume={interrupt_id: decision})` for every decision the
thread has waiting. A decision recorded but not applied (the process died in
between) is applied by `resume`, once.

Graphs are loaded from the reference and project root their thread recorded, so any
process in any directory loads the same one; its gates are checked whenever it is
loaded to run or to apply (and each gate checks itself on its first run, before it
asks anyone). A graph with an `async def` node is driven with `ainvoke` on an event
loop the desk owns; each method has an awaitable twin (`arun`, `adecide`, `aapprove`,
...) that runs it off the caller's event loop.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from langgraph_hitl._pregel import run_config
from langgraph_hitl.capture._stock_hitl import is_stock_pause, pause_of, record_pause, stock_resume
from langgraph_hitl.errors import (
    ApplyError,
    AuditError,
    ConfigurationError,
    ConflictError,
    NotPendingError,
    ThreadBusyError,
    UnknownRequestError,
)
from langgraph_hitl.ledger import (
    RequestRecord,
    ReviewItem,
    ReviewLedger,
    connect,
)
from langgraph_hitl.ledger.leases import hold_lease
from langgraph_hitl.ledger.store.postgres import database, is_postgres
from langgraph_hitl.models import Decision, validate_decision

_T = TypeVar("_T")

LEASE_WAIT_S = 30.0
"""How long a decider waits for another process to finish resuming the same thread,
unless `$LANGGRAPH_HITL_LEASE_WAIT_S` says otherwise."""


def lease_wait() -> float:
    """`$LANGGRAPH_HITL_LEASE_WAIT_S` when it is a number of seconds >= 0, else 30."""
    try:
        value = float(os.environ.get("LANGGRAPH_HITL_LEASE_WAIT_S") or LEASE_WAIT_S)
    except ValueError:
        return LEASE_WAIT_S
    return value if 0 <= value <= 86_400 else LEASE_WAIT_S


def applier_name() -> str:
    """Who applies, for the trail: this process's user and host (not the reviewer)."""
    import getpass
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}"


def default_reviewer() -> str:
    """`$LANGGRAPH_HITL_REVIEWER`, else the OS user."""
    import getpass

    return os.environ.get("LANGGRAPH_HITL_REVIEWER") or getpass.getuser()


def to_jsonable(value: Any) -> Any:
    """State as plain JSON: pydantic models dumped, anything else exotic as text."""
    return json.loads(json.dumps(value, default=_fallback))


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


@dataclass(frozen=True, kw_only=True)
class ThreadStatus:
    """Where a thread stands: the shape of `run --json` and `thread --json`.

    `status` is `paused` (waiting on a human, or on a recorded decision to be applied),
    `done` (nothing left to run), `stalled` (work left but nothing waiting: a run died,
    or applying a recorded decision failed; `resume` continues it) or `cancelled`
    (stopped for good by `cancel`: it never runs again). `why` says why, for stalled
    and cancelled threads and decisions not yet applied, and the way out.
    """

    thread_id: str
    status: str
    pending: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    why: str | None = None
    """For `stalled` and `cancelled`: why, and the way out."""

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "status": self.status,
            "pending": list(self.pending),
            "values": to_jsonable(self.values),
            "why": self.why,
        }


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The result of a decision: the request as recorded and where its thread ended."""

    request: RequestRecord
    thread: ThreadStatus | None
    applied: bool
    waits_for: list[str] = field(default_factory=list)
    """For a tool call of a batched agent pause: the pause's calls still undecided; the
    pause resumes once they are."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_id": self.request.request_id,
            "decision": None if self.request.decision is None else self.request.decision.type,
            "applied": self.applied,
            "thread": None if self.thread is None else self.thread.to_json(),
        }
        if self.waits_for:
            out["waits_for"] = list(self.waits_for)
        return out


@dataclass(frozen=True)
class _Session:
    """One SQLite connection for a desk call: its ledger, the lock its savers share, and
    the graphs loaded on it (a decision checks its graph, then applies with it)."""

    ledger: ReviewLedger
    lock: threading.RLock
    stack: ExitStack
    """Closes the graphs loaded on the connection, before the connection closes."""
    graphs: dict[tuple[str, str | None], Any] = field(default_factory=dict)


class ReviewDesk:
    """Run graphs, list what waits for a human, decide and apply, from any process.

    Args:
        path: The SQLite file holding checkpoints and the ledger, or a `postgresql://`
            URL of the database holding them (the `postgres` extra).
        graph: A graph reference to load instead of the one a thread recorded (for a
            graph file that moved), resolved from `base`.
        base: Where `run` resolves references (`langgraph.json`, relative paths) and
            records them from, and where a thread's recorded root is looked for
            instead when it does not exist on this machine. Default: the current
            directory.

    Example:
        >>> desk = ReviewDesk("hitl.sqlite")
        >>> run = desk.run("invoice", invoice)  # INV-1003 again, while the first waits
        >>> run.status, run.pending, run.values["problems"]
        ('paused', ['req_...'], ['duplicate: INV-1003 is still pending in thread INV-1003'])
        >>> done = desk.reject(run.pending[0], "sent twice", reviewer="mia")
        >>> done.thread.status, done.thread.values["status"]
        ('done', 'rejected')
    """

    def __init__(
        self, path: str | Path, *, graph: str | None = None, base: Path | None = None
    ) -> None:
        self.path = database(path)
        self.graph = graph
        self.base = (base or Path.cwd()).resolve()
        # Per thread: the awaitable twins run the desk in worker threads at once.
        self._local = threading.local()
        self._loop: Any = None
        self._loop_lock = threading.Lock()

    @property
    def _kept(self) -> tuple[ExitStack, dict[tuple[str, str | None], Any]] | None:
        kept: tuple[ExitStack, dict[tuple[str, str | None], Any]] | None = getattr(
            self._local, "kept", None
        )
        return kept

    @_kept.setter
    def _kept(self, value: tuple[ExitStack, dict[tuple[str, str | None], Any]] | None) -> None:
        self._local.kept = value

    @property
    def _session(self) -> _Session | None:
        session: _Session | None = getattr(self._local, "session", None)
        return session

    # -- reading (no LangGraph import) --------------------------------------------

    @contextmanager
    def ledger(self, *, create: bool = False) -> Iterator[ReviewLedger]:
        """The ledger, opened for the duration of a `with` block.

        On SQLite the block is one connection to the file: graphs the desk loads inside
        it checkpoint on that same connection, a block opened inside another (or inside
        `keep_graphs()`) shares it, and it closes once, at the end.
        """
        if is_postgres(self.path):
            # A desk opens the ledger for every call: its connections come from a pool.
            with ReviewLedger.open(self.path, create=create, pooled=True) as ledger:
                yield ledger
            return
        if self._session is not None:
            yield self._session.ledger
            return
        if self._kept is not None:
            # Inside `keep_graphs()`: the graphs kept there checkpoint on this connection,
            # so it stays open as long as they do.
            yield self._kept[0].enter_context(self._open_session(create)).ledger
            return
        with self._open_session(create) as session:
            yield session.ledger

    @contextmanager
    def _open_session(self, create: bool) -> Iterator[_Session]:
        # Closing the last connection to a WAL file folds the WAL back into it (an
        # fsync): one connection per call closes once, where one per part would fold
        # it back after each part.
        conn = connect(self.path, create=create)
        try:
            # Re-entrant: a saver's fenced write holds it around LangGraph's own write.
            lock = threading.RLock()
            ledger = ReviewLedger(conn, lock=lock)  # type: ignore[arg-type]
            ledger.setup()
            with ExitStack() as stack:
                self._local.session = _Session(ledger=ledger, lock=lock, stack=stack)
                try:
                    yield self._local.session
                finally:
                    self._local.session = None
        finally:
            conn.close()

    def pending(self, **filters: Any) -> list[RequestRecord]:
        """Pending requests, oldest first (`gate=`, `tier=`, `thread_id=`, `limit=`)."""
        with self.ledger() as ledger:
            return ledger.pending(**filters)

    def show(self, ident: str, *, reviewer: str | None = None) -> RequestRecord:
        """A request by id (or thread id), noting in the log who opened it."""
        with self.ledger() as ledger:
            rec = ledger.resolve(ident)
            if rec.status == "pending":
                ledger.add_event(
                    "shown",
                    request_id=rec.request_id,
                    thread_id=rec.thread_id,
                    actor=reviewer or default_reviewer(),
                )
            return rec

    def history(self, ident: str) -> list[dict[str, Any]]:
        """Every event of a request, or of a thread."""
        with self.ledger() as ledger:
            try:
                rec = ledger.get(ident)
            except UnknownRequestError:
                events = ledger.events(thread_id=ident)
                if not events:
                    raise UnknownRequestError(f"no request or thread named {ident!r}") from None
                return events
            return ledger.events(request_id=rec.request_id)

    def reviews(self, *, status: str | None = "open", limit: int | None = None) -> list[ReviewItem]:
        """Work queued for review after the fact."""
        with self.ledger() as ledger:
            return ledger.reviews(status=status, limit=limit)

    def close_review(
        self, review_id: str, *, problem: str | None = None, reviewer: str | None = None
    ) -> ReviewItem:
        """Close an after-the-fact review as fine, or with the problem found."""
        with self.ledger() as ledger:
            return ledger.close_review(
                review_id, problem=problem, reviewer=reviewer or default_reviewer()
            )

    # -- running ------------------------------------------------------------------

    @contextmanager
    def _graph(
        self, graph_ref: str, root: str | None = None, *, check: bool = True
    ) -> Iterator[Any]:
        """The graph, loaded on this desk's checkpointer.

        With `check` (everywhere but reading a thread's state), its gates are checked
        first: a route to a node the graph does not have, or a state without the
        gate's keys, would take a decision and never act on it.
        """
        from langgraph_hitl.capture._inspect import check_gates

        key = (graph_ref, root)
        with ExitStack() as local:
            session = self._session
            if self._kept is not None:
                # Inside `keep_graphs()`: load and compile each graph once for many threads.
                stack, graphs = self._kept
                if key not in graphs:
                    graphs[key] = stack.enter_context(self._load(graph_ref, root))
                graph = graphs[key]
            elif session is not None:
                # Within one call on SQLite: its saver lives as long as the connection.
                if key not in session.graphs:
                    session.graphs[key] = session.stack.enter_context(self._load(graph_ref, root))
                graph = session.graphs[key]
            else:
                graph = local.enter_context(self._load(graph_ref, root))
            if check:
                check_gates(graph)
            yield graph

    @contextmanager
    def _load(self, graph_ref: str, root: str | None) -> Iterator[Any]:
        from langgraph_hitl.checkpointing import HitlSqliteSaver, open_checkpointer
        from langgraph_hitl.checkpointing._serde import allowed_by_config, with_allowlist
        from langgraph_hitl.deciding._loader import load_target, where_from, with_checkpointer

        # The thread's recorded root when it exists here, else this desk's base.
        where, _ = where_from(root, self.base)
        target = load_target(graph_ref, self.base, root=root)
        with ExitStack() as stack:
            session = self._session
            if session is not None:
                # Inside `ledger()` on SQLite: the saver shares the ledger's connection.
                saver: Any = HitlSqliteSaver(
                    session.ledger.conn,
                    path=self.path,
                    graph=graph_ref,
                    root=root or where,
                    lock=session.lock,
                )
            else:
                saver = stack.enter_context(
                    open_checkpointer(self.path, graph=graph_ref, root=root or where, pooled=True)
                )
            # The serializer revives the types the graph's state declares (subgraphs
            # too) and those the project lists; anything else stays plain data.
            yield with_allowlist(with_checkpointer(target, saver), allowed_by_config(where))

    def _invoke(self, graph: Any, input: Any, config: dict[str, Any]) -> Any:
        """Run `graph` on `input` (or a `Command`): every graph run of the desk is here.

        A graph with an async-only node runs with `ainvoke` on the desk's own event
        loop; any other with `invoke`. Both write through the same saver.
        """
        from langgraph_hitl.capture._inspect import needs_async

        if not needs_async(graph):
            return graph.invoke(input, config, durability="sync")
        return self._event_loop().run(graph.ainvoke(input, config, durability="sync"))

    def _snapshot(self, graph: Any, config: dict[str, Any]) -> Any:
        """The thread's state: every state read of the desk is here.

        The saver reads synchronously for async graphs too, so this never needs a loop.
        """
        return graph.get_state(config)

    def _event_loop(self) -> Any:
        from langgraph_hitl._aio import LoopThread

        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread()
                # Closed when the desk is collected (or at exit), never while in use.
                weakref.finalize(self, self._loop.close)
            return self._loop

    @contextmanager
    def keep_graphs(self) -> Iterator[ReviewDesk]:
        """Keep graphs loaded (one checkpointer each) while deciding many requests.

        Example:
            >>> with desk.keep_graphs():  # the invoice graph is loaded once
            ...     done = [desk.approve(rec.request_id, reviewer="mia") for rec in desk.pending()]
            >>> [(o.request.thread_id, o.thread.status) for o in done]
            [('INV-1003', 'done')]
        """
        if self._kept is not None:
            yield self
            return
        with ExitStack() as stack:
            self._kept = (stack, {})
            try:
                yield self
            finally:
                self._kept = None

    def _graph_for(self, ledger: ReviewLedger, thread_id: str) -> tuple[str, str | None]:
        """The thread's graph reference and the root it resolves from."""
        # An explicit graph wins: it is how a moved or renamed graph file is pointed at.
        if self.graph is not None:
            return self.graph, None
        ref, root = ledger.thread_origin(thread_id)
        if ref is None:
            raise ConfigurationError(
                f"thread {thread_id!r} recorded no graph; name one with --graph"
            )
        return ref, root

    def run(
        self,
        graph_ref: str,
        input: dict[str, Any] | None,
        *,
        thread_id: str | None = None,
    ) -> ThreadStatus:
        """Run a graph on a new (or finished) thread until it ends or pauses at a gate.

        Refuses new input for a thread that is paused: LangGraph would silently drop
        the pending interrupt.
        """
        from langgraph_hitl.checkpointing import register_thread
        from langgraph_hitl.deciding._loader import canonical_ref

        ref = canonical_ref(graph_ref, self.base)
        thread_id = thread_id or uuid.uuid4().hex[:12]
        with self.ledger(create=True) as ledger:
            if ledger.thread_result(thread_id) == "cancelled":
                raise ConflictError(f"thread {thread_id} was cancelled: it never runs again")
            waiting = ledger.pending(thread_id=thread_id) + ledger.to_apply(thread_id)
            if waiting:
                raise ConflictError(
                    f"thread {thread_id} is paused at {waiting[0].request_id}: decide it, or run"
                    " on a new thread"
                )
            root = str(self.base)
            with self._graph(ref, root) as graph:
                saver = graph.checkpointer
                # Only once the graph has loaded: a reference that fails to load must not
                # become the thread's graph (the first registration wins).
                register_thread(saver, thread_id, ref, root)
                with hold_lease(
                    saver.ledger, self.path, thread_id, wait=0, what="running"
                ) as lease:
                    config = run_config(thread_id, lease=lease)
                    if self._snapshot(graph, config).interrupts:
                        raise ConflictError(f"thread {thread_id} is paused: decide it first")
                    saver.wait_for_clock(thread_id)
                    self._invoke(graph, input, config)
                    return self._status(graph, thread_id)

    def thread(self, thread_id: str) -> ThreadStatus:
        """Where a thread stands, read from its checkpoints."""
        with self.ledger() as ledger:
            if self.graph is None and ledger.thread_graph(thread_id) is None:
                raise UnknownRequestError(
                    f"no thread {thread_id!r} with a known graph in {self.path} (one run"
                    " outside langgraph-hitl: name its graph with --graph)"
                )
            origin = self._graph_for(ledger, thread_id)
            cancelled = ledger.thread_result(thread_id) == "cancelled"
            unapplied = ledger.to_apply(thread_id)
            stopped = ledger.why_cancelled(thread_id) if cancelled else None
            with self._graph(*origin, check=False) as graph:
                status = self._status(graph, thread_id)
        if cancelled:
            # The checkpoint still holds the interrupt `cancel` left unanswered, but the
            # ledger has closed its requests: the thread never runs again.
            return replace(status, status="cancelled", pending=[], why=stopped)
        if unapplied:
            # A decision recorded and not applied: the thread waits on no reviewer. If
            # applying it failed, it is stuck (stalled) until the cause is fixed.
            rec = unapplied[0]
            assert rec.decision is not None
            by = rec.decision.reviewer or "someone"
            done = {r.request_id for r in unapplied}
            what = f"{rec.decision.type} of {rec.request_id} by {by} is recorded, not applied"
            if rec.apply_error:
                why = (
                    f"{what}: {rec.apply_error}; `langgraph-hitl resume {rec.request_id}`"
                    " applies it once the cause is fixed, `langgraph-hitl cancel` ends the thread"
                )
            else:
                why = (
                    f"{what} yet; a worker (`langgraph-hitl worker`) or `langgraph-hitl resume"
                    f" {rec.request_id}` applies it"
                )
            return replace(
                status,
                status="stalled" if rec.apply_error else status.status,
                pending=[p for p in status.pending if p not in done],
                why=why,
            )
        if status.status == "stalled":
            return replace(
                status,
                why="a run stopped midway with work left and nothing waiting;"
                f" `langgraph-hitl resume {thread_id}` finishes it",
            )
        return status

    def _status(self, graph: Any, thread_id: str) -> ThreadStatus:
        from langgraph_hitl.checkpointing import record_request

        snapshot = self._snapshot(graph, {"configurable": {"thread_id": thread_id}})
        if snapshot.created_at is None:
            raise UnknownRequestError(f"no thread {thread_id!r} in {self.path}")
        pending = []
        saver = graph.checkpointer
        tasks = task_of_interrupt(snapshot)
        for item in snapshot.interrupts:
            payload = getattr(item, "value", None)
            if isinstance(payload, dict) and "request" in payload:
                # Reconcile: an interrupt the ledger missed (a crash between the two
                # writes) is recorded now; recording is idempotent.
                pending.append(
                    record_request(
                        saver,
                        thread_id=thread_id,
                        interrupt_id=item.id,
                        payload=payload,
                        graph=saver.graph,
                        task_id=tasks.get(item.id),
                    )
                )
            elif is_stock_pause(payload):
                # An agent's pause: one request per tool call; those decided already
                # wait for the others, not for a reviewer.
                members = record_pause(
                    saver.ledger,
                    thread_id=thread_id,
                    interrupt_id=item.id,
                    value=payload,
                    response_schema=getattr(item, "response_schema", None),
                    graph=saver.graph,
                    task_id=tasks.get(item.id),
                )
                pending += [m for m in members if saver.ledger.get(m).status == "pending"]
        # `next` leaves out tasks whose writes were saved before their step's checkpoint
        # was (a process killed in between): the step is still to finish. `tasks` has them.
        unfinished = snapshot.next or snapshot.tasks
        status = "paused" if snapshot.interrupts else ("stalled" if unfinished else "done")
        return ThreadStatus(
            thread_id=thread_id, status=status, pending=pending, values=dict(snapshot.values)
        )

    # -- deciding -------------------------------------------------------------------

    def decide(
        self, ident: str, decision: Decision, *, apply: bool = True, needed: bool = False
    ) -> Outcome:
        """Validate, record (once) and apply a decision.

        `needed=True` notes that the escalation was worth a human's time even though the
        decision kept the agent's proposal (event `escalation_needed`): metrics count it
        toward escalation precision.

        Raises `UnknownRequestError`, `DecisionNotAllowedError` or `InvalidEditError`
        (exit 2) before anything is written, and `AlreadyDecidedError` or
        `NotPendingError` (exit 3) when another decision won or the request moved on.
        """
        if decision.reviewer is None:
            decision = decision.model_copy(update={"reviewer": default_reviewer()})
        # One connection for the whole decision (see `ledger`): the graph loaded to check
        # and to apply it checkpoints on the ledger's.
        with self.ledger() as ledger, self.keep_graphs():
            rec = ledger.resolve(ident)
            # Validate completely first: a node that raises on a resume value jams
            # its thread, so nothing invalid may reach LangGraph.
            decision = validate_decision(rec.request, rec.as_seen(decision))
            if apply and rec.status == "pending" and not _counts_toward_quorum(rec, decision):
                # Where it can be known, a decision that could not be applied is not
                # recorded: the graph loads, the question is still pending, the clock
                # is right.
                self._preflight(ledger, rec)
            recorded = ledger.record_decision(rec.request_id, decision)
            if needed:
                ledger.add_event(
                    "escalation_needed",
                    request_id=rec.request_id,
                    thread_id=rec.thread_id,
                    actor=decision.reviewer,
                )
            if not apply or recorded.status == "pending":
                # Not applied, or an approval short of its quorum: the request waits.
                return Outcome(
                    request=recorded,
                    thread=None,
                    applied=False,
                    waits_for=_still_open(ledger, recorded),
                )
            try:
                thread = self._apply_thread(ledger, recorded.thread_id)
            except ThreadBusyError:
                raise
            except Exception as err:
                raise ApplyError(
                    f"{decision.type} of {recorded.request_id} is recorded, but applying it"
                    f" failed: {err}; fix that, then run"
                    f" `langgraph-hitl resume {recorded.request_id}` (or `langgraph-hitl"
                    " cancel` the thread if it never will be)"
                ) from err
            final = ledger.get(recorded.request_id)
            if final.status in ("cancelled", "superseded"):
                raise NotPendingError(
                    f"{decision.type} of {recorded.request_id} was recorded, but the request"
                    f" was {final.status} before it could be applied: {ledger.why(final)}"
                )
            waits_for = _still_open(ledger, final)
        return Outcome(
            request=final,
            thread=thread,
            applied=final.status == "applied",
            waits_for=waits_for,
        )

    def _preflight(self, ledger: ReviewLedger, rec: RequestRecord) -> None:
        """Refuse, before recording, a decision on a thread that cannot take it now."""
        # Loading checks the graph's gates too: a route to no node, or a state without
        # the gate's keys, is refused here, before anything is recorded.
        with self._graph(*self._graph_for(ledger, rec.thread_id)) as graph:
            try:
                waiting = {
                    item.id for item in self._snapshot(graph, run_config(rec.thread_id)).interrupts
                }
            except Exception as err:
                raise ApplyError(
                    f"{rec.request_id} cannot be applied: reading thread {rec.thread_id}"
                    f" failed ({one_line(err)}); nothing was recorded"
                ) from err
            if pause_of(rec.interrupt_id) not in waiting:
                # Still pending in the ledger (not decided by another reviewer meanwhile,
                # whose apply took the question): an orphan, as `doctor` would find it.
                if ledger.close_request(
                    rec.request_id,
                    status="superseded",
                    why="its question is no longer pending in the thread",
                    actor=default_reviewer(),
                    only=("pending",),
                ):
                    raise NotPendingError(
                        f"{rec.request_id} is no longer pending in thread {rec.thread_id}"
                        " (the thread moved on); nothing was recorded"
                    )
                return  # decided meanwhile: recording says so
            graph.checkpointer.wait_for_clock(rec.thread_id)

    def wait_applied(self, request_id: str, *, timeout: float) -> RequestRecord:
        """The request once a worker applied its decision, or failed to, or `timeout`
        seconds passed (then as it stands). Reads the ledger only."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            with self.ledger() as ledger:
                rec = ledger.get(request_id)
            left = deadline - time.monotonic()
            if rec.status != "decided" or rec.apply_error or left <= 0:
                return rec
            # Waiting on another process (a worker) through the ledger row it updates.
            time.sleep(min(0.05, left))

    def approve(self, ident: str, **fields: Any) -> Outcome:
        """Approve a request. Example: `desk.approve("req_3f2a9c1b7d40", reviewer="ana")`."""
        return self.decide(ident, Decision.approve(**fields))

    def reject(self, ident: str, reason: str, **fields: Any) -> Outcome:
        """Reject a request with a reason."""
        return self.decide(ident, Decision.reject(reason, **fields))

    def modify(self, ident: str, args: dict[str, Any], **fields: Any) -> Outcome:
        """Approve a request with edited args (the whole args)."""
        return self.decide(ident, Decision.modify(args, **fields))

    def respond(self, ident: str, response: Any, **fields: Any) -> Outcome:
        """Supply the outcome in the agent's place; the graph continues from it.

        The gate must allow `respond` (it has `on_respond=`).
        """
        return self.decide(ident, Decision.respond(response, **fields))

    def cancel(self, ident: str, reason: str, *, reviewer: str | None = None) -> list[str]:
        """Stop a thread for good (a request id or a thread id): it never resumes.

        Its pending and decided-but-unapplied requests are cancelled; the reviewer must be
        allowed to decide each of them (exit 4 otherwise, logged). Refused (exit 3) while
        another process applies a decision on the thread. Returns the requests cancelled.
        """
        who = reviewer or default_reviewer()
        with self.ledger() as ledger:
            try:
                thread_id = ledger.get(ident).thread_id
            except UnknownRequestError:
                thread_id = ident
            if not ledger.knows_thread(thread_id):
                raise UnknownRequestError(f"no request or thread with id {ident!r}")
            # Under the thread's lease: never while another process applies a decision
            # (the trail would say cancelled while the action ran).
            with hold_lease(ledger, self.path, thread_id, wait=0, what="applying"):
                if ledger.thread_result(thread_id) is None and self._finished(ledger, thread_id):
                    raise NotPendingError(f"thread {thread_id} already finished")
                return ledger.cancel_thread(thread_id, reason=reason, actor=who)

    def _finished(self, ledger: ReviewLedger, thread_id: str) -> bool:
        """Whether the thread's checkpoints say it ran to its end (False if unreadable:
        a thread whose graph no longer loads can still be cancelled)."""
        if ledger.pending(thread_id=thread_id) or ledger.to_apply(thread_id):
            return False
        try:
            with self._graph(*self._graph_for(ledger, thread_id), check=False) as graph:
                status = self._status(graph, thread_id)
        except Exception:
            return False
        return status.status == "done"

    def sweep(self, *, now: float | None = None, apply: bool = True) -> list[dict[str, Any]]:
        """Move overdue requests one step up their chain; decide those at its end.

        Safe to run from cron, and twice at once: every step is taken once. A request
        whose chain ran out gets its `on_timeout` decision (reject unless configured)
        recorded and, with `apply`, applied. Returns one row per step taken.
        """
        steps: list[dict[str, Any]] = []
        with self.ledger() as ledger:
            for rec in ledger.overdue(now):
                taken = ledger.sweep_step(rec.request_id, level=rec.level, now=now)
                if taken is None:
                    continue
                after = ledger.get(rec.request_id)
                steps.append(
                    {
                        "request_id": rec.request_id,
                        "thread_id": rec.thread_id,
                        "step": taken,
                        "role": after.required_role,
                        "decision": None if after.decision is None else after.decision.type,
                        "applied": False,
                    }
                )
        if apply:
            with self.keep_graphs():
                for row in steps:
                    if row["step"] != "timed_out":
                        continue
                    try:
                        self.apply_thread(row["thread_id"])
                    except Exception as error:
                        # Recorded either way: `resume` applies it once the cause is fixed.
                        # One thread's failure must not stop the sweep of the others.
                        row["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
                    with self.ledger() as ledger:
                        row["applied"] = ledger.get(row["request_id"]).status == "applied"
        return steps

    def resume(self, ident: str | None = None) -> list[ThreadStatus]:
        """Apply recorded decisions not yet applied: one request or thread, or all."""
        with self.ledger() as ledger:
            if ident is None:
                threads = list(dict.fromkeys(r.thread_id for r in ledger.to_apply()))
            else:
                try:
                    threads = [ledger.get(ident).thread_id]
                except UnknownRequestError:
                    if not ledger.requests(ident):
                        raise
                    threads = [ident]
        return [self.apply_thread(thread_id, finish=ident is not None) for thread_id in threads]

    def apply_thread(
        self,
        thread_id: str,
        *,
        finish: bool = False,
        wait: float | None = None,
        applied: list[str] | None = None,
        lease: str | None = None,
    ) -> ThreadStatus:
        """Apply every recorded, unapplied decision of a thread, under its lease.

        With `finish`, a thread left stalled (a run died after LangGraph took its
        answer) is run on to its end too. `wait` is how long to wait for another
        process's lease (default: `$LANGGRAPH_HITL_LEASE_WAIT_S`, else 30 s). The ids
        of the requests this call applied are added to `applied`, when given. `lease`
        is the name the caller already holds the thread's lease under (a worker's
        claim), if any.
        """
        with self.ledger() as ledger:
            return self._apply_thread(
                ledger, thread_id, finish=finish, wait=wait, applied=applied, lease=lease
            )

    def _apply_thread(
        self,
        ledger: ReviewLedger,
        thread_id: str,
        *,
        finish: bool = False,
        wait: float | None = None,
        applied: list[str] | None = None,
        lease: str | None = None,
    ) -> ThreadStatus:
        with (
            hold_lease(
                ledger,
                self.path,
                thread_id,
                wait=lease_wait() if wait is None else wait,
                owner=lease,
            ) as lease,
            self._graph_keeping_errors(ledger, thread_id) as graph,
        ):
            # Decisions recorded while we ran are ours to apply too: loop until none.
            status = None
            while todo := ledger.to_apply(thread_id):
                status = self._apply(ledger, graph, thread_id, todo, lease)
                if applied is not None:
                    applied += [rec.request_id for rec in todo]
            if status is None:
                status = self._status(graph, thread_id)
            if finish and status.status == "stalled":
                graph.checkpointer.wait_for_clock(thread_id)
                self._invoke(graph, None, run_config(thread_id, lease=lease))
                status = self._status(graph, thread_id)
            return status

    @contextmanager
    def _graph_keeping_errors(self, ledger: ReviewLedger, thread_id: str) -> Iterator[Any]:
        """The thread's graph; if it no longer loads (moved, broken, a gate that cannot
        route), what waits to be applied keeps the reason in sight before it is raised."""
        with ExitStack() as stack:
            try:
                graph = stack.enter_context(self._graph(*self._graph_for(ledger, thread_id)))
            except Exception as err:
                waiting = [rec.request_id for rec in ledger.to_apply(thread_id)]
                ledger.note_apply_error(waiting, one_line(err), actor=applier_name())
                raise
            yield graph

    def _apply(
        self,
        ledger: ReviewLedger,
        graph: Any,
        thread_id: str,
        todo: list[RequestRecord],
        lease: str,
    ) -> ThreadStatus:
        """Apply `todo` in one resume; the thread's status afterwards."""
        from langgraph.errors import UnknownInterruptError

        actor = applier_name()
        config = run_config(thread_id, lease=lease)
        snapshot = self._snapshot(graph, config)
        waiting = {item.id for item in snapshot.interrupts}
        resume: dict[str, Any] = {}
        consumed: list[str] = []
        stock: dict[str, list[RequestRecord]] = {}
        for rec in todo:
            assert rec.decision is not None
            problem = ledger.unvouched(rec.request_id)
            if problem is not None:
                # Written or changed behind the ledger's back: never acted on.
                ledger.note_apply_error([rec.request_id], problem, actor=actor)
                raise AuditError(
                    f"{rec.request_id} is not applied: {problem} (`langgraph-hitl audit verify`)"
                )
            if rec.pause is not None and pause_of(rec.interrupt_id) in waiting:
                # LangChain's HITL middleware: answered in its own format, a batched
                # pause once with every tool call's decision (see `_stock_hitl`).
                stock.setdefault(pause_of(rec.interrupt_id), []).append(rec)
            elif rec.interrupt_id in waiting:
                resume[rec.interrupt_id] = rec.decision.to_wire()
            elif rec.apply_started_at is not None:
                # An earlier apply reached LangGraph and died before noting it.
                consumed.append(rec.request_id)
            else:
                ledger.close_request(
                    rec.request_id,
                    status="superseded",
                    why="its interrupt is no longer pending in the thread",
                    actor=actor,
                )
        ids = [rec.request_id for rec in todo if rec.interrupt_id in resume]
        for interrupt_id, members in stock.items():
            resume[interrupt_id] = stock_resume(members)
            ids += [rec.request_id for rec in members]
        try:
            if resume:
                from langgraph.types import Command

                # Before anything runs: a checkpoint from a slow clock would sort first.
                graph.checkpointer.wait_for_clock(thread_id)
                ledger.mark_apply_started(ids, lease)
                try:
                    self._invoke(graph, Command(resume=resume), config)
                except UnknownInterruptError as err:
                    raise NotPendingError(f"LangGraph refused the resume: {err}") from err
            elif consumed and (snapshot.next or snapshot.tasks):
                # Finish the run the dead process left halfway; the nodes are idempotent.
                # (`tasks`, too: the gate's answer may be saved as writes with no
                # checkpoint after them yet, and then `next` is empty although `pay`
                # never ran.)
                graph.checkpointer.wait_for_clock(thread_id)
                self._invoke(graph, None, config)
        except ThreadBusyError:
            raise  # the lease went to another process, which carries on
        except Exception as err:
            # Recorded, not applied: the error stays in sight (`list`, `thread`,
            # `doctor`) until `resume` applies it, or `cancel` ends the thread.
            ledger.note_apply_error(ids + consumed, one_line(err), actor=actor)
            raise
        after = self._status(graph, thread_id)
        ledger.mark_applied(ids + consumed, actor=actor, outcome=after.status)
        return after

    # -- awaitable twins ----------------------------------------------------------------
    #
    # Each runs its sync twin in a worker thread (`asyncio.to_thread`): SQLite, the
    # lease wait and the graph itself (sync or async, on the desk's own loop) never
    # block the caller's event loop. A cancelled await does not stop the work: a
    # decision that was recorded is applied all the same.

    async def apending(self, **filters: Any) -> list[RequestRecord]:
        """`pending`, awaitable."""
        return await _in_thread(self.pending, **filters)

    async def ashow(self, ident: str, *, reviewer: str | None = None) -> RequestRecord:
        """`show`, awaitable."""
        return await _in_thread(self.show, ident, reviewer=reviewer)

    async def arun(
        self, graph_ref: str, input: dict[str, Any] | None, *, thread_id: str | None = None
    ) -> ThreadStatus:
        """`run`, awaitable: `status = await desk.arun("invoice", invoice)`."""
        return await _in_thread(self.run, graph_ref, input, thread_id=thread_id)

    async def athread(self, thread_id: str) -> ThreadStatus:
        """`thread`, awaitable."""
        return await _in_thread(self.thread, thread_id)

    async def adecide(
        self, ident: str, decision: Decision, *, apply: bool = True, needed: bool = False
    ) -> Outcome:
        """`decide`, awaitable: an async web app decides and applies without blocking.

        `outcome = await desk.adecide(request_id, Decision.approve(reviewer="ana"))`
        """
        return await _in_thread(self.decide, ident, decision, apply=apply, needed=needed)

    async def aapprove(self, ident: str, **fields: Any) -> Outcome:
        """`approve`, awaitable."""
        return await self.adecide(ident, Decision.approve(**fields))

    async def areject(self, ident: str, reason: str, **fields: Any) -> Outcome:
        """`reject`, awaitable."""
        return await self.adecide(ident, Decision.reject(reason, **fields))

    async def amodify(self, ident: str, args: dict[str, Any], **fields: Any) -> Outcome:
        """`modify`, awaitable."""
        return await self.adecide(ident, Decision.modify(args, **fields))

    async def arespond(self, ident: str, response: Any, **fields: Any) -> Outcome:
        """`respond`, awaitable."""
        return await self.adecide(ident, Decision.respond(response, **fields))

    async def acancel(self, ident: str, reason: str, *, reviewer: str | None = None) -> list[str]:
        """`cancel`, awaitable."""
        return await _in_thread(self.cancel, ident, reason, reviewer=reviewer)

    async def aresume(self, ident: str | None = None) -> list[ThreadStatus]:
        """`resume`, awaitable."""
        return await _in_thread(self.resume, ident)

    async def aapply_thread(self, thread_id: str, *, finish: bool = False) -> ThreadStatus:
        """`apply_thread`, awaitable."""
        return await _in_thread(self.apply_thread, thread_id, finish=finish)

    async def asweep(self, *, now: float | None = None, apply: bool = True) -> list[dict[str, Any]]:
        """`sweep`, awaitable."""
        return await _in_thread(self.sweep, now=now, apply=apply)


async def _in_thread(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """`fn(*args, **kwargs)` in a worker thread (`asyncio.to_thread`), awaited."""
    # Imported here: a process that only reads or records (the CLI) never needs asyncio.
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


def task_of_interrupt(snapshot: Any) -> dict[str, str]:
    """Each pending interrupt's task id, from a state snapshot (the ledger keeps it: a gate
    looks its question up by task)."""
    return {item.id: task.id for task in snapshot.tasks for item in task.interrupts}


def _still_open(ledger: ReviewLedger, rec: RequestRecord) -> list[str]:
    """For a decided tool call of a batched agent pause: the pause's calls still
    undecided. The pause is resumed once, when they all are (`ReviewLedger.to_apply`)."""
    if rec.status != "decided":
        return []
    return [m.request_id for m in ledger.pause_members(rec) if m.status == "pending"]


def _counts_toward_quorum(rec: RequestRecord, decision: Decision) -> bool:
    """Whether the decision only adds a vote: the request will still wait afterwards."""
    if decision.type == "modify":
        return rec.quorum > 1  # an edit starts the count again, with the editor's vote
    return decision.type == "approve" and len(rec.approvals) + 1 < rec.quorum


def one_line(error: BaseException) -> str:
    """An error as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
