"""The review ledger on real SQLite and PostgreSQL: requests, decisions once, leases,
reviews, the event chain."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl.errors import (
    AlreadyDecidedError,
    BadInputError,
    DatabaseError,
    NotPendingError,
    UnknownRequestError,
)
from langgraph_hitl.ledger import (
    ReviewLedger,
    connect,
    lease_owner,
    request_id_for,
    table_names,
)
from langgraph_hitl.ledger.store.postgres import WRITE_LOCK
from langgraph_hitl.ledger.store.schema import MIGRATIONS
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest, Decision, canonical_json

INJECTION = "INV-7'; DROP TABLE hitl_requests; --"


def make_payload(
    *,
    amount: float = 52_000,
    gate: str = "approve_payment",
    tier: str = "high",
    summary: str = "Pay INV-7: 52,000.00 EUR to Acme GmbH",
    invoice_id: str = "INV-7",
) -> dict[str, Any]:
    """An interrupt payload as ApprovalGate sends it."""
    req = ApprovalRequest(
        action=Action(name="pay_invoice", args={"invoice_id": invoice_id, "amount": amount}),
        summary=summary,
        reasons=["amount over the 10,000 limit"],
        risk_tier=tier,
        confidence=0.91,
    )
    return {
        "kind": REQUEST_KIND,
        "version": 1,
        "gate": gate,
        "request": req.to_wire(),
        "args_digest": req.action.digest(),
    }


def new_request(ledger: ReviewLedger, thread_id: str = "t-1", **payload: Any) -> str:
    return ledger.record_request(
        thread_id=thread_id,
        interrupt_id=uuid.uuid4().hex,
        payload=make_payload(**payload),
        graph="invoice",
        task_id="task-1",
    )


@pytest.fixture
def ledger(database: Path | str) -> Iterator[ReviewLedger]:
    """A set-up ledger on a fresh database of each backend (`:memory:`, SQLite's SQL on
    another medium, has its own test below)."""
    with ReviewLedger.open(database, create=True) as opened:
        yield opened


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A SQLite file with the ledger's tables, closed again."""
    path = tmp_path / "ledger.sqlite"
    with ReviewLedger.open(path, create=True):
        pass
    return path


def event_kinds(ledger: ReviewLedger, request_id: str) -> list[str]:
    return [e["kind"] for e in ledger.events(request_id=request_id)]


# -- opening and schema ------------------------------------------------------------------


def test_setup_is_idempotent_and_versioned(db_file: Path) -> None:
    """Setting up again, on any connection, keeps one schema version and the data."""
    from langgraph_hitl.ledger.store.schema import MIGRATIONS

    with ReviewLedger.open(db_file) as ledger:
        rid = new_request(ledger)
        ledger.setup()
        second = ReviewLedger(ledger.conn)
        second.setup()
        second.setup()
    with ReviewLedger.open(db_file) as reopened:
        assert reopened.get(rid).status == "pending"
        versions = reopened.conn.execute("SELECT version FROM hitl_schema").fetchall()
        assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]
        tables = table_names(reopened.conn)
    assert {"hitl_requests", "hitl_decisions", "hitl_events", "hitl_reviews"} <= tables


def test_a_version_1_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    """A file made before review at scale gains the new tables and columns, rows intact."""
    db_file = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(db_file)
    conn.execute("CREATE TABLE hitl_schema (version INTEGER)")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO hitl_schema (version) VALUES (1)")
    conn.execute(
        "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, action_name,"
        " action_args, summary, reasons, status, created_at, payload, args_digest)"
        " VALUES ('req_old', 't-old', 'i', 'pay', '{}', 'old', '[]', 'applied', 1.0, '{}', 'd')"
    )
    conn.execute(
        "INSERT INTO hitl_threads (thread_id, graph, created_at) VALUES ('t-old', 'invoice', 1.0)"
    )
    conn.commit()
    conn.close()
    with ReviewLedger.open(db_file) as ledger:
        versions = ledger.conn.execute("SELECT version FROM hitl_schema").fetchall()
        assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]
        # A thread recorded before roots were: its reference resolves as it always did.
        assert ledger.thread_origin("t-old") == ("invoice", None)
        row = ledger.conn.execute(
            "SELECT status, quorum, level, eligible FROM hitl_requests WHERE request_id = 'req_old'"
        ).fetchone()
        assert row == ("applied", 1, 0, None)
        rid = new_request(ledger, "t-new")
        assert ledger.get(rid).status == "pending"
        assert ledger.routes() == []


def test_setup_beside_other_tables(tmp_path: Path) -> None:
    """The ledger sets up in a file that already holds other tables, leaving them be."""
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE payments (invoice_id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO payments VALUES ('INV-1')")
    conn.close()
    with ReviewLedger.open(path) as ledger:
        assert ledger.pending() == []
        assert ledger.conn.execute("SELECT * FROM payments").fetchall() == [("INV-1",)]


def test_connect_missing_file_without_create(tmp_path: Path) -> None:
    """A missing database is a DatabaseError (exit 2), and no file is created."""
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(DatabaseError, match="no database at"):
        connect(missing, create=False)
    with pytest.raises(DatabaseError), ReviewLedger.open(missing):
        pass
    assert not missing.exists()


def test_connect_random_bytes(tmp_path: Path) -> None:
    """A file that is not SQLite is a DatabaseError, and the file is left as it was."""
    junk = tmp_path / "junk.sqlite"
    content = bytes(range(256)) * 64
    junk.write_bytes(content)
    with pytest.raises(DatabaseError, match="not a database") as info:
        connect(junk, create=False)
    assert info.value.exit_code == 2
    with pytest.raises(DatabaseError), ReviewLedger.open(junk):
        pass
    assert junk.read_bytes() == content


def test_connect_sets_wal_and_busy_timeout(tmp_path: Path) -> None:
    """Every connection uses WAL and waits for other writers."""
    conn = connect(tmp_path / "x.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    finally:
        conn.close()


# -- requests ------------------------------------------------------------------------------


def test_record_request_is_idempotent(ledger: ReviewLedger) -> None:
    """Recording the same interrupt twice gives one request and one `created` event."""
    payload = make_payload()
    interrupt_id = uuid.uuid4().hex
    first = ledger.record_request(thread_id="t-1", interrupt_id=interrupt_id, payload=payload)
    again = ledger.record_request(thread_id="t-1", interrupt_id=interrupt_id, payload=payload)
    assert first == again == request_id_for("t-1", interrupt_id)
    assert len(ledger.pending()) == 1
    assert event_kinds(ledger, first) == ["created"]


def test_request_record_holds_what_was_asked(ledger: ReviewLedger) -> None:
    """A recorded request shows the action, summary, tier and digest, as plain JSON."""
    rid = new_request(ledger, thread_id="INV-7")
    assert rid.startswith("req_") and len(rid) == 16
    rec = ledger.get(rid)
    assert (rec.thread_id, rec.graph, rec.gate, rec.status) == (
        "INV-7",
        "invoice",
        "approve_payment",
        "pending",
    )
    assert rec.request.action.args == {"invoice_id": "INV-7", "amount": 52_000}
    assert rec.args_digest == rec.request.action.digest()
    assert rec.decision is None
    row = rec.to_json()
    assert json.loads(json.dumps(row)) == row
    assert row["tier"] == "high" and row["confidence"] == 0.91
    # What the queue shows is what the validated request says.
    req = rec.request
    assert (rec.action_name, rec.action_args) == (req.action.name, req.action.args)
    assert (rec.summary, rec.tier, rec.confidence) == (req.summary, req.risk_tier, 0.91)
    assert rec.reasons == req.reasons == ["amount over the 10,000 limit"]
    assert ledger.thread_graph("INV-7") == "invoice"


class _Recording:
    """A ledger connection that notes every statement run on it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.ran: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.ran.append((sql, tuple(params)))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def _plan(conn: Any, sql: str, params: tuple[Any, ...]) -> list[str]:
    """How the database runs `sql`: SQLite's query plan; PostgreSQL's with sorting made
    the last resort (`enable_sort = off`), so a sort in it means no index gives the order."""
    if isinstance(conn, sqlite3.Connection):
        return [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    conn.execute("SET enable_sort = off")
    try:
        return [str(row[0]) for row in conn.execute(f"EXPLAIN {sql}", params)]
    finally:
        conn.execute("RESET enable_sort")


def test_the_queue_is_read_in_order_off_an_index(ledger: ReviewLedger) -> None:
    """`pending` reads the queue in the order it shows it straight off an index: it never
    sorts every pending request to return the first few (no temporary B-tree in SQLite's
    plan, no Sort in PostgreSQL's), with or without a filter."""
    for n in range(200):
        new_request(ledger, f"t-{n}", tier=("high", "low")[n % 2])
    ledger.conn.execute("ANALYZE")
    real, recording = ledger.conn, _Recording(ledger.conn)
    ledger.conn = recording
    try:
        assert len(ledger.pending(limit=20)) == len(ledger.pending(tier="low", limit=5)) * 4
    finally:
        ledger.conn = real
    queries = [(sql, params) for sql, params in recording.ran if "ORDER BY" in sql]
    assert len(queries) == 2
    for sql, params in queries:
        plan = _plan(real, sql, params)
        assert any("hitl_requests_queue" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step or "Sort" in step for step in plan), plan


def test_get_unknown_request(ledger: ReviewLedger) -> None:
    """An unknown id is an UnknownRequestError (exit 2)."""
    with pytest.raises(UnknownRequestError, match="req_000000000000"):
        ledger.get("req_000000000000")


def test_pending_oldest_first_and_filtered(ledger: ReviewLedger) -> None:
    """The queue is oldest first, and filters by gate, tier and thread."""
    a = new_request(ledger, "t-a", gate="approve_payment", tier="high")
    b = new_request(ledger, "t-b", gate="approve_refund", tier="low")
    c = new_request(ledger, "t-c", gate="approve_payment", tier="low")
    d = new_request(ledger, "t-a", gate="approve_refund", tier="high")

    def ids(**filters: Any) -> list[str]:
        return [r.request_id for r in ledger.pending(**filters)]

    assert ids() == [a, b, c, d]
    assert ids(gate="approve_payment") == [a, c]
    assert ids(tier="low") == [b, c]
    assert ids(thread_id="t-a") == [a, d]
    assert ids(gate="approve_refund", tier="high") == [d]
    assert ids(limit=2) == [a, b]
    assert ids(gate="nope") == []
    assert ledger.count_pending() == 4
    assert ledger.count_pending(tier="high") == 2
    ledger.record_decision(a, Decision.approve(reviewer="ana"))
    assert ids() == [b, c, d]
    assert [r.request_id for r in ledger.requests("t-a")] == [a, d]


# -- decisions -------------------------------------------------------------------------------


def test_decision_recorded_exactly_once(ledger: ReviewLedger) -> None:
    """The first decision wins; a second is refused, naming who won, and the refusal is kept."""
    rid = new_request(ledger)
    rec = ledger.record_decision(rid, Decision.approve(reviewer="ana", comment="PO matches"))
    assert rec.status == "decided"
    assert rec.decision is not None and rec.decision.reviewer == "ana"
    with pytest.raises(AlreadyDecidedError, match="approve by ana"):
        ledger.record_decision(rid, Decision.reject("duplicate", reviewer="ben"))
    after = ledger.get(rid)
    assert after.decision is not None
    assert (after.decision.type, after.decision.reviewer) == ("approve", "ana")
    assert event_kinds(ledger, rid) == ["created", "decided", "refused"]
    refused = ledger.events(request_id=rid)[-1]
    assert refused["actor"] == "ben" and refused["data"]["type"] == "reject"
    rows = ledger.conn.execute("SELECT COUNT(*) FROM hitl_decisions").fetchone()[0]
    assert rows == 1


def test_a_ledger_in_memory_records_decides_and_chains() -> None:
    """`:memory:` opens without a file: a request, one decision, applied, a sound chain."""
    from langgraph_hitl.ledger.audit import verify

    with ReviewLedger.open(":memory:", create=True) as ledger:
        rid = new_request(ledger)
        ledger.record_decision(rid, Decision.approve(reviewer="ana"))
        with pytest.raises(AlreadyDecidedError):
            ledger.record_decision(rid, Decision.reject("duplicate", reviewer="ben"))
        ledger.mark_applied([rid], actor="ana", outcome="done")
        assert ledger.get(rid).status == "applied"
        assert event_kinds(ledger, rid) == ["created", "decided", "refused", "applied"]
        assert verify(ledger).ok


def test_decision_after_applied_is_already_decided(ledger: ReviewLedger) -> None:
    """A request already applied is refused as already decided too."""
    rid = new_request(ledger)
    ledger.record_decision(rid, Decision.approve(reviewer="ana"))
    ledger.mark_applied([rid], actor="ana", outcome="done")
    with pytest.raises(AlreadyDecidedError):
        ledger.record_decision(rid, Decision.approve(reviewer="ben"))


@pytest.mark.parametrize("status", ["superseded", "cancelled"])
def test_decision_for_closed_request_not_pending(ledger: ReviewLedger, status: str) -> None:
    """A superseded or cancelled request refuses decisions with NotPendingError (exit 3)."""
    rid = new_request(ledger)
    ledger.close_request(rid, status=status, why="thread moved on", actor="ops")
    with pytest.raises(NotPendingError, match=f"is {status}") as info:
        ledger.record_decision(rid, Decision.approve(reviewer="ana"))
    assert info.value.exit_code == 3
    rec = ledger.get(rid)
    assert (rec.status, rec.decision) == (status, None)
    assert event_kinds(ledger, rid) == ["created", status, "refused"]


def test_decision_against_other_args_refused(ledger: ReviewLedger) -> None:
    """A decision made for args other than the request's is refused; the request stays pending."""
    rid = new_request(ledger, amount=52_000)
    seen = Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 5_200}).digest()
    with pytest.raises(NotPendingError, match="changed since it was shown"):
        ledger.record_decision(rid, Decision.approve(reviewer="ana", seen_digest=seen))
    assert ledger.get(rid).status == "pending"
    current = ledger.get(rid).args_digest
    rec = ledger.record_decision(rid, Decision.approve(reviewer="ana", seen_digest=current))
    assert rec.status == "decided"


def test_decision_for_unknown_request(ledger: ReviewLedger) -> None:
    """Deciding an unknown id is an UnknownRequestError and writes nothing."""
    with pytest.raises(UnknownRequestError):
        ledger.record_decision("req_000000000000", Decision.approve(reviewer="ana"))
    assert ledger.events() == []


def test_applying_is_recorded_once(ledger: ReviewLedger) -> None:
    """Decided requests wait in to_apply until marked applied, once."""
    rid = new_request(ledger, "t-1")
    other = new_request(ledger, "t-2")
    ledger.record_decision(rid, Decision.approve(reviewer="ana"))
    assert [r.request_id for r in ledger.to_apply()] == [rid]
    assert ledger.to_apply("t-2") == []
    ledger.mark_apply_started([rid], "lease-1")
    started = ledger.get(rid).apply_started_at
    ledger.mark_apply_started([rid], "lease-1")
    assert ledger.get(rid).apply_started_at == started is not None
    ledger.mark_applied([rid, other], actor="ana", outcome="done")
    ledger.mark_applied([rid], actor="ana", outcome="done")
    assert ledger.get(rid).status == "applied"
    assert ledger.get(other).status == "pending"  # never decided: not applied
    assert event_kinds(ledger, rid) == ["created", "decided", "applied"]
    assert ledger.to_apply() == []
    ledger.close_request(rid, status="superseded", why="late", actor="ops")
    assert ledger.get(rid).status == "applied"


def test_settle_task_marks_direct_answers(ledger: ReviewLedger) -> None:
    """A direct answer the gate recorded is applied once LangGraph saved it; the gate's
    claim on the thread is released then."""
    answered = new_request(ledger, "t-1")
    ledger.record_decision(answered, Decision.approve(reviewer="ana"))
    assert ledger.acquire_lease("t-1", "gate-claim")
    ledger.claim(answered, "gate-claim")
    ledger.settle_task("t-1", "task-1", [{"type": "approve"}], finished=True, direct=True)
    rec = ledger.get(answered)
    assert rec.status == "applied"
    assert rec.decision is not None and rec.decision.type == "approve"
    event = ledger.events(request_id=answered)[-1]
    assert (event["kind"], event["data"]) == ("answered_directly", {"answer": {"type": "approve"}})
    assert ledger.lease_holder("t-1") is None


def test_settle_task_never_records_a_decision(ledger: ReviewLedger) -> None:
    """An answer LangGraph saved for a request nobody recorded a decision on stays out of
    the ledger's decisions: only the desk or the gate, under the rules, record one."""
    pending = new_request(ledger, "t-1")
    ledger.settle_task("t-1", "task-1", [{"type": "approve"}], finished=True, direct=True)
    assert ledger.get(pending).status == "pending"
    assert ledger.get(pending).decision is None


def test_settle_task_answer_the_gate_refused_is_superseded(ledger: ReviewLedger) -> None:
    """An answer the gate refused (it asked again) is no decision: superseded, new one pending."""
    refused = new_request(ledger, "t-1")
    asked_again = ledger.record_request(
        thread_id="t-1", interrupt_id=uuid.uuid4().hex, payload=make_payload(), task_id="task-1"
    )
    ledger.settle_task("t-1", "task-1", [{"type": "respond", "message": "x"}], finished=False)
    assert ledger.get(refused).status == "superseded"
    assert ledger.get(refused).decision is None
    assert ledger.get(asked_again).status == "pending"
    kinds = [e["kind"] for e in ledger.events(request_id=refused)]
    assert kinds[-1] == "answer_refused_by_gate"


# -- resolving an id ---------------------------------------------------------------------------


def test_resolve_by_request_or_thread(ledger: ReviewLedger) -> None:
    """A reviewer may name a request or its thread, if the thread has one pending."""
    rid = new_request(ledger, "INV-7")
    assert ledger.resolve(rid).request_id == rid
    assert ledger.resolve("INV-7").request_id == rid


def test_resolve_thread_with_several_pending(ledger: ReviewLedger) -> None:
    """A thread with several pending requests is ambiguous: the error lists them."""
    first = new_request(ledger, "INV-7")
    second = new_request(ledger, "INV-7", gate="approve_vendor")
    with pytest.raises(BadInputError, match="2 pending requests") as info:
        ledger.resolve("INV-7")
    assert first in str(info.value) and second in str(info.value)


def test_resolve_thread_with_nothing_pending(ledger: ReviewLedger) -> None:
    """A known thread with nothing pending is a conflict naming its last request."""
    rid = new_request(ledger, "INV-7")
    ledger.record_decision(rid, Decision.approve(reviewer="ana"))
    with pytest.raises(NotPendingError, match=rid):
        ledger.resolve("INV-7")
    assert ledger.resolve("INV-7", status="decided").request_id == rid


def test_resolve_unknown(ledger: ReviewLedger) -> None:
    """An id that is neither a request nor a thread is UnknownRequestError."""
    with pytest.raises(UnknownRequestError, match="no-such-thread"):
        ledger.resolve("no-such-thread")


# -- leases ----------------------------------------------------------------------------------


def test_held_lease_blocks_another_owner(ledger: ReviewLedger) -> None:
    """While one process holds a thread, another cannot take it; it can after release."""
    mine, theirs = lease_owner(), lease_owner()
    assert mine != theirs
    assert ledger.acquire_lease("INV-7", mine)
    assert ledger.acquire_lease("INV-7", mine)  # re-entrant for the holder
    assert not ledger.acquire_lease("INV-7", theirs)
    ledger.release_lease("INV-7", theirs)  # not theirs to release
    assert not ledger.acquire_lease("INV-7", theirs)
    ledger.release_lease("INV-7", mine)
    assert ledger.acquire_lease("INV-7", theirs)


def test_expired_lease_is_taken_over(ledger: ReviewLedger) -> None:
    """A lease past its expiry is taken over by the next owner."""
    assert ledger.acquire_lease("INV-7", lease_owner(), ttl=-1.0)
    assert ledger.acquire_lease("INV-7", lease_owner())


def test_lease_of_dead_process_is_taken_over(ledger: ReviewLedger) -> None:
    """A lease held by a process on this host that has exited is taken over at once."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}:deadbeef"
    assert ledger.acquire_lease("INV-7", dead)
    assert ledger.acquire_lease("INV-7", lease_owner())


def test_lease_of_live_or_remote_process_is_kept(ledger: ReviewLedger) -> None:
    """A live process here, or a process on another host, keeps its lease until expiry."""
    live = f"{socket.gethostname()}:{os.getpid()}:0000aaaa"
    assert ledger.acquire_lease("t-live", live)
    assert not ledger.acquire_lease("t-live", lease_owner())
    remote = "some-other-host.invalid:1:0000bbbb"
    assert ledger.acquire_lease("t-remote", remote)
    assert not ledger.acquire_lease("t-remote", lease_owner())


def decided_threads(ledger: ReviewLedger, *thread_ids: str) -> None:
    """A request per thread, each decided (oldest first), none applied."""
    for thread_id in thread_ids:
        rid = new_request(ledger, thread_id)
        ledger.record_decision(rid, Decision.approve(reviewer="mia"))


def test_claims_take_decided_threads_oldest_first_each_once(ledger: ReviewLedger) -> None:
    """Workers claim what waits: the oldest decision first, each thread by one of them,
    never a thread whose lease a live process holds, nothing once all are taken."""
    new_request(ledger, "t-pending")  # not decided: nothing to apply
    decided_threads(ledger, "t-1", "t-2", "t-3")
    live = f"{socket.gethostname()}:{os.getpid()}:0000aaaa"
    assert ledger.acquire_lease("t-2", live)
    first, second = lease_owner(), lease_owner()
    assert ledger.claim_next(first) == "t-1"
    assert ledger.claim_next(second) == "t-3"
    assert ledger.claim_next(second) is None
    assert ledger.lease_holder("t-1") == first
    assert ledger.lease_holder("t-3") == second
    assert ledger.claim_next(first, skip=["t-1"]) is None  # tried already this round
    ledger.release_lease("t-2", live)
    assert ledger.claim_next(second) == "t-2"


def test_a_claim_passes_over_a_thread_another_claim_has_locked(postgres_dsn: str) -> None:
    """On PostgreSQL a claim does not queue behind another worker's: a thread row that
    another transaction holds is skipped (`FOR UPDATE SKIP LOCKED`), and the claim does
    not take the ledger's write lock (it appends no event)."""
    import psycopg

    with ReviewLedger.open(postgres_dsn, create=True) as ledger:
        decided_threads(ledger, "t-1", "t-2")
    with psycopg.connect(postgres_dsn) as holder, ReviewLedger.open(postgres_dsn) as ledger:
        # Another worker mid-claim: t-1's row locked, and the ledger's write lock held
        # (as a decision being recorded would hold it), both until `holder` ends.
        holder.execute("SELECT 1 FROM hitl_threads WHERE thread_id = 't-1' FOR UPDATE")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        # A guard against a hang, not a measure: a claim that queued would fail here.
        ledger.conn.execute("SET lock_timeout = '20s'")
        assert ledger.claim_next(lease_owner()) == "t-2"
        holder.rollback()
        assert ledger.claim_next(lease_owner()) == "t-1"


# -- the event log ------------------------------------------------------------------------------


def chain_hash(prev: str, row: tuple[Any, ...], subject: str | None) -> str:
    """An event's hash, computed here independently: its content, and the digest of the
    request row it left (when it is about a request), chained to the previous hash."""
    seq, at, kind, request_id, thread_id, actor, data = row
    content = [seq, at, kind, request_id, thread_id, actor, data]
    if subject is not None:
        content.append(subject)
    return hashlib.sha256((prev + canonical_json(content)).encode()).hexdigest()


def test_event_log_is_a_hash_chain(ledger: ReviewLedger) -> None:
    """Each event's prev_hash is the previous event's hash; editing a row breaks the chain."""
    rid = new_request(ledger, "INV-7")
    ledger.add_event("shown", request_id=rid, thread_id="INV-7", actor="ana")
    ledger.record_decision(rid, Decision.approve(reviewer="ana"))
    with pytest.raises(AlreadyDecidedError):
        ledger.record_decision(rid, Decision.approve(reviewer="ben"))
    ledger.mark_applied([rid], actor="ana", outcome="done")
    rows = ledger.conn.execute(
        "SELECT seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash, subject "
        "FROM hitl_events ORDER BY seq"
    ).fetchall()
    assert [r[2] for r in rows] == ["created", "shown", "decided", "refused", "applied"]
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][7] == "0" * 64
    for before, row in itertools.pairwise(rows):
        assert row[7] == before[8]
    for row in rows:
        assert chain_hash(row[7], row[:7], row[9]) == row[8]
    # Every event about the request carries its row's digest as the event left it.
    assert all(row[9] is not None for row in rows)
    assert len({row[9] for row in rows}) == 3  # created/shown, decided/refused, applied
    # Someone rewrites who approved: the stored hash no longer matches the row.
    ledger.conn.execute("UPDATE hitl_events SET actor = 'mallory' WHERE seq = 3")
    tampered = ledger.conn.execute(
        "SELECT seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash, subject "
        "FROM hitl_events WHERE seq = 3"
    ).fetchone()
    assert chain_hash(tampered[7], tampered[:7], tampered[9]) != tampered[8]


def test_events_filtered_by_request_and_thread(ledger: ReviewLedger) -> None:
    """History reads one request's or one thread's events, oldest first."""
    a = new_request(ledger, "t-a")
    b = new_request(ledger, "t-b")
    ledger.record_decision(b, Decision.reject("dup", reviewer="ana"))
    assert [e["kind"] for e in ledger.events(request_id=a)] == ["created"]
    assert [e["kind"] for e in ledger.events(thread_id="t-b")] == ["created", "decided"]
    decided = ledger.events(thread_id="t-b")[-1]
    assert decided["actor"] == "ana" and decided["data"]["reason"] == "dup"
    assert len(ledger.events()) == 3


# -- after-the-fact reviews ----------------------------------------------------------------------


def test_queue_review_is_idempotent_and_closes_once(ledger: ReviewLedger) -> None:
    """Queueing the same work twice gives one item; closing it twice is refused."""
    request = ApprovalRequest.model_validate(make_payload(amount=640)["request"])
    first = ledger.queue_review(thread_id="INV-2", request=request, graph="invoice", node="q")
    again = ledger.queue_review(thread_id="INV-2", request=request, graph="invoice", node="q")
    assert first == again and first.startswith("rev_")
    (item,) = ledger.reviews()
    assert (item.review_id, item.status, item.action["args"]["amount"]) == (first, "open", 640)
    assert json.loads(json.dumps(item.to_json())) == item.to_json()
    closed = ledger.close_review(first, problem="wrong cost centre", reviewer="ana")
    assert (closed.status, closed.note, closed.reviewer) == ("problem", "wrong cost centre", "ana")
    with pytest.raises(AlreadyDecidedError, match="already closed"):
        ledger.close_review(first, problem=None, reviewer="ben")
    assert ledger.reviews() == []
    assert [r.review_id for r in ledger.reviews(status="problem")] == [first]
    assert [e["kind"] for e in ledger.events(request_id=first)] == [
        "queued_for_review",
        "reviewed",
    ]


def test_close_review_ok_and_unknown(ledger: ReviewLedger) -> None:
    """A review closed as fine is `ok`; an unknown review id is UnknownRequestError."""
    request = ApprovalRequest.model_validate(make_payload(amount=640)["request"])
    rid = ledger.queue_review(thread_id="INV-2", request=request)
    assert ledger.close_review(rid, problem=None, reviewer="ana").status == "ok"
    with pytest.raises(UnknownRequestError):
        ledger.close_review("rev_000000000000", problem=None, reviewer="ana")


def test_register_thread_first_graph_wins(ledger: ReviewLedger) -> None:
    """A thread keeps the graph it was first run with."""
    ledger.register_thread("t-1", None)
    ledger.register_thread("t-1", "invoice")
    ledger.register_thread("t-1", "other")
    assert ledger.thread_graph("t-1") == "invoice"
    assert ledger.thread_graph("t-unknown") is None


def test_register_thread_keeps_the_root_its_graph_came_with(ledger: ReviewLedger) -> None:
    """A root goes with the first graph; a graph named before its root (a node logging
    its route) gets the root later; another graph's root never replaces it."""
    ledger.register_thread("leased", None)
    ledger.register_thread("leased", "invoice", root="/srv/app")
    ledger.register_thread("routed", "invoice")
    ledger.register_thread("routed", "invoice", root="/srv/app")
    ledger.register_thread("routed", "invoice", root="/elsewhere")
    ledger.register_thread("other", "invoice", root="/srv/app")
    ledger.register_thread("other", "payroll", root="/srv/payroll")
    assert ledger.thread_origin("leased") == ("invoice", "/srv/app")
    assert ledger.thread_origin("routed") == ("invoice", "/srv/app")
    assert ledger.thread_origin("other") == ("invoice", "/srv/app")
    assert ledger.thread_origin("unknown") == (None, None)
    assert ledger.thread_origins()["routed"] == ("invoice", "/srv/app")


# -- hostile values ------------------------------------------------------------------------------


def test_values_are_bound_not_spliced(ledger: ReviewLedger) -> None:
    """Quotes, semicolons and SQL in ids and text are stored verbatim and run nothing."""
    evil_thread = "t'; DROP TABLE hitl_requests; --"
    evil_summary = "Pay \"INV-7\"; it's fine'); DELETE FROM hitl_events; --"
    evil_reviewer = "Robert'); DROP TABLE hitl_decisions;--"
    rid = new_request(ledger, evil_thread, summary=evil_summary, invoice_id=INJECTION)
    rec = ledger.get(rid)
    assert rec.thread_id == evil_thread
    assert rec.request.summary == evil_summary
    assert rec.request.action.args["invoice_id"] == INJECTION
    assert ledger.pending(gate="x' OR '1'='1") == []
    assert ledger.pending(thread_id="t' OR 1=1 --") == []
    assert [r.request_id for r in ledger.pending(thread_id=evil_thread)] == [rid]
    assert ledger.resolve(evil_thread).request_id == rid
    decided = ledger.record_decision(
        rid, Decision.reject("it's a '; DROP TABLE --", reviewer=evil_reviewer)
    )
    assert decided.decision is not None
    assert decided.decision.reviewer == evil_reviewer
    assert decided.decision.reason == "it's a '; DROP TABLE --"
    assert [e["actor"] for e in ledger.events(thread_id=evil_thread)] == [None, evil_reviewer]
    names = table_names(ledger.conn)
    assert {"hitl_requests", "hitl_decisions", "hitl_events"} <= names


# -- concurrency ---------------------------------------------------------------------------------


def test_racing_deciders_one_wins(db_file: Path) -> None:
    """Eight reviewers deciding one request at once, each on its own connection: one wins."""
    with ReviewLedger.open(db_file) as ledger:
        rid = new_request(ledger)
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def decide(i: int) -> None:
        conn = connect(db_file, create=False)
        try:
            mine = ReviewLedger(conn)
            mine.setup()
            barrier.wait()
            try:
                mine.record_decision(rid, Decision.approve(reviewer=f"reviewer-{i}"))
                result = f"won:{i}"
            except AlreadyDecidedError:
                result = "refused"
        except Exception as err:  # surfaced in the assertion below
            result = f"error:{err!r}"
        finally:
            conn.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won:")]
    assert len(winners) == 1, outcomes
    assert outcomes.count("refused") == workers - 1, outcomes
    with ReviewLedger.open(db_file) as ledger:
        rec = ledger.get(rid)
        assert rec.decision is not None
        assert rec.decision.reviewer == f"reviewer-{winners[0].split(':')[1]}"
        kinds = event_kinds(ledger, rid)
        assert kinds.count("decided") == 1 and kinds.count("refused") == workers - 1
        count = ledger.conn.execute("SELECT COUNT(*) FROM hitl_decisions").fetchone()[0]
        assert count == 1
