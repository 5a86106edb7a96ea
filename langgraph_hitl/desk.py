"""`ReviewDesk`: the Python API behind the CLI. Run graphs, decide, apply, resume.

Deciding is two steps. The decision is validated against the request as the ledger
holds it and recorded, once, before LangGraph sees anything. Then it is applied:
under a lease on the thread, only if its interrupt is still pending, with LangGraph's
strict resume, one `Command(resume={interrupt_id: decision})` for every decision the
thread has waiting. A decision recorded but not applied (the process died in
between) is applied by `resume`, once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import (
    ApplyError,
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
    lease_owner,
)
from langgraph_hitl.models import Decision, validate_decision

STRICT_RESUME_KEY = "__pregel_strict_resume"
"""LangGraph's private switch that refuses unknown or stale interrupt ids before
writing anything. Undocumented, so it is set in exactly one place: `strict_config`."""

LEASE_WAIT_S = 30.0
"""How long a decider waits for another process to finish resuming the same thread."""


def strict_config(thread_id: str) -> dict[str, Any]:
    """A run config for `thread_id` with LangGraph's strict resume on."""
    return {"configurable": {"thread_id": thread_id, STRICT_RESUME_KEY: True}}


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
    return str(value)


@dataclass(frozen=True, kw_only=True)
class ThreadStatus:
    """Where a thread stands: the shape of `run --json` and `thread --json`.

    `status` is `paused` (waiting on a human), `done` (nothing left to run),
    `stalled` (work left but nothing waiting: a run died; `resume` continues it) or
    `cancelled` (stopped for good by `cancel`: it never runs again).
    """

    thread_id: str
    status: str
    pending: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "status": self.status,
            "pending": list(self.pending),
            "values": to_jsonable(self.values),
        }


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The result of a decision: the request as recorded and where its thread ended."""

    request: RequestRecord
    thread: ThreadStatus | None
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request.request_id,
            "decision": None if self.request.decision is None else self.request.decision.type,
            "applied": self.applied,
            "thread": None if self.thread is None else self.thread.to_json(),
        }


class ReviewDesk:
    """Run graphs, list what waits for a human, decide and apply, from any process.

    Args:
        path: The SQLite file holding checkpoints and the ledger.
        graph: A graph reference to use for threads that did not record one.
        base: Where `langgraph.json` and relative graph paths are looked up.

    Example:
        >>> desk = ReviewDesk("hitl.sqlite")  # doctest: +SKIP
        >>> run = desk.run("invoice", invoice)  # doctest: +SKIP
        >>> run.status, run.pending  # doctest: +SKIP
        ('paused', ['req_3f2a9c1b7d40'])
        >>> desk.approve(run.pending[0], reviewer="ana").thread.status  # doctest: +SKIP
        'done'
    """

    def __init__(
        self, path: str | Path, *, graph: str | None = None, base: Path | None = None
    ) -> None:
        self.path = Path(path)
        self.graph = graph
        self.base = base or Path.cwd()
        self._kept: tuple[ExitStack, dict[str, Any]] | None = None

    # -- reading (no LangGraph import) --------------------------------------------

    @contextmanager
    def ledger(self, *, create: bool = False) -> Iterator[ReviewLedger]:
        """The ledger, opened for the duration of a `with` block."""
        with ReviewLedger.open(self.path, create=create) as ledger:
            yield ledger

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
    def _graph(self, graph_ref: str) -> Iterator[Any]:
        if self._kept is not None:
            # Inside `keep_graphs()`: load and compile each graph once for many threads.
            stack, graphs = self._kept
            if graph_ref not in graphs:
                graphs[graph_ref] = stack.enter_context(self._load(graph_ref))
            yield graphs[graph_ref]
            return
        with self._load(graph_ref) as graph:
            yield graph

    @contextmanager
    def _load(self, graph_ref: str) -> Iterator[Any]:
        from langgraph_hitl._loader import load_target, with_checkpointer
        from langgraph_hitl.checkpointing import open_checkpointer

        target = load_target(graph_ref, self.base)
        with open_checkpointer(self.path, graph=graph_ref) as saver:
            yield with_checkpointer(target, saver)

    @contextmanager
    def keep_graphs(self) -> Iterator[ReviewDesk]:
        """Keep graphs loaded (one checkpointer each) while deciding many requests.

        Example:
            >>> with desk.keep_graphs():  # doctest: +SKIP
            ...     for request_id in ids:
            ...         desk.approve(request_id, reviewer="ana")
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

    def _graph_for(self, ledger: ReviewLedger, thread_id: str) -> str:
        # An explicit graph wins: it is how a moved or renamed graph file is pointed at.
        ref = self.graph or ledger.thread_graph(thread_id)
        if ref is None:
            raise ConfigurationError(
                f"thread {thread_id!r} recorded no graph; name one with --graph"
            )
        return ref

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
        from langgraph_hitl._loader import canonical_ref

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
        with self._graph(ref) as graph:
            # Only once the graph has loaded: a reference that fails to load must not
            # become the thread's graph (the first registration wins).
            graph.checkpointer.ledger.register_thread(thread_id, ref)
            config = {"configurable": {"thread_id": thread_id}}
            if graph.get_state(config).interrupts:
                raise ConflictError(f"thread {thread_id} is paused: decide it first")
            graph.invoke(input, config, durability="sync")
            return self._status(graph, thread_id)

    def thread(self, thread_id: str) -> ThreadStatus:
        """Where a thread stands, read from its checkpoints."""
        with self.ledger() as ledger:
            if self.graph is None and ledger.thread_graph(thread_id) is None:
                raise UnknownRequestError(
                    f"no thread {thread_id!r} with a known graph in {self.path} (one run"
                    " outside langgraph-hitl: name its graph with --graph)"
                )
            ref = self._graph_for(ledger, thread_id)
            cancelled = ledger.thread_result(thread_id) == "cancelled"
        with self._graph(ref) as graph:
            status = self._status(graph, thread_id)
        if cancelled:
            # The checkpoint still holds the interrupt `cancel` left unanswered, but the
            # ledger has closed its requests: the thread never runs again.
            return replace(status, status="cancelled", pending=[])
        return status

    def _status(self, graph: Any, thread_id: str) -> ThreadStatus:
        snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
        if snapshot.created_at is None:
            raise UnknownRequestError(f"no thread {thread_id!r} in {self.path}")
        pending = []
        saver = graph.checkpointer
        for item in snapshot.interrupts:
            payload = getattr(item, "value", None)
            if isinstance(payload, dict) and "request" in payload:
                # Reconcile: an interrupt the ledger missed (a crash between the two
                # writes) is recorded now; recording is idempotent.
                pending.append(
                    saver.ledger.record_request(
                        thread_id=thread_id,
                        interrupt_id=item.id,
                        payload=payload,
                        graph=saver.graph,
                    )
                )
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
        # One ledger connection for the whole decision: while it stays open, closing
        # the checkpointer's does not fold the WAL back (an fsync) midway.
        with self.ledger() as ledger:
            rec = ledger.resolve(ident)
            # Validate completely first: a node that raises on a resume value jams
            # its thread, so nothing invalid may reach LangGraph.
            decision = validate_decision(rec.request, decision)
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
                return Outcome(request=recorded, thread=None, applied=False)
            try:
                thread = self._apply_thread(ledger, recorded.thread_id)
            except ThreadBusyError:
                raise
            except Exception as err:
                raise ApplyError(
                    f"{decision.type} of {recorded.request_id} is recorded, but applying it"
                    f" failed: {err}; fix that, then run"
                    f" `langgraph-hitl resume {recorded.request_id}`"
                ) from err
            final = ledger.get(recorded.request_id)
        return Outcome(request=final, thread=thread, applied=final.status == "applied")

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

        Its pending requests are cancelled; a reviewer must be allowed to decide each
        of them (exit 4 otherwise). Returns the requests cancelled.
        """
        who = reviewer or default_reviewer()
        with self.ledger() as ledger:
            try:
                thread_id = ledger.get(ident).thread_id
            except UnknownRequestError:
                thread_id = ident
            for rec in ledger.pending(thread_id=thread_id):
                ledger.check_may_decide(rec.request_id, Decision.reject(reason, reviewer=who))
            return ledger.cancel_thread(thread_id, reason=reason, actor=who)

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
        return [self.apply_thread(thread_id) for thread_id in threads]

    @contextmanager
    def _lease(self, ledger: ReviewLedger, thread_id: str) -> Iterator[None]:
        owner = lease_owner()
        deadline = time.monotonic() + LEASE_WAIT_S
        delay = 0.01
        while not ledger.acquire_lease(thread_id, owner):
            if time.monotonic() > deadline:
                raise ThreadBusyError(
                    f"another process has been resuming thread {thread_id} for over"
                    f" {LEASE_WAIT_S:.0f}s; its decision is recorded: run `resume` later"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        try:
            yield
        finally:
            ledger.release_lease(thread_id, owner)

    def apply_thread(self, thread_id: str) -> ThreadStatus:
        """Apply every recorded, unapplied decision of a thread, under its lease."""
        with self.ledger() as ledger:
            return self._apply_thread(ledger, thread_id)

    def _apply_thread(self, ledger: ReviewLedger, thread_id: str) -> ThreadStatus:
        with self._lease(ledger, thread_id):
            ref = self._graph_for(ledger, thread_id)
            with self._graph(ref) as graph:
                # Decisions recorded while we ran are ours to apply too: loop until none.
                while todo := ledger.to_apply(thread_id):
                    self._apply(ledger, graph, thread_id, todo)
                return self._status(graph, thread_id)

    def _apply(
        self, ledger: ReviewLedger, graph: Any, thread_id: str, todo: list[RequestRecord]
    ) -> None:
        from langgraph.errors import UnknownInterruptError

        actor = default_reviewer()
        config = strict_config(thread_id)
        snapshot = graph.get_state(config)
        waiting = {item.id for item in snapshot.interrupts}
        resume: dict[str, Any] = {}
        consumed: list[str] = []
        for rec in todo:
            assert rec.decision is not None
            if rec.interrupt_id in waiting:
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
        by_interrupt = {rec.interrupt_id: rec.request_id for rec in todo}
        ids = [by_interrupt[i] for i in resume]
        if resume:
            from langgraph.types import Command

            ledger.mark_apply_started(ids, actor)
            try:
                graph.invoke(Command(resume=resume), config, durability="sync")
            except UnknownInterruptError as err:
                raise NotPendingError(f"LangGraph refused the resume: {err}") from err
        elif consumed and (snapshot.next or snapshot.tasks):
            # Finish the run the dead process left halfway; the nodes are idempotent.
            # (`tasks`, too: the gate's answer may be saved as writes with no checkpoint
            # after them yet, and then `next` is empty although `pay` never ran.)
            graph.invoke(None, config, durability="sync")
        after = self._status(graph, thread_id)
        ledger.mark_applied(ids + consumed, actor=actor, outcome=after.status)
