"""The tamper-evident audit trail: verify the event log's hash chain and what it covers.

Every event row carries the hash of the row before it and a hash of its own content
(`ledger.event_hash`). Editing, deleting or reordering events breaks a link, and
`verify` names the first one. The chain also vouches for every row that decides what
gets done:

- **requests** (what is asked, of which roles, at which level, with what quorum, where
  it stands, which decision) and their **quorum votes**: each event about a request
  carries a digest of the request's row and votes as the event left it, so a row added,
  deleted or edited afterwards no longer matches the last event about it; the args,
  kept once under their digest (`_args`), must hash to it;
- **decisions**: each is checked, column by column, against the `decided` event that
  recorded it; a decision row with no such event, or a `decided` event whose decision
  row is gone, shows;
- **reviewers and their roles**: replaying the `reviewer_added` / `changed` / `removed`
  events must give the table as it is.

Cutting events off the end leaves no broken link: compare the head hash with one kept
elsewhere (`verify(expect_head=...)`, `langgraph-hitl audit verify --expect-head`).
Requests written before the ledger kept row digests (schema version 3) are checked for
their `created` event only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger import GENESIS_HASH, ReviewLedger, event_hash
from langgraph_hitl.ledger._args import trail_form
from langgraph_hitl.ledger.events import subject_digest
from langgraph_hitl.ledger.requests import args_match_in
from langgraph_hitl.ledger.store import Connection

_EVENT_COLUMNS = "seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash, subject"
_HEAD = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """What `verify` found.

    Example:
        >>> report = verify(ledger)
        >>> report.ok, report.events, len(report.head)
        (True, 253, 64)
        >>> import sqlite3
        >>> db = sqlite3.connect("hitl.sqlite")  # someone rewrites who approved, by hand
        >>> db.execute("UPDATE hitl_decisions SET reviewer = 'sam' WHERE reviewer = 'rex'").rowcount
        6
        >>> db.commit()
        >>> db.close()
        >>> report = verify(ledger)
        >>> report.ok, report.problem
        (False, 'the decision on req_... differs from the one its event recorded')
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


def _rows(conn: Connection) -> Iterator[tuple[Any, ...]]:
    yield from conn.execute(f"SELECT {_EVENT_COLUMNS} FROM hitl_events ORDER BY seq")


@dataclass
class _Seen:
    """What the chain says, gathered while walking it."""

    subjects: dict[str, str | None]
    """Per request: the row digest its last event carried (None: written before digests)."""
    decided: dict[str, tuple[int, str, str | None]]
    """Per request: the last `decided` event's seq, data and actor."""
    reviewers: dict[str, str]

    def note(
        self,
        kind: str,
        request_id: str | None,
        actor: str | None,
        data: str,
        seq: int,
        subject: str | None,
    ) -> None:
        if request_id is not None and subject is not None:
            self.subjects[request_id] = subject
        elif request_id is not None and kind == "created":
            self.subjects.setdefault(request_id, None)
        if kind == "decided" and request_id is not None:
            self.decided[request_id] = (seq, data, actor)
        if kind in ("reviewer_added", "reviewer_changed", "reviewer_removed"):
            body = json.loads(data)
            if kind == "reviewer_removed":
                self.reviewers.pop(body.get("name"), None)
            else:
                self.reviewers[body.get("name")] = body.get("role")


def verify(ledger: ReviewLedger, *, expect_head: str | None = None) -> AuditReport:
    """Walk the chain from the first event, then check the rows it vouches for.

    Raises `BadInputError` for an `expect_head` that is not a hash.
    """
    if expect_head is not None and not _HEAD.match(expect_head):
        raise BadInputError(
            f"--expect-head {expect_head[:80]!r} is malformed: a head hash is 64 hex digits,"
            " as `audit verify` prints it"
        )
    with ledger.snapshot() as conn:  # the chain and the rows it vouches for, as of one moment
        return _verify(conn, expect_head)


def _verify(conn: Connection, expect_head: str | None) -> AuditReport:
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    seen = _Seen(subjects={}, decided={}, reviewers={})
    for seq, at, kind, request_id, thread_id, actor, data, prev_hash, digest, subject in _rows(
        conn
    ):
        count += 1
        problem = None
        if seq != expected_seq:
            problem = f"expected event {expected_seq}, found {seq}: rows deleted or reordered"
        elif prev_hash != prev:
            problem = f"event {seq} does not follow event {seq - 1}: rows deleted or reordered"
        elif (
            event_hash(prev, (seq, at, kind, request_id, thread_id, actor, data), subject) != digest
        ):
            problem = f"event {seq} ({kind}) was altered after it was written"
        if problem is not None:
            return AuditReport(ok=False, events=count, head=prev, broken_at=seq, problem=problem)
        seen.note(kind, request_id, actor, data, seq, subject)
        prev, expected_seq = digest, seq + 1
    problem = _rows_problem(conn, seen)
    if problem is not None:
        return AuditReport(ok=False, events=count, head=prev, problem=problem)
    if expect_head is not None and expect_head != prev:
        return AuditReport(
            ok=False,
            events=count,
            head=prev,
            problem=f"the chain ends at {prev[:12]}, not at the expected {expect_head[:12]}:"
            " events were cut off the end or added",
        )
    return AuditReport(ok=True, events=count, head=prev)


def _stamp(wire: dict[str, Any]) -> float | None:
    """A decision's time as the ledger's `decided_at` column holds it."""
    from datetime import datetime

    text = wire.get("decided_at")
    return None if not isinstance(text, str) else datetime.fromisoformat(text).timestamp()


def _rows_problem(conn: Connection, seen: _Seen) -> str | None:
    """The first row the chain does not vouch for, in words; None when all check out."""
    requests = [r for (r,) in conn.execute("SELECT request_id FROM hitl_requests")]
    for request_id in requests:
        if request_id not in seen.subjects:
            return f"request {request_id} has no event: it was added afterwards"
        vouched = seen.subjects[request_id]
        if vouched is not None and subject_digest(conn, request_id) != vouched:
            return (
                f"request {request_id} (or its votes) differs from what its last event"
                " recorded: it was edited afterwards"
            )
        if not args_match_in(conn, request_id):
            return (
                f"the args of request {request_id} do not hash to its digest: they were"
                " edited afterwards"
            )
    gone = sorted(set(seen.subjects) - set(requests))
    if gone:
        return f"request {gone[0]} is in the trail but not in the ledger: it was deleted"
    decisions = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT request_id, type, reviewer, comment, payload, decided_at FROM hitl_decisions"
        )
    }
    for request_id, (kind, reviewer, comment, payload, decided_at) in decisions.items():
        recorded = seen.decided.get(request_id)
        if recorded is None:
            return f"the decision on {request_id} has no event: it was added afterwards"
        _, data, actor = recorded
        told_wire = json.loads(data)
        wire = json.loads(payload)
        columns = (kind, reviewer, comment, decided_at)
        told = (wire.get("type"), wire.get("reviewer"), wire.get("comment"), _stamp(wire))
        # The event holds edited args as their digest (`trail_form`); before that, whole.
        if told_wire not in (trail_form(wire), wire) or columns != told or reviewer != actor:
            return f"the decision on {request_id} differs from the one its event recorded"
    for request_id in sorted(set(seen.decided) - set(decisions)):
        if request_id in requests:
            return f"the decision on {request_id} is in the trail but not in the ledger: deleted"
    reviewers = dict(conn.execute("SELECT name, role FROM hitl_reviewers").fetchall())
    if reviewers != seen.reviewers:
        for name in sorted(set(reviewers) | set(seen.reviewers)):
            if reviewers.get(name) != seen.reviewers.get(name):
                return (
                    f"reviewer {name!r} is {reviewers.get(name) or 'missing'} in the ledger,"
                    f" {seen.reviewers.get(name) or 'missing'} in the trail: changed afterwards"
                )
    return None


def export(ledger: ReviewLedger, out: TextIO) -> int:
    """Write every event as one JSON line, with its hashes, for an auditor. Returns the count."""
    count = 0
    with ledger.snapshot() as conn:
        for row in _rows(conn):
            seq, at, kind, request_id, thread_id, actor, data, prev_hash, digest, subject = row
            line = {
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
                "subject": subject,
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    return count
