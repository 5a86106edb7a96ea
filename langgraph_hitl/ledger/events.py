"""The event log: every change that decides what gets done, hash-chained, with its
notification outbox written in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock, iso
from langgraph_hitl.ledger.store import Connection, LedgerStore

NOTIFY_KINDS = frozenset({"created", "decided", "escalated", "timed_out", "cancelled", "overdue"})
"""Events that also go to the notification outbox."""


GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first event."""


def event_hash(prev_hash: str, row: Sequence[Any], subject: str | None = None) -> str:
    """An event's hash: SHA-256 over the previous hash and the row's own content.

    `row` is `(seq, at, kind, request_id, thread_id, actor, data_json)`; `subject`, when
    the event is about a request, the digest of that request's row as the event left it
    (events written before subjects existed have none, and hash as they always did).
    """
    content = list(row) if subject is None else [*row, subject]
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


SUBJECT_COLUMNS = (
    "request_id, thread_id, interrupt_id, graph, gate, action_name, action_args, payload,"
    " args_digest, status, required_role, eligible, level, quorum, owner, deadline,"
    " decision_id, proposal, proposal_digest"
)
"""The columns of a request that decide what gets done (what is asked, of whom, where
it stands, which decision); bookkeeping (when it was opened, who is applying it, the
last error) is left out."""


def subject_digest(conn: Connection, request_id: str) -> str | None:
    """The digest of a request's deciding columns and its quorum votes; None if no such row.

    Every event about a request carries it, in the same transaction as the change it
    records, so the audit trail vouches for the row as it is (`audit.verify`).
    """
    row = conn.execute(
        f"SELECT {SUBJECT_COLUMNS} FROM hitl_requests WHERE request_id = ?", (request_id,)
    ).fetchone()
    if row is None:
        return None
    votes = conn.execute(
        "SELECT reviewer, type, comment, digest FROM hitl_votes WHERE request_id = ?"
        " ORDER BY reviewer",
        (request_id,),
    ).fetchall()
    content = canonical_json([list(row), [list(vote) for vote in votes]])
    return hashlib.sha256(content.encode()).hexdigest()


class Events(LedgerStore):
    """The ledger's append-only, hash-chained event log."""

    def append_event(
        self,
        conn: Connection,
        kind: str,
        *,
        request_id: str | None = None,
        thread_id: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> None:
        """Append one event inside the caller's write transaction (`write()`), with the
        request's subject digest and, for the kinds in `NOTIFY_KINDS`, its outbox row."""
        # Inside a write transaction: the chain's tail cannot move under us.
        last = conn.execute(
            "SELECT seq, hash FROM hitl_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        at = clock() if at is None else at
        body = canonical_json(data or {})
        subject = None if request_id is None else subject_digest(conn, request_id)
        digest = event_hash(prev, (seq, at, kind, request_id, thread_id, actor, body), subject)
        conn.execute(
            "INSERT INTO hitl_events (seq, at, kind, request_id, thread_id, actor, data,"
            " prev_hash, hash, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, kind, request_id, thread_id, actor, body, prev, digest, subject),
        )
        if kind == "decided":
            self.backend.announce_work(conn, thread_id)
        if kind in NOTIFY_KINDS:
            # Same transaction as the event: a notification is never lost, and sending
            # it (see `langgraph_hitl.notify`) never holds up the graph.
            conn.execute(
                "INSERT INTO hitl_outbox (event_seq, kind, request_id, thread_id, body,"
                " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    kind,
                    request_id,
                    thread_id,
                    canonical_json(
                        {
                            "seq": seq,
                            "at": at,
                            "kind": kind,
                            "request_id": request_id,
                            "thread_id": thread_id,
                            "actor": actor,
                            "data": data or {},
                        }
                    ),
                    at,
                    at,
                ),
            )

    def add_event(
        self,
        kind: str,
        *,
        request_id: str | None = None,
        thread_id: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append one event to the log (e.g. `shown` when a reviewer opens a request)."""
        with self.write() as conn:
            self.append_event(
                conn, kind, request_id=request_id, thread_id=thread_id, actor=actor, data=data
            )
            if kind == "shown" and request_id is not None:
                # The first time a reviewer opened it: time-to-correct starts here.
                conn.execute(
                    "UPDATE hitl_requests SET opened_at = COALESCE(opened_at, ?)"
                    " WHERE request_id = ?",
                    (clock(), request_id),
                )

    def kinds_since(self, seq: int | None) -> tuple[int, frozenset[str]]:
        """The newest event's `seq`, and the kinds of the events after `seq` (none when
        `seq` is None): how a live view learns that something changed, off the primary
        key, without reading what the events say."""
        if seq is None:
            return int(self.read("SELECT MAX(seq) FROM hitl_events")[0][0] or 0), frozenset()
        rows = self.read(
            "SELECT kind, MAX(seq) FROM hitl_events WHERE seq > ? GROUP BY kind", (seq,)
        )
        return max((int(last) for _, last in rows), default=seq), frozenset(k for k, _ in rows)

    def events(
        self, *, request_id: str | None = None, thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Events for a request or a thread, oldest first."""
        if request_id is not None:
            sql, params = "WHERE request_id = ?", (request_id,)
        elif thread_id is not None:
            sql, params = "WHERE thread_id = ?", (thread_id,)
        else:
            sql, params = "", ()  # type: ignore[assignment]
        rows = self.read(
            "SELECT seq, at, kind, request_id, thread_id, actor, data FROM hitl_events "
            f"{sql} ORDER BY seq",
            params,
        )
        return [
            {
                "seq": seq,
                "at": iso(at),
                "kind": kind,
                "request_id": rid,
                "thread_id": tid,
                "actor": actor,
                "data": json.loads(data),
            }
            for seq, at, kind, rid, tid, actor, data in rows
        ]
