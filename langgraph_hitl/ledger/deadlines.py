"""Deadlines and cancellation: what is overdue, one step up the escalation chain, and
threads called off."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock
from langgraph_hitl.errors import (
    NotAuthorizedError,
    NotPendingError,
    UnknownRequestError,
)
from langgraph_hitl.ledger._args import payload_sql
from langgraph_hitl.ledger.decisions import Decisions
from langgraph_hitl.ledger.records import RequestRecord

SWEEP_ACTOR = "langgraph-hitl:sweep"
"""Who the trail names for what `sweep` decides when a deadline ran out."""


class Deadlines(Decisions):
    """Overdue requests, the sweep's steps, and cancelled threads."""

    def overdue(self, now: float | None = None) -> list[RequestRecord]:
        """Pending requests whose deadline has passed, most overdue first."""
        now = clock() if now is None else now
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE status = 'pending'"
            " AND deadline IS NOT NULL AND deadline <= ? ORDER BY deadline, request_id",
            (now,),
        )
        return [self._record(row) for row in rows]

    def sweep_step(self, request_id: str, *, level: int, now: float | None = None) -> str | None:
        """Take one overdue request one step along its chain, once.

        Returns `escalated` (it moved to the next role, with a new deadline),
        `timed_out` (the chain ran out: the request's `on_timeout` decision is recorded,
        to be applied), or None when there was nothing to do: it is not overdue any more,
        or another sweep took this step first (`level` is the step the caller saw).
        """
        now = clock() if now is None else now
        with self.write() as conn:
            row = conn.execute(
                "SELECT status, level, deadline, created_at, eligible, thread_id, args_digest,"
                f" {payload_sql('r')} FROM hitl_requests r WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no request with id {request_id!r}")
            status, seen, deadline, created, eligible, thread_id, digest, payload = row
            if status != "pending" or seen != level or deadline is None or deadline > now:
                return None
            from langgraph_hitl.models import ApprovalRequest, Decision

            request = ApprovalRequest.model_validate(json.loads(payload)["request"])
            roles = json.loads(eligible) if eligible else []
            if len(roles) > 1:
                step = request.deadline_in or (deadline - created)
                # The next role gets a full step from when this one ran out, counted on
                # the request's own timeline: a sweeper whose clock is far ahead may take
                # the step early, but cannot push the next deadline out by its error.
                start = min(max(now, deadline), deadline + step)
                conn.execute(
                    "UPDATE hitl_requests SET level = level + 1, eligible = ?, required_role = ?,"
                    " deadline = ? WHERE request_id = ?",
                    (canonical_json(roles[1:]), roles[1], start + step, request_id),
                )
                self.append_event(
                    conn,
                    "escalated",
                    request_id=request_id,
                    thread_id=thread_id,
                    actor=SWEEP_ACTOR,
                    data={"from": roles[0], "to": roles[1], "level": level + 1, "why": "deadline"},
                    at=now,
                )
                return "escalated"
            kind = request.on_timeout
            decision = Decision.model_validate(
                {
                    "type": kind,
                    "reviewer": SWEEP_ACTOR,
                    "reason": "nobody decided before the deadline"
                    + (" at the end of the escalation chain" if roles else "")
                    if kind == "reject"
                    else None,
                    "comment": "default decision on timeout",
                    "seen_digest": digest,
                    "decided_at": datetime.fromtimestamp(now, UTC),
                }
            )
            self.append_event(
                conn,
                "timed_out",
                request_id=request_id,
                thread_id=thread_id,
                actor=SWEEP_ACTOR,
                data={"decision": kind, "level": level},
                at=now,
            )
            self._insert_decision(
                conn, f"dec_{os.urandom(6).hex()}", request_id, thread_id, digest, decision
            )
            return "timed_out"

    def cancel_thread(self, thread_id: str, *, reason: str, actor: str | None) -> list[str]:
        """Stop a thread for good: every open request is cancelled and it never resumes.

        Cancelling takes the same right as deciding, whatever state the requests are in:
        `actor` must be allowed to decide every pending or decided request of the thread
        (`NotAuthorizedError`, logged, otherwise), and once reviewers are registered, be
        one of them. The caller holds the thread's lease, so no apply is in flight.
        Returns the requests cancelled. The thread's result becomes `cancelled`.
        """
        now = clock()
        refusal: NotAuthorizedError | None = None
        with self.write() as conn:
            known = conn.execute(
                "SELECT result FROM hitl_threads WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            if known is None:
                raise UnknownRequestError(f"no thread {thread_id!r}")
            if known[0] == "cancelled":
                raise NotPendingError(f"thread {thread_id} is already cancelled")
            if known[0] is not None:
                raise NotPendingError(f"thread {thread_id} already finished ({known[0]})")
            open_rows = conn.execute(
                "SELECT request_id, eligible FROM hitl_requests WHERE thread_id = ?"
                " AND status IN ('pending', 'decided') ORDER BY created_at",
                (thread_id,),
            ).fetchall()
            from langgraph_hitl.models import Decision

            as_reject = Decision.reject(reason, reviewer=actor)
            for request_id, eligible in open_rows:
                # The owner bar is about approving: an owner may stop their own work.
                refusal = self._authorize(conn, request_id, as_reject, eligible, None)
                if refusal is not None:
                    self.append_event(
                        conn,
                        "refused",
                        request_id=request_id,
                        thread_id=thread_id,
                        actor=actor,
                        data={"why": str(refusal), "type": "cancel"},
                    )
                    break
            if refusal is None and not open_rows:
                refusal = self._registered(conn, actor, f"cancel thread {thread_id}")
                if refusal is not None:
                    self.append_event(
                        conn,
                        "refused",
                        thread_id=thread_id,
                        actor=actor,
                        data={"why": str(refusal), "type": "cancel"},
                    )
            if refusal is None:
                for request_id, _ in open_rows:
                    self._move(
                        conn,
                        request_id,
                        "cancelled",
                        ("pending", "decided"),
                        actor,
                        {"why": reason},
                        now,
                    )
                conn.execute(
                    "UPDATE hitl_threads SET result = 'cancelled', finished_at = ?"
                    " WHERE thread_id = ?",
                    (now, thread_id),
                )
                self.append_event(
                    conn,
                    "thread_cancelled",
                    thread_id=thread_id,
                    actor=actor,
                    data={"why": reason},
                )
        if refusal is not None:
            raise refusal
        return [request_id for request_id, _ in open_rows]

    def why_cancelled(self, thread_id: str) -> str | None:
        """Who cancelled the thread and why, from the trail."""
        rows = self.read(
            "SELECT actor, data FROM hitl_events WHERE thread_id = ? AND kind = 'thread_cancelled'"
            " ORDER BY seq DESC LIMIT 1",
            (thread_id,),
        )
        if not rows:
            return None
        actor, data = rows[0]
        return f"cancelled by {actor or 'someone'}: {json.loads(data).get('why')}"

    def drop_outbox(self, thread_id: str) -> int:
        """Delete a thread's notification rows, sent or not; `prune` calls it. Returns how many."""
        with self.write() as conn:
            return int(
                conn.execute("DELETE FROM hitl_outbox WHERE thread_id = ?", (thread_id,)).rowcount
            )
