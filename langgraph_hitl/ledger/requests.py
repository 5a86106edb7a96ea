"""Requests: what a gate asked, as recorded, found and listed; and whether the audit
trail vouches for one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock, to_seconds
from langgraph_hitl.errors import (
    BadInputError,
    NotPendingError,
    UnknownRequestError,
)
from langgraph_hitl.ledger._args import (
    args_sql,
    payload_sql,
    store_args,
    trail_form,
    with_args,
    without_args,
)
from langgraph_hitl.ledger.events import event_hash, subject_digest
from langgraph_hitl.ledger.records import RequestRecord
from langgraph_hitl.ledger.store import Connection, stable_id
from langgraph_hitl.ledger.threads import Threads

if TYPE_CHECKING:
    from langgraph_hitl.models import Action, Decision


_ROLE_MAY_SEE = (
    "(r.eligible IS NULL OR NOT EXISTS (SELECT 1 FROM hitl_reviewers)"
    " OR EXISTS (SELECT 1 FROM json_each(r.eligible)"
    " WHERE value = (SELECT role FROM hitl_reviewers WHERE name = ?)))"
)
"""A request's eligible roles include the role of the reviewer bound to `?` (or no role
is required, or no reviewer is registered)."""


def request_id_for(thread_id: str, interrupt_id: str) -> str:
    """The stable, short id a reviewer types: `req_` and 12 hex digits."""
    return stable_id("req", thread_id, interrupt_id)


def _loose(name: str, args: Any) -> str:
    """Canonical JSON of an action with every number as a float."""

    def norm(value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        return value

    return canonical_json({"name": name, "args": norm(args)})


HELD = (
    # In the dialect both backends read (`json_extract` is one of the functions the
    # PostgreSQL schema defines): the pause a tool call belongs to is in its payload.
    "(COALESCE(json_extract(r.payload, '$.pause.mode'), '') = 'batched'"
    " AND EXISTS (SELECT 1 FROM hitl_requests s WHERE s.thread_id = r.thread_id"
    " AND s.status = 'pending' AND json_extract(s.payload, '$.pause.interrupt_id')"
    " = json_extract(r.payload, '$.pause.interrupt_id')))"
)
"""Whether request `r`, a decided tool call of a batched agent pause, waits for its
pause's other calls (they are resumed together, once)."""


def args_match_in(conn: Connection, request_id: str) -> bool:
    """`Requests.args_match`, read on `conn` (inside the caller's transaction)."""
    row = conn.execute(
        f"SELECT action_name, {args_sql('r')}, args_digest FROM hitl_requests r"
        " WHERE request_id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        return False
    name, args, digest = row
    from langgraph_hitl.models import Action

    try:
        return bool(Action(name=name, args=json.loads(args)).digest() == digest)
    except ValueError:
        return False


class Requests(Threads):
    """Recording, finding and listing requests."""

    def record_request(
        self,
        *,
        thread_id: str,
        interrupt_id: str,
        payload: dict[str, Any],
        graph: str | None = None,
        task_id: str | None = None,
    ) -> str:
        """Record a request from a gate's interrupt payload; idempotent. Returns its id."""
        with self.write() as conn:
            return self._record_request(conn, thread_id, interrupt_id, payload, graph, task_id)

    def _record_request(
        self,
        conn: Connection,
        thread_id: str,
        interrupt_id: str,
        payload: dict[str, Any],
        graph: str | None,
        task_id: str | None,
    ) -> str:
        from langgraph_hitl.models import ApprovalRequest

        request_id = request_id_for(thread_id, interrupt_id)
        payload = with_args(payload)
        request = ApprovalRequest.model_validate(payload["request"])
        self._register(conn, thread_id, graph)
        graph = conn.execute(
            "SELECT graph FROM hitl_threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()[0]
        now = clock()
        deadline = to_seconds(request.deadline)
        if deadline is None and request.deadline_in is not None:
            deadline = now + request.deadline_in
        digest = request.action.digest()
        store_args(conn, digest, request.action.args)
        cur = conn.execute(
            "INSERT OR IGNORE INTO hitl_requests (request_id, thread_id, interrupt_id, task_id,"
            " graph, gate, action_name, action_args, summary, tier, confidence, reasons, status,"
            " created_at, deadline, payload, args_digest, required_role, eligible, quorum, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                thread_id,
                interrupt_id,
                task_id,
                graph,
                payload.get("gate"),
                request.action.name,
                "",  # the args are in hitl_args, under the digest
                request.summary,
                request.risk_tier,
                request.confidence,
                canonical_json(request.reasons),
                now,
                deadline,
                canonical_json(without_args(payload)),
                digest,
                request.reviewer_role,
                canonical_json(request.review_roles) if request.review_roles else None,
                request.quorum,
                request.owner,
            ),
        )
        if not cur.rowcount and task_id is not None:
            # Recorded before from a state read (no task id then): the task id is what a
            # gate looks its question up by.
            conn.execute(
                "UPDATE hitl_requests SET task_id = ? WHERE request_id = ? AND task_id IS NULL",
                (task_id, request_id),
            )
        if cur.rowcount:
            self.append_event(
                conn,
                "created",
                request_id=request_id,
                thread_id=thread_id,
                data={
                    "gate": payload.get("gate"),
                    "action": request.action.name,
                    "tier": request.risk_tier,
                    "role": request.reviewer_role,
                },
                at=now,
            )
        return request_id

    def request_for_task(
        self, thread_id: str, task_id: str, index: int
    ) -> tuple[RequestRecord, bool] | None:
        """The request a gate task's `index`-th question made, and whether it is the last.

        A gate asks again within the same task when it refuses an answer, so its task's
        requests, oldest first, are its questions in order.
        """
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ? AND task_id = ?"
            " ORDER BY created_at, rowid",
            (thread_id, task_id),
        )
        if index >= len(rows):
            return None
        return self._record(rows[index]), index == len(rows) - 1

    def unvouched(self, request_id: str) -> str | None:
        """Why the audit trail does not vouch for the request and its decision; None if it does.

        The request's row (and votes) must match the digest its last event recorded, and
        its decision the `decided` event that recorded it; each of those events must hash
        as written and be followed by the next link. `audit.verify` checks the whole
        chain; this is the check made before acting on one request.
        """
        rows = self.read(
            "SELECT seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash, subject"
            " FROM hitl_events WHERE request_id = ? ORDER BY seq",
            (request_id,),
        )
        if not rows:
            return f"request {request_id} has no event in the audit trail"
        for seq, at, kind, rid, tid, actor, data, prev, digest, subject in rows:
            if event_hash(prev, (seq, at, kind, rid, tid, actor, data), subject) != digest:
                return f"event {seq} ({kind}) of {request_id} was altered"
            after = self.read("SELECT prev_hash FROM hitl_events WHERE seq = ?", (seq + 1,))
            if after and after[0][0] != digest:
                return f"event {seq + 1} does not follow event {seq}"
        subjects = [row[9] for row in rows if row[9] is not None]
        with self.reading() as conn:
            current = subject_digest(conn, request_id)
        if subjects and current != subjects[-1]:
            return f"request {request_id} differs from what its last event recorded"
        if not self.args_match(request_id):
            return f"the args of {request_id} are not the ones its digest was taken over"
        decisions = self.read(
            "SELECT type, reviewer, payload FROM hitl_decisions WHERE request_id = ?",
            (request_id,),
        )
        decided = [row for row in rows if row[2] == "decided"]
        if decisions:
            kind, reviewer, payload = decisions[0]
            if not decided:
                return f"the decision on {request_id} has no event in the audit trail"
            told = json.loads(decided[-1][6])
            wire = json.loads(payload)
            # The event holds edited args as their digest (`trail_form`); before, whole.
            if told not in (trail_form(wire), wire) or (kind, reviewer) != (
                wire.get("type"),
                wire.get("reviewer"),
            ):
                return f"the decision on {request_id} differs from the one its event recorded"
        return None

    def args_match(self, request_id: str) -> bool:
        """Whether a request's args, as the ledger reads them, hash to its `args_digest`.

        The args are kept once, under that digest (`_args`): an edit of the stored args,
        which no request row shows, fails this check.
        """
        with self.reading() as conn:
            return args_match_in(conn, request_id)

    def approval_for(self, thread_id: str, action: Action) -> Decision | None:
        """The human approval on this thread of exactly `action`, if the ledger holds one.

        An approval matches when the request showed this action (`approve`) or the
        reviewer edited it into this action (`modify`); numbers compare by value, so
        args a schema coerced (`1880` to `1880.0`) still match.

        Example:
            >>> action = ledger.get(request_id).request.action  # pay INV-1003
            >>> print(ledger.approval_for("INV-1003", action))
            None
            >>> from langgraph_hitl.models import Decision
            >>> ledger.record_decision(request_id, Decision.approve(reviewer="mia")).status
            'decided'
            >>> ledger.approval_for("INV-1003", action)
            Decision(type='approve', ..., reviewer='mia', ...)
        """
        want = _loose(action.name, action.args)
        rows = self.read(
            f"SELECT r.request_id, r.action_name, {args_sql('r')}, d.payload FROM hitl_decisions d"
            " JOIN hitl_requests r ON r.request_id = d.request_id"
            " WHERE r.thread_id = ? AND d.type IN ('approve', 'modify')"
            " AND r.status IN ('decided', 'applied') ORDER BY d.decided_at DESC",
            (thread_id,),
        )
        for request_id, name, args, payload in rows:
            decision = _decision(payload)
            shown = decision.args if decision.type == "modify" else json.loads(args)
            # Only an approval the audit trail vouches for: not one written behind the
            # ledger's back.
            if _loose(name, shown) == want and self.unvouched(request_id) is None:
                return decision
        return None

    _COLUMNS = (
        "request_id, thread_id, interrupt_id, graph, gate, status, created_at, deadline,"
        f" args_digest, {payload_sql('r')}, decided_at, apply_started_at, applied_at,"
        " (SELECT payload FROM hitl_decisions d WHERE d.request_id = r.request_id),"
        " required_role, eligible, level, quorum, owner,"
        " (SELECT json_group_array(reviewer) FROM hitl_votes v"
        "  WHERE v.request_id = r.request_id AND v.type = 'approve'"
        "  AND COALESCE(v.digest, r.args_digest) = COALESCE(r.proposal_digest, r.args_digest)),"
        " applier, apply_error, proposal, action_name, summary, tier, confidence, reasons"
    )

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RequestRecord:
        (rid, tid, iid, graph, gate, status, created, deadline, digest, payload) = row[:10]
        decided_at, apply_started_at, applied_at, decision = row[10:14]
        required_role, eligible, level, quorum, owner, approvals, applier, error = row[14:22]
        proposal, action_name, summary, tier, confidence, reasons = row[22:28]
        stored = json.loads(payload)
        request = stored["request"]
        return RequestRecord(
            request_id=rid,
            thread_id=tid,
            interrupt_id=iid,
            graph=graph,
            gate=gate,
            status=status,
            created_at=created,
            deadline=deadline,
            args_digest=digest,
            action_name=action_name,
            action_args=request["action"]["args"],
            summary=summary,
            tier=tier,
            confidence=confidence,
            reasons=json.loads(reasons) if reasons else [],
            stored_request=request,
            decision=None if decision is None else _decision(decision),
            decided_at=decided_at,
            apply_started_at=apply_started_at,
            applied_at=applied_at,
            required_role=required_role,
            eligible=json.loads(eligible) if eligible else [],
            level=level,
            quorum=quorum,
            approvals=json.loads(approvals) if approvals else [],
            owner=owner,
            applier=applier,
            apply_error=error,
            proposal=None if proposal is None else json.loads(proposal),
            pause=stored.get("pause"),
        )

    def get(self, request_id: str) -> RequestRecord:
        """The request with that id; `UnknownRequestError` if there is none."""
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE request_id = ?", (request_id,)
        )
        if not rows:
            raise UnknownRequestError(f"no request with id {request_id!r}")
        return self._record(rows[0])

    def resolve(self, ident: str, *, status: str | None = "pending") -> RequestRecord:
        """A request by its id, or by a thread id with exactly one request in `status`."""
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE request_id = ?", (ident,)
        )
        if rows:
            return self._record(rows[0])
        where = "thread_id = ?" + ("" if status is None else " AND status = ?")
        params: tuple[Any, ...] = (ident,) if status is None else (ident, status)
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where} ORDER BY created_at",
            params,
        )
        if len(rows) == 1:
            return self._record(rows[0])
        if not rows:
            last = self.read(
                "SELECT request_id, status FROM hitl_requests WHERE thread_id = ? "
                "ORDER BY created_at DESC LIMIT 1",
                (ident,),
            )
            if last and status is not None:
                raise NotPendingError(
                    f"thread {ident!r} has no {status} request (its last, {last[0][0]}, is "
                    f"{last[0][1]})"
                )
            if self.read("SELECT 1 FROM hitl_threads WHERE thread_id = ?", (ident,)):
                raise NotPendingError(f"thread {ident!r} has never paused for a decision")
            raise UnknownRequestError(f"no request or thread with id {ident!r}")
        ids = ", ".join(r[0] for r in rows)
        which = f"{status} requests" if status else "requests"
        raise BadInputError(f"thread {ident!r} has {len(rows)} {which}: name one ({ids})")

    def why(self, rec: RequestRecord) -> str:
        """Why a request is where it is, in words: its last event's reason, and who."""
        rows = self.read(
            "SELECT kind, actor, data FROM hitl_events WHERE request_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (rec.request_id,),
        )
        if not rows:
            return rec.status
        kind, actor, data = rows[0]
        reason = json.loads(data).get("why") or kind
        return f"{reason}" + (f" ({actor})" if actor else "")

    def requests(self, thread_id: str) -> list[RequestRecord]:
        """Every request of a thread, oldest first."""
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ? ORDER BY created_at",
            (thread_id,),
        )
        return [self._record(row) for row in rows]

    def pending(
        self,
        *,
        gate: str | None = None,
        tier: str | None = None,
        thread_id: str | None = None,
        reviewer: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        """Pending requests: overdue and nearest deadline first, then oldest first.

        An indexed query, never a scan of checkpoints. `reviewer=` keeps only what that
        reviewer may decide: their role is eligible, they do not own the work, and they
        have not already approved it.
        """
        where, params = self._pending_where(
            gate=gate, tier=tier, thread_id=thread_id, reviewer=reviewer, action=action
        )
        sql = (
            f"SELECT {self._COLUMNS} FROM hitl_requests r {where}"
            " ORDER BY deadline IS NULL, deadline, created_at, request_id"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._record(row) for row in self.read(sql, params)]

    def count_pending(self, **filters: str | None) -> int:
        """How many requests are pending (with the same filters as `pending`)."""
        where, params = self._pending_where(**filters)
        return int(self.read(f"SELECT COUNT(*) FROM hitl_requests r {where}", params)[0][0])

    def count_pending_by(self, **filters: str | None) -> dict[tuple[str | None, str, str], int]:
        """How many requests are pending (with the same filters as `pending`) for each
        (gate, tier, action): one grouped query, from which a queue's counts per gate,
        per tier and per action all follow."""
        where, params = self._pending_where(**filters)
        rows = self.read(
            f"SELECT gate, tier, action_name, COUNT(*) FROM hitl_requests r {where}"
            " GROUP BY gate, tier, action_name",
            params,
        )
        return {(gate, tier, action): int(n) for gate, tier, action, n in rows}

    _FILTERS: ClassVar[dict[str, str]] = {
        "gate": "gate = ?",
        "tier": "tier = ?",
        "thread_id": "thread_id = ?",
        "action": "action_name = ?",
    }

    def _pending_where(self, **filters: str | None) -> tuple[str, list[Any]]:
        where: list[str] = ["status = 'pending'"]
        params: list[Any] = []
        reviewer = filters.pop("reviewer", None)
        for name, value in filters.items():
            if value is not None:
                where.append(self._FILTERS[name])
                params.append(value)
        if reviewer is not None:
            where.append(
                f"{_ROLE_MAY_SEE}"
                " AND NOT (owner IS NOT NULL AND owner = ? AND COALESCE(CAST(json_extract("
                "payload, '$.request.bar_owner') AS TEXT), '1') IN ('1', 'true'))"
                " AND NOT EXISTS (SELECT 1 FROM hitl_votes v WHERE v.request_id = r.request_id"
                " AND v.reviewer = ? AND COALESCE(v.digest, r.args_digest)"
                " = COALESCE(r.proposal_digest, r.args_digest))"
            )
            params += [reviewer, reviewer, reviewer]
        return "WHERE " + " AND ".join(where), params

    def decided_like(
        self, rec: RequestRecord, *, reviewer: str | None = None, limit: int = 5
    ) -> list[RequestRecord]:
        """Requests decided before on the same gate and action as `rec`, latest decision
        first: how such requests went (`decision`, `status`). With `reviewer=`, only those
        whose eligible roles included that reviewer's role (all, without registered
        reviewers). Reads the requests' `decided_at` index from the newest end.

        Example:
            >>> past = ledger.decided_like(ledger.get(request_id), limit=3)
            >>> [(r.action_name, r.decision is not None) for r in past]
            [('pay_invoice', True), ('pay_invoice', True), ('pay_invoice', True)]
        """
        where = (
            "r.decided_at IS NOT NULL AND r.action_name = ? AND r.gate IS ? AND r.request_id <> ?"
        )
        params: list[Any] = [rec.action_name, rec.gate, rec.request_id]
        if reviewer is not None:
            where += f" AND {_ROLE_MAY_SEE}"
            params.append(reviewer)
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where}"
            f" ORDER BY r.decided_at DESC, r.request_id LIMIT {int(limit)}",
            params,
        )
        return [self._record(row) for row in rows]

    def to_apply(self, thread_id: str | None = None) -> list[RequestRecord]:
        """Decided requests not yet applied, oldest decision first.

        A decided tool call of a batched agent pause waits here until every tool call of
        that pause is decided (`held`): the pause is resumed once, with all of them.
        """
        where = f"status = 'decided' AND NOT {HELD}"
        where += "" if thread_id is None else " AND thread_id = ?"
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where} ORDER BY decided_at",
            () if thread_id is None else (thread_id,),
        )
        return [self._record(row) for row in rows]

    def held(self, thread_id: str | None = None) -> list[RequestRecord]:
        """Decided tool calls of batched agent pauses that wait for their pause's other calls."""
        where = f"status = 'decided' AND {HELD}"
        where += "" if thread_id is None else " AND thread_id = ?"
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where} ORDER BY decided_at",
            () if thread_id is None else (thread_id,),
        )
        return [self._record(row) for row in rows]

    def pause_members(self, rec: RequestRecord) -> list[RequestRecord]:
        """Every request of the agent pause `rec` belongs to, in the pause's order (just
        `rec` for a gate's request or a per-call pause)."""
        if rec.pause is None or rec.pause.get("mode") != "batched":
            return [rec]
        prefix = rec.interrupt_id.split("#", 1)[0] + "#"
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ?"
            " AND substr(interrupt_id, 1, ?) = ?",
            (rec.thread_id, len(prefix), prefix),
        )
        members = [self._record(row) for row in rows]
        return sorted(members, key=lambda m: (m.pause or {}).get("index", 0))

    def task_requests(self, thread_id: str, task_id: str) -> list[RequestRecord]:
        """The requests a task's interrupts made, oldest first."""
        rows = self.read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ? AND task_id = ?"
            " ORDER BY created_at, rowid",
            (thread_id, task_id),
        )
        return [self._record(row) for row in rows]


def _decision(stored: str) -> Decision:
    """A decision as the ledger stored it (JSON text), validated."""
    from langgraph_hitl.models import Decision

    return Decision.model_validate_json(stored)
