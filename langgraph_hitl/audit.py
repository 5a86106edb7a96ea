"""The tamper-evident audit trail: verify the event log's hash chain, export it.

Every event row carries the hash of the row before it and a hash of its own content
(`ledger.event_hash`). Editing, deleting or reordering rows breaks a link, and
`verify` names the first one. Decisions are checked against the `decided` event that
recorded them, and quorum votes against the event of each vote, so a decision or vote
row edited or added afterwards shows too. Cutting rows off the
end leaves no broken link: compare the head hash with one kept elsewhere
(`verify(expect_head=...)`, `langgraph-hitl audit verify --expect-head`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from langgraph_hitl._args import trail_form
from langgraph_hitl.ledger import GENESIS_HASH, ReviewLedger, event_hash

_EVENT_COLUMNS = "seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash"


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """What `verify` found.

    Example:
        >>> report = verify(ledger)  # doctest: +SKIP
        >>> report.ok, report.events, report.head[:12]  # doctest: +SKIP
        (True, 412, '9c1e0b7a44d2')
    """

    ok: bool
    events: int
    head: str
    """Hash of the last event: keep it elsewhere to detect rows cut off the end."""
    broken_at: int | None = None
    """The `seq` of the first event (or decision's event) that does not check out."""
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def _rows(ledger: ReviewLedger) -> Iterator[tuple[Any, ...]]:
    cursor = ledger.conn.execute(f"SELECT {_EVENT_COLUMNS} FROM hitl_events ORDER BY seq")
    yield from cursor


def verify(ledger: ReviewLedger, *, expect_head: str | None = None) -> AuditReport:
    """Walk the chain from the first event and report the first broken link."""
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    decided: dict[str, str] = {}
    voted: set[tuple[str, str | None]] = set()
    for seq, at, kind, request_id, thread_id, actor, data, prev_hash, digest in _rows(ledger):
        count += 1
        problem = None
        if seq != expected_seq:
            problem = f"expected event {expected_seq}, found {seq}: rows deleted or reordered"
        elif prev_hash != prev:
            problem = f"event {seq} does not follow event {seq - 1}: rows deleted or reordered"
        elif event_hash(prev, (seq, at, kind, request_id, thread_id, actor, data)) != digest:
            problem = f"event {seq} ({kind}) was altered after it was written"
        if problem is not None:
            return AuditReport(ok=False, events=count, head=prev, broken_at=seq, problem=problem)
        if kind == "decided" and request_id is not None:
            decided[request_id] = data
        if kind in ("decided", "approval_recorded") and request_id is not None:
            voted.add((request_id, actor))
        prev, expected_seq = digest, seq + 1
    rows = ledger.conn.execute("SELECT request_id, payload FROM hitl_decisions").fetchall()
    for request_id, payload in rows:
        recorded = decided.get(request_id)
        # The event holds edited args as their digest (`trail_form`); before that, whole.
        wire = json.loads(payload)
        if recorded is not None and json.loads(recorded) not in (trail_form(wire), wire):
            return AuditReport(
                ok=False,
                events=count,
                head=prev,
                problem=f"the decision on {request_id} differs from the one its event recorded",
            )
    votes = ledger.conn.execute("SELECT request_id, reviewer FROM hitl_votes").fetchall()
    for request_id, reviewer in votes:
        if (request_id, reviewer) not in voted:
            return AuditReport(
                ok=False,
                events=count,
                head=prev,
                problem=f"the vote of {reviewer} on {request_id} has no event: it was added"
                " afterwards",
            )
    if expect_head is not None and expect_head != prev:
        return AuditReport(
            ok=False,
            events=count,
            head=prev,
            problem=f"the chain ends at {prev[:12]}, not at the expected {expect_head[:12]}:"
            " events were cut off the end or added",
        )
    return AuditReport(ok=True, events=count, head=prev)


def export(ledger: ReviewLedger, out: TextIO) -> int:
    """Write every event as one JSON line, with its hashes, for an auditor. Returns the count."""
    count = 0
    for seq, at, kind, request_id, thread_id, actor, data, prev_hash, digest in _rows(ledger):
        row = {
            "seq": seq,
            "at": at,
            "kind": kind,
            "request_id": request_id,
            "thread_id": thread_id,
            "actor": actor,
            "data": json.loads(data),
            "data_json": data,
            "prev_hash": prev_hash,
            "hash": digest,
        }
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
