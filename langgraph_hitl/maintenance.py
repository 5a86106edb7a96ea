"""Keeping the ledger and the checkpoints in agreement, and the database small.

`doctor` finds what disagrees (a pending request whose interrupt is gone, an
interrupt with no request, a lease held by a dead process, decisions recorded but
not applied) and repairs what can be repaired safely. `prune` deletes the
checkpoints of finished threads older than a cutoff and keeps their audit trail;
a paused, decided or stalled thread is never touched.

What deleting frees differs by backend. SQLite puts the pages on the file's free
list at once (bytes in use drop; the file shrinks only with `VACUUM`). PostgreSQL
keeps deleted rows as dead rows until a `VACUUM` (autovacuum's, or `--vacuum`'s) marks
their space reusable by the same tables; the database's size on disk stays about what
it was (only `VACUUM FULL` gives it back, and it locks the tables while it rewrites
them, so `prune` never runs it). So `prune` reports the checkpoint rows it removed,
on both, and on PostgreSQL no "bytes in use".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import HitlError
from langgraph_hitl.ledger import connect, owner_is_dead, table_names
from langgraph_hitl.ledger.store.postgres import is_postgres


def _has_table(conn: Any, name: str) -> bool:
    return name in table_names(conn)


CHECKPOINT_TABLES = ("checkpoints", "writes", "hitl_blobs", "checkpoint_writes", "checkpoint_blobs")
"""Where a thread's checkpoints live, keyed by `thread_id`: LangGraph's tables (`writes`
on SQLite, `checkpoint_writes` and `checkpoint_blobs` on PostgreSQL) and our blobs."""


def _thread_rows(conn: Any, tables: list[str], thread_id: str) -> int:
    """A thread's rows in the checkpoint tables (each is indexed by thread first)."""
    total = 0
    for table in tables:
        sql = f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?"
        total += int(conn.execute(sql, (thread_id,)).fetchone()[0])
    return total


def _group_by_graph(
    desk: Any, ledger: Any, threads: list[str]
) -> tuple[dict[tuple[str, str | None], list[str]], list[str]]:
    """Threads by the graph (and root) to load them with (`--graph` first), and those
    with none."""
    recorded = ledger.thread_origins()
    by_graph: dict[tuple[str, str | None], list[str]] = {}
    without: list[str] = []
    for thread_id in threads:
        ref, root = (desk.graph, None) if desk.graph else recorded.get(thread_id, (None, None))
        if ref is None:
            without.append(thread_id)
        else:
            by_graph.setdefault((ref, root), []).append(thread_id)
    return by_graph, without


@dataclass(kw_only=True)
class DoctorReport:
    """What `doctor` found and did."""

    checked_threads: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, thread_id: str, detail: str, *, fixed: bool, **extra: Any) -> None:
        self.findings.append(
            {"kind": kind, "thread_id": thread_id, "detail": detail, "fixed": fixed, **extra}
        )

    @property
    def ok(self) -> bool:
        """True when nothing was left in disagreement."""
        return all(f["fixed"] for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked_threads": self.checked_threads, "findings": self.findings}


def doctor(desk: Any, *, repair: bool = True) -> DoctorReport:
    """Compare the ledger with the checkpoints thread by thread; repair unless told not to.

    Args:
        desk: The `ReviewDesk` whose database to check.
        repair: Supersede requests whose interrupt is gone, record interrupts the ledger
            missed, release leases of dead processes. Decisions recorded but not applied
            are reported, not applied: `resume` does that.
    """
    report = DoctorReport()
    with desk.ledger() as ledger:
        threads = {
            row[0]
            for row in ledger.read(
                "SELECT thread_id FROM hitl_requests WHERE status IN ('pending', 'decided')"
            )
        }
        # LangGraph's pending writes: `writes` in SQLite, `checkpoint_writes` in PostgreSQL.
        with ledger.reading() as conn:
            tables = table_names(conn)
        for writes in {"writes", "checkpoint_writes"} & tables:
            threads |= {
                row[0]
                for row in ledger.read(
                    f"SELECT DISTINCT thread_id FROM {writes} WHERE channel = '__interrupt__'"
                )
            }
        for thread_id, owner in ledger.read(
            "SELECT thread_id, lease_owner FROM hitl_threads WHERE lease_owner IS NOT NULL"
        ):
            if owner_is_dead(owner):
                if repair:
                    ledger.release_lease(thread_id, owner)
                report.add("dead_lease", thread_id, f"lease held by dead {owner}", fixed=repair)
        by_graph, without = _group_by_graph(desk, ledger, sorted(threads))
    for thread_id in without:
        report.add("no_graph", thread_id, "no graph recorded: pass --graph", fixed=False)
    for origin, thread_ids in by_graph.items():
        try:
            with desk._graph(*origin, check=False) as graph:
                for thread_id in thread_ids:
                    report.checked_threads += 1
                    _check_thread(desk, graph, thread_id, report, repair=repair)
        except HitlError as err:
            for thread_id in thread_ids:
                report.add("graph_unloadable", thread_id, str(err), fixed=False)
    return report


def _check_thread(
    desk: Any, graph: Any, thread_id: str, report: DoctorReport, *, repair: bool
) -> None:
    from langgraph_hitl.capture._stock_hitl import is_stock_pause, pause_of, record_pause
    from langgraph_hitl.deciding.desk import task_of_interrupt
    from langgraph_hitl.models import REQUEST_KIND

    ledger = graph.checkpointer.ledger
    snapshot = desk._snapshot(graph, {"configurable": {"thread_id": thread_id}})
    waiting = {item.id: item for item in snapshot.interrupts}
    tasks = task_of_interrupt(snapshot)
    known = {rec.interrupt_id: rec for rec in ledger.requests(thread_id)}
    for rec in known.values():
        if rec.status == "pending" and pause_of(rec.interrupt_id) not in waiting:
            if repair:
                ledger.close_request(
                    rec.request_id,
                    status="superseded",
                    why="doctor: its interrupt is no longer pending",
                    actor="doctor",
                )
            report.add(
                "orphan_request",
                thread_id,
                f"{rec.request_id} is pending but its interrupt is gone",
                fixed=repair,
                request_id=rec.request_id,
            )
        elif rec.status == "decided":
            failed = f" (applying it failed: {rec.apply_error})" if rec.apply_error else ""
            report.add(
                "unapplied_decision",
                thread_id,
                f"{rec.request_id} is decided, not applied{failed}: fix the cause, then run"
                " `langgraph-hitl resume --all`, or `cancel` the thread if it never will be",
                fixed=False,
                request_id=rec.request_id,
            )
    paused = {pause_of(interrupt_id) for interrupt_id in known}
    for interrupt_id, item in waiting.items():
        payload = getattr(item, "value", None)
        if is_stock_pause(payload) and interrupt_id not in paused:
            # An agent's pause (LangChain's HITL middleware) the ledger missed.
            ids = (
                record_pause(
                    ledger,
                    thread_id=thread_id,
                    interrupt_id=interrupt_id,
                    value=payload,
                    response_schema=getattr(item, "response_schema", None),
                    graph=graph.checkpointer.graph,
                    task_id=tasks.get(interrupt_id),
                )
                if repair
                else []
            )
            report.add(
                "missing_request",
                thread_id,
                f"interrupt {interrupt_id[:12]} had no request in the ledger",
                fixed=repair,
                request_id=ids[0] if ids else None,
            )
            continue
        if not (isinstance(payload, dict) and payload.get("kind") == REQUEST_KIND):
            continue
        if interrupt_id not in known:
            request_id = None
            if repair:
                request_id = ledger.record_request(
                    thread_id=thread_id,
                    interrupt_id=interrupt_id,
                    payload=payload,
                    graph=graph.checkpointer.graph,
                    task_id=tasks.get(interrupt_id),
                )
            report.add(
                "missing_request",
                thread_id,
                f"interrupt {interrupt_id[:12]} had no request in the ledger",
                fixed=repair,
                request_id=request_id,
            )


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    """What `prune` deleted, and the database before and after."""

    pruned: list[str]
    kept: dict[str, int]
    """Threads kept, by reason (paused, decided, stalled, recent, no_graph)."""
    rows_removed: int
    """The pruned threads' rows in the checkpoint tables (`CHECKPOINT_TABLES`)."""
    bytes_before: int
    """The database's size on disk: the SQLite file, or `pg_database_size`."""
    bytes_after: int
    used_before: int | None
    """SQLite's bytes in use (pages not on the free list); None on PostgreSQL, which
    does not say without a scan (see the module's docstring)."""
    used_after: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "pruned": self.pruned,
            "kept": self.kept,
            "rows_removed": self.rows_removed,
            "file_bytes_before": self.bytes_before,
            "file_bytes_after": self.bytes_after,
            "used_bytes_before": self.used_before,
            "used_bytes_after": self.used_after,
        }


def _sizes(path: str | Path) -> tuple[int, int | None]:
    """The database's size on disk and the bytes in use (None on PostgreSQL)."""
    conn = connect(path, create=False)
    if is_postgres(path):
        try:
            size = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        finally:
            conn.close()
        return size, None
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    return Path(path).stat().st_size, (pages - free) * page_size


def prune(desk: Any, *, older_than: float, vacuum: bool = False) -> PruneReport:
    """Delete checkpoints of finished threads last touched more than `older_than` seconds ago.

    Only a thread whose graph loads, whose state has nothing left to run and nothing
    waiting, and whose ledger has nothing pending or decided is pruned. The ledger's
    rows and events stay: the audit trail outlives the checkpoints. The thread's rows in
    the notification outbox go with its checkpoints.

    Args:
        vacuum: After pruning, SQLite: `VACUUM` the file so it shrinks (it rewrites the
            file and holds the write lock meanwhile). PostgreSQL: a plain `VACUUM` of the
            tables pruned, so their space is reused at once rather than when autovacuum
            comes round; it runs beside readers and writers, and the size on disk
            rarely shrinks.
    """
    from datetime import datetime

    bytes_before, used_before = _sizes(desk.path)
    cutoff = time.time() - older_than
    kept: dict[str, int] = {}
    pruned: list[str] = []
    rows_removed = 0
    with desk.ledger() as ledger:
        with ledger.reading() as conn:
            has_checkpoints = _has_table(conn, "checkpoints")
        threads = (
            [r[0] for r in ledger.read("SELECT DISTINCT thread_id FROM checkpoints")]
            if has_checkpoints
            else []
        )
        open_threads = {
            r[0]
            for r in ledger.read(
                "SELECT thread_id FROM hitl_requests WHERE status IN ('pending', 'decided')"
            )
        }
        by_graph, without = _group_by_graph(
            desk, ledger, [t for t in threads if t not in open_threads]
        )

    def keep(reason: str, count: int = 1) -> None:
        if count:
            kept[reason] = kept.get(reason, 0) + count

    keep("waiting on a human", sum(1 for t in threads if t in open_threads))
    keep("no graph recorded", len(without))
    for (ref, root), thread_ids in by_graph.items():
        with desk._graph(ref, root, check=False) as graph:
            saver = graph.checkpointer
            with saver.ledger.reading() as conn:
                tables = sorted(set(CHECKPOINT_TABLES) & table_names(conn))
            for thread_id in thread_ids:
                config = {"configurable": {"thread_id": thread_id}}
                snapshot = desk._snapshot(graph, config)
                if snapshot.interrupts:
                    keep("paused")
                elif snapshot.next:
                    keep("stalled")
                elif datetime.fromisoformat(str(snapshot.created_at)).timestamp() > cutoff:
                    keep("recent")
                else:
                    with saver.ledger.reading() as conn:
                        rows_removed += _thread_rows(conn, tables, thread_id)
                    saver.delete_thread(thread_id)
                    saver.ledger.drop_outbox(thread_id)
                    saver.ledger.add_event(
                        "pruned", thread_id=thread_id, actor="prune", data={"graph": ref}
                    )
                    pruned.append(thread_id)
    if vacuum and pruned:
        conn = connect(desk.path, create=False)
        try:
            if is_postgres(desk.path):
                # Not in a transaction block (the connection autocommits); one statement
                # for every table prune deleted from.
                pruned_tables = sorted(
                    (set(CHECKPOINT_TABLES) | {"hitl_outbox"}) & table_names(conn)
                )
                conn.execute(f"VACUUM (ANALYZE) {', '.join(pruned_tables)}")
            else:
                conn.execute("VACUUM")
        finally:
            conn.close()
    bytes_after, used_after = _sizes(desk.path)
    return PruneReport(
        pruned=pruned,
        kept=kept,
        rows_removed=rows_removed,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        used_before=used_before,
        used_after=used_after,
    )
