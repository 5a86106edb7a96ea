"""The review ledger: requests, decisions, leases, reviews and an append-only event log.

The ledger lives in the same database as LangGraph's checkpoints (a SQLite file, or a
PostgreSQL database), in tables of its own (`hitl_*`). It imports neither LangGraph nor
the user's graph, so listing, showing and deciding stay fast and safe. Every write is a
short `BEGIN IMMEDIATE` transaction, one writer at a time; every value is bound with `?`;
the SQL is written once for both backends (see `_pg`). The storage itself (connection,
schema, transactions, event log, leases) is `LedgerStore` in `_store.py`; this module
is what the ledger means: requests, decisions and who may take them, the routing log,
deadlines, after-the-fact reviews.

A decision is recorded first (once: the first valid decision wins) and applied second;
see `ReviewDesk` for the applying half.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from langgraph_hitl._time import clock, iso, simulated_clock, to_seconds
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    BadInputError,
    DecisionNotAllowedError,
    HitlError,
    NotAuthorizedError,
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
from langgraph_hitl.ledger.records import RequestRecord, ReviewItem
from langgraph_hitl.ledger.store import (
    BUSY_TIMEOUT_S,
    DEFAULT_LEASE_S,
    GENESIS_HASH,
    NOTIFY_KINDS,
    Connection,
    LedgerStore,
    connect,
    event_hash,
    lease_owner,
    owner_is_dead,
    stable_id,
    subject_digest,
    table_names,
)
from langgraph_hitl.models import Action, ApprovalRequest, Decision, canonical_json

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_LEASE_S",
    "GENESIS_HASH",
    "NOTIFY_KINDS",
    "SWEEP_ACTOR",
    "RequestRecord",
    "ReviewItem",
    "ReviewLedger",
    "clock",
    "connect",
    "event_hash",
    "lease_owner",
    "owner_is_dead",
    "request_id_for",
    "simulated_clock",
    "stable_id",
    "table_names",
]

SWEEP_ACTOR = "langgraph-hitl:sweep"
"""Who the trail names for what `sweep` decides when a deadline ran out."""


def _parse_decision(answer: Any) -> Decision | None:
    try:
        return Decision.model_validate(answer)
    except ValueError:
        return None


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


def _with_approvers(comment: str | None, approvals: Sequence[str]) -> str:
    note = f"approved by {', '.join(approvals)}"
    return note if not comment else f"{comment} ({note})"


class _RolledBack(Exception):
    """Ends a dry run's transaction (rolled back), carrying what it would have recorded."""

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(record.request_id)
        self.record = record


def request_id_for(thread_id: str, interrupt_id: str) -> str:
    """The stable, short id a reviewer types: `req_` and 12 hex digits."""
    return stable_id("req", thread_id, interrupt_id)


def _bars_owner(flag: Any) -> bool:
    """A request's `bar_owner` as `json_extract` reads it: SQLite gives 0 or 1, PostgreSQL
    the JSON text; absent means barred."""
    return flag not in (0, False, "false")


class ReviewLedger(LedgerStore):
    """The review ledger over a SQLite connection the caller owns, or one it opens.

    Args:
        conn: An open connection to the checkpoint database.
        lock: A lock shared with other users of `conn` (the checkpointer's), if any.

    Example:
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:
        ...     for rec in ledger.pending(tier="high"):
        ...         print(rec.request_id, rec.request.summary)
        req_... Pay INV-1003: 52,000.00 USD to Initech LLC
    """

    # -- requests -------------------------------------------------------------

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
        with self._tx() as conn:
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
            self._event(
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

    def settle_task(
        self,
        thread_id: str,
        task_id: str,
        answers: Sequence[Any],
        *,
        finished: bool,
        direct: bool = False,
        problem: str | None = None,
    ) -> None:
        """Close the requests of a gate task whose answers LangGraph just saved.

        Called by the checkpointer when a task's writes land. The task's requests, oldest
        first, line up with its answers by index. An answer followed by another question
        in the same task was refused by the gate, which asked again: its request is
        superseded, decided or not. The last answer of a task that then finished was
        accepted: if it came straight to LangGraph (`direct`, not under a desk's lease),
        the gate recorded it under the ledger's rules and claimed the thread; it is now
        applied and the claim released. A desk marks its own decisions applied once its
        run is over. `problem` is what the gate said when it asked again.
        """
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT request_id, status, applier FROM hitl_requests WHERE thread_id = ?"
                " AND task_id = ? ORDER BY created_at, rowid",
                (thread_id, task_id),
            ).fetchall()
            now = clock()
            last = len(answers) - 1
            for index, ((request_id, status, applier), answer) in enumerate(
                zip(rows, answers, strict=False)
            ):
                accepted = finished and index == last
                if direct and applier is not None:
                    # The gate's claim on the thread for this answer: its writes are saved.
                    conn.execute(
                        "UPDATE hitl_threads SET lease_owner = NULL, lease_expires = NULL"
                        " WHERE thread_id = ? AND lease_owner = ?",
                        (thread_id, applier),
                    )
                if not accepted and status in ("pending", "decided"):
                    self._move(
                        conn,
                        request_id,
                        "superseded",
                        ("pending", "decided"),
                        None,
                        {
                            "why": f"the gate refused the answer and asked again: {problem}"
                            if problem
                            else "the gate refused the answer and asked again",
                            "answer": trail_form(answer),
                        },
                        now,
                        kind="answer_refused_by_gate",
                    )
                elif accepted and direct and status == "decided":
                    self._move(
                        conn,
                        request_id,
                        "applied",
                        ("decided",),
                        applier,
                        {"answer": trail_form(answer)},
                        now,
                        kind="answered_directly",
                    )

    def request_for_task(
        self, thread_id: str, task_id: str, index: int
    ) -> tuple[RequestRecord, bool] | None:
        """The request a gate task's `index`-th question made, and whether it is the last.

        A gate asks again within the same task when it refuses an answer, so its task's
        requests, oldest first, are its questions in order.
        """
        rows = self._read(
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
        rows = self._read(
            "SELECT seq, at, kind, request_id, thread_id, actor, data, prev_hash, hash, subject"
            " FROM hitl_events WHERE request_id = ? ORDER BY seq",
            (request_id,),
        )
        if not rows:
            return f"request {request_id} has no event in the audit trail"
        for seq, at, kind, rid, tid, actor, data, prev, digest, subject in rows:
            if event_hash(prev, (seq, at, kind, rid, tid, actor, data), subject) != digest:
                return f"event {seq} ({kind}) of {request_id} was altered"
            after = self._read("SELECT prev_hash FROM hitl_events WHERE seq = ?", (seq + 1,))
            if after and after[0][0] != digest:
                return f"event {seq + 1} does not follow event {seq}"
        subjects = [row[9] for row in rows if row[9] is not None]
        with self.reading() as conn:
            current = subject_digest(conn, request_id)
        if subjects and current != subjects[-1]:
            return f"request {request_id} differs from what its last event recorded"
        if not self.args_match(request_id):
            return f"the args of {request_id} are not the ones its digest was taken over"
        decisions = self._read(
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
        rows = self._read(
            f"SELECT action_name, {args_sql('r')}, args_digest FROM hitl_requests r"
            " WHERE request_id = ?",
            (request_id,),
        )
        if not rows:
            return False
        name, args, digest = rows[0]
        try:
            return bool(Action(name=name, args=json.loads(args)).digest() == digest)
        except ValueError:
            return False

    def approval_for(self, thread_id: str, action: Action) -> Decision | None:
        """The human approval on this thread of exactly `action`, if the ledger holds one.

        An approval matches when the request showed this action (`approve`) or the
        reviewer edited it into this action (`modify`); numbers compare by value, so
        args a schema coerced (`1880` to `1880.0`) still match.

        Example:
            >>> action = ledger.get(request_id).request.action  # pay INV-1003
            >>> print(ledger.approval_for("INV-1003", action))
            None
            >>> ledger.record_decision(request_id, Decision.approve(reviewer="mia")).status
            'decided'
            >>> ledger.approval_for("INV-1003", action)
            Decision(type='approve', ..., reviewer='mia', ...)
        """
        want = _loose(action.name, action.args)
        rows = self._read(
            f"SELECT r.request_id, r.action_name, {args_sql('r')}, d.payload FROM hitl_decisions d"
            " JOIN hitl_requests r ON r.request_id = d.request_id"
            " WHERE r.thread_id = ? AND d.type IN ('approve', 'modify')"
            " AND r.status IN ('decided', 'applied') ORDER BY d.decided_at DESC",
            (thread_id,),
        )
        for request_id, name, args, payload in rows:
            decision = Decision.model_validate_json(payload)
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
        " applier, apply_error, proposal"
    )

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RequestRecord:
        (rid, tid, iid, graph, gate, status, created, deadline, digest, payload) = row[:10]
        decided_at, apply_started_at, applied_at, decision = row[10:14]
        required_role, eligible, level, quorum, owner, approvals, applier, error = row[14:22]
        proposal = row[22]
        stored = json.loads(payload)
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
            request=ApprovalRequest.model_validate(stored["request"]),
            decision=None if decision is None else Decision.model_validate_json(decision),
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
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE request_id = ?", (request_id,)
        )
        if not rows:
            raise UnknownRequestError(f"no request with id {request_id!r}")
        return self._record(rows[0])

    def resolve(self, ident: str, *, status: str | None = "pending") -> RequestRecord:
        """A request by its id, or by a thread id with exactly one request in `status`."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE request_id = ?", (ident,)
        )
        if rows:
            return self._record(rows[0])
        where = "thread_id = ?" + ("" if status is None else " AND status = ?")
        params: tuple[Any, ...] = (ident,) if status is None else (ident, status)
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where} ORDER BY created_at",
            params,
        )
        if len(rows) == 1:
            return self._record(rows[0])
        if not rows:
            last = self._read(
                "SELECT request_id, status FROM hitl_requests WHERE thread_id = ? "
                "ORDER BY created_at DESC LIMIT 1",
                (ident,),
            )
            if last and status is not None:
                raise NotPendingError(
                    f"thread {ident!r} has no {status} request (its last, {last[0][0]}, is "
                    f"{last[0][1]})"
                )
            if self._read("SELECT 1 FROM hitl_threads WHERE thread_id = ?", (ident,)):
                raise NotPendingError(f"thread {ident!r} has never paused for a decision")
            raise UnknownRequestError(f"no request or thread with id {ident!r}")
        ids = ", ".join(r[0] for r in rows)
        which = f"{status} requests" if status else "requests"
        raise BadInputError(f"thread {ident!r} has {len(rows)} {which}: name one ({ids})")

    def why(self, rec: RequestRecord) -> str:
        """Why a request is where it is, in words: its last event's reason, and who."""
        rows = self._read(
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
        rows = self._read(
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
        return [self._record(row) for row in self._read(sql, params)]

    def count_pending(self, **filters: str | None) -> int:
        """How many requests are pending (with the same filters as `pending`)."""
        where, params = self._pending_where(**filters)
        return int(self._read(f"SELECT COUNT(*) FROM hitl_requests r {where}", params)[0][0])

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
                "(eligible IS NULL OR NOT EXISTS (SELECT 1 FROM hitl_reviewers)"
                " OR EXISTS (SELECT 1 FROM json_each(r.eligible)"
                " WHERE value = (SELECT role FROM hitl_reviewers WHERE name = ?)))"
                " AND NOT (owner IS NOT NULL AND owner = ? AND COALESCE(CAST(json_extract("
                "payload, '$.request.bar_owner') AS TEXT), '1') IN ('1', 'true'))"
                " AND NOT EXISTS (SELECT 1 FROM hitl_votes v WHERE v.request_id = r.request_id"
                " AND v.reviewer = ? AND COALESCE(v.digest, r.args_digest)"
                " = COALESCE(r.proposal_digest, r.args_digest))"
            )
            params += [reviewer, reviewer, reviewer]
        return "WHERE " + " AND ".join(where), params

    # -- reviewers ------------------------------------------------------------

    def add_reviewer(self, name: str, role: str, *, actor: str | None = None) -> str | None:
        """Register a reviewer with a role, or change their role (logged).

        Returns the role they had before, or None for a new reviewer.
        """
        if not name.strip() or not role.strip():
            raise BadInputError("a reviewer needs a name and a role")
        with self._tx() as conn:
            before = conn.execute(
                "SELECT role FROM hitl_reviewers WHERE name = ?", (name,)
            ).fetchone()
            conn.execute(
                "INSERT INTO hitl_reviewers (name, role, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET role = excluded.role",
                (name, role, clock()),
            )
            self._event(
                conn,
                "reviewer_added" if before is None else "reviewer_changed",
                actor=actor,
                data={"name": name, "role": role, "was": None if before is None else before[0]},
            )
        return None if before is None else str(before[0])

    def request_roles(self) -> list[str]:
        """Every reviewer role the ledger's requests name: the whole chain of the policy
        each gate applied (lowest first), then the roles requests need or allow."""
        chains = self._read(
            "SELECT DISTINCT json_extract(payload, '$.roles') FROM hitl_requests"
            " WHERE json_type(payload, '$.roles') = 'array'"
        )
        others = self._read(
            "SELECT required_role FROM hitl_requests WHERE required_role IS NOT NULL"
            " UNION SELECT e.value FROM hitl_requests r, json_each(r.eligible) e"
            " WHERE r.eligible IS NOT NULL"
        )
        ordered = [role for (chain,) in chains for role in json.loads(chain)]
        rest = sorted(str(role) for (role,) in others)
        return [r for r in dict.fromkeys([*ordered, *rest]) if isinstance(r, str)]

    def remove_reviewer(self, name: str, *, actor: str | None = None) -> None:
        """Remove a reviewer (logged); `UnknownRequestError` if there is none of that name."""
        with self._tx() as conn:
            row = conn.execute(
                "DELETE FROM hitl_reviewers WHERE name = ? RETURNING role", (name,)
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no reviewer named {name!r}")
            self._event(conn, "reviewer_removed", actor=actor, data={"name": name, "role": row[0]})

    def reviewers(self) -> list[dict[str, Any]]:
        """Registered reviewers and their roles, by name."""
        rows = self._read("SELECT name, role, added_at FROM hitl_reviewers ORDER BY name")
        return [{"name": n, "role": r, "added_at": iso(a)} for n, r, a in rows]

    # -- routing log ----------------------------------------------------------

    def record_route(
        self,
        *,
        thread_id: str,
        routing: dict[str, Any],
        action: dict[str, Any] | None = None,
        node: str | None = None,
        step: int | None = None,
        graph: str | None = None,
        key: str | None = None,
    ) -> str:
        """Log where a piece of work went and why; idempotent per thread, node and step.

        `routing` is `Routing.to_json()`: outcome (autonomous, sampled, review,
        escalated), tier, reasons, confidence, predictor score, sampling. `key` tells
        apart several pieces of work routed in one node run (an agent's tool calls).
        """
        parts = (thread_id, node, step) if key is None else (thread_id, node, step, key)
        route_id = stable_id("rt", *parts)
        now = clock()
        with self._tx() as conn:
            self._register(conn, thread_id, graph)
            cur = conn.execute(
                "INSERT OR IGNORE INTO hitl_routes (route_id, thread_id, graph, node, outcome,"
                " tier, confidence, score, sampled, sample_rate, reasons, action_name,"
                " action_args, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    route_id,
                    thread_id,
                    graph,
                    node,
                    routing["outcome"],
                    routing.get("tier"),
                    routing.get("confidence"),
                    routing.get("score"),
                    int(bool(routing.get("sampled"))),
                    routing.get("sample_rate"),
                    canonical_json(routing.get("reasons") or []),
                    None if action is None else action.get("name"),
                    None,  # the args are in the request or the review item, not here too
                    now,
                ),
            )
            if cur.rowcount:
                self._event(
                    conn,
                    "routed",
                    request_id=route_id,
                    thread_id=thread_id,
                    data={
                        "outcome": routing["outcome"],
                        "tier": routing.get("tier"),
                        "reasons": routing.get("reasons") or [],
                        "args_digest": None
                        if action is None
                        else Action.model_validate(action).digest(),
                    },
                    at=now,
                )
        return route_id

    def routes(self, *, thread_id: str | None = None) -> list[dict[str, Any]]:
        """Routing log rows, oldest first (all, or one thread's)."""
        sql = (
            "SELECT route_id, thread_id, graph, node, outcome, tier, confidence, score, sampled,"
            " sample_rate, reasons, action_name, action_args, created_at FROM hitl_routes"
        )
        params: tuple[Any, ...] = ()
        if thread_id is not None:
            sql, params = sql + " WHERE thread_id = ?", (thread_id,)
        rows = self._read(sql + " ORDER BY created_at, route_id", params)
        names = [
            "route_id",
            "thread_id",
            "graph",
            "node",
            "outcome",
            "tier",
            "confidence",
            "score",
            "sampled",
            "sample_rate",
            "reasons",
            "action_name",
            "action_args",
            "created_at",
        ]
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            item["sampled"] = bool(item["sampled"])
            item["reasons"] = json.loads(item["reasons"])
            item["action_args"] = None if row[12] is None else json.loads(row[12])
            item["created_at"] = iso(item["created_at"])
            out.append(item)
        return out

    def finish_thread(self, thread_id: str, result: str, *, cost: float | None = None) -> None:
        """Note how a thread's work ended (`paid`, `rejected`, ...) and what the agent spent.

        Metrics read it for task success and cost per resolution. Idempotent: the last
        call wins, so a node that runs again records the same ending.
        """
        with self._tx() as conn:
            self._register(conn, thread_id, None)
            conn.execute(
                "UPDATE hitl_threads SET result = ?, cost = ?, finished_at = ? WHERE thread_id = ?",
                (result, cost, clock(), thread_id),
            )

    def record_decision(
        self, request_id: str, decision: Decision, *, authorize: bool = True, dry_run: bool = False
    ) -> RequestRecord:
        """Record a decision for a pending request, exactly once.

        The first valid decision wins: a later one raises `AlreadyDecidedError`; one
        for a request no longer pending raises `NotPendingError`; one made against
        args other than the request's current args raises `NotPendingError` too.
        A reviewer whose role may not decide the request, or who owns the work and
        approves it, gets `NotAuthorizedError`. On a request that needs a quorum, an
        approval short of it is kept as a vote and the request stays pending.
        Every refusal is logged.

        With `dry_run`, see `check_decision`: the same checks, nothing kept.
        """
        partial = False
        decision_id = f"dec_{uuid.uuid4().hex[:12]}"
        refusal: HitlError | None = None
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status, args_digest, thread_id, eligible, quorum, owner,"
                " json_extract(payload, '$.request.bar_owner'), proposal_digest, action_name"
                " FROM hitl_requests WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no request with id {request_id!r}")
            status, digest, thread_id, eligible, quorum, owner, bar_owner, proposed, name = row
            current = proposed or digest
            if status in ("decided", "applied"):
                who = conn.execute(
                    "SELECT type, reviewer FROM hitl_decisions WHERE request_id = ?", (request_id,)
                ).fetchone()
                what = f"{who[0]} by {who[1] or 'someone'}" if who else status
                refusal = AlreadyDecidedError(f"request {request_id} was already decided ({what})")
            elif status != "pending":
                refusal = NotPendingError(f"request {request_id} is {status}, not pending")
            elif decision.seen_digest not in (None, current):
                refusal = NotPendingError(
                    f"request {request_id} changed since it was shown (args digest "
                    f"{current[:12]}, decision made against {decision.seen_digest[:12]})"
                )
            if refusal is None and authorize:
                refusal = self._authorize(
                    conn, request_id, decision, eligible, owner if _bars_owner(bar_owner) else None
                )
            if refusal is None and quorum > 1:
                refusal, decision, partial = self._count_vote(
                    conn, request_id, thread_id, decision, quorum, digest, current, name
                )
            if refusal is not None and dry_run:
                raise refusal  # rolls back: a dry run logs nothing, not even a refusal
            if refusal is not None:
                # The refusal is kept in the trail; the transaction commits only that.
                self._log_refusal(conn, request_id, thread_id, decision, refusal)
            elif not partial:
                self._insert_decision(conn, decision_id, request_id, thread_id, digest, decision)
            if dry_run:
                row = conn.execute(
                    f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                raise _RolledBack(self._record(row))
        if refusal is not None:
            raise refusal
        return self.get(request_id)

    def check_decision(self, request_id: str, decision: Decision) -> RequestRecord:
        """What `record_decision` would make of `decision`, changing nothing.

        The very same checks (status, roles, the owner bar, quorum and votes) run in a
        write transaction that is then rolled back, so a dry run can never disagree
        with the real one: the request as it would be recorded (`status` `pending`
        for a vote short of its quorum) is returned, or the refusal is raised. Nothing
        is written, not even the refusal. It holds the write lock for that moment.

        Example::

            try:
                ledger.check_decision(request_id, Decision.approve(reviewer="jo"))
            except HitlError as refusal:  # e.g. "jo is a junior and may not decide ..."
                print("would be refused:", refusal)
        """
        try:
            self.record_decision(request_id, decision, dry_run=True)
        except _RolledBack as done:
            return done.record
        raise AssertionError("a dry run returned without rolling back")  # pragma: no cover

    def _count_vote(
        self,
        conn: Connection,
        request_id: str,
        thread_id: str,
        decision: Decision,
        quorum: int,
        digest: str,
        current: str,
        action_name: str,
    ) -> tuple[HitlError | None, Decision, bool]:
        """One reviewer's answer to a request that needs `quorum` approvals.

        Returns the refusal (if any), the decision to record once the quorum is met, and
        whether the request still waits. An approval counts toward the args proposed now
        (as shown, or as last edited). An edit becomes the proposal: approvals of other
        args stop counting, and the editor's own counts toward the new quorum. One
        rejection ends the request.
        """
        vote = decision
        if decision.type == "modify":
            assert decision.args is not None
            edited = Action(name=action_name, args=decision.args).digest()
            vote = decision.model_copy(update={"type": "approve", "args": None})
            if edited != current:
                dropped = [
                    r[0]
                    for r in conn.execute(
                        "DELETE FROM hitl_votes WHERE request_id = ? AND type = 'approve'"
                        " AND COALESCE(digest, ?) <> ? RETURNING reviewer",
                        (request_id, digest, edited),
                    ).fetchall()
                ]
                conn.execute(
                    "UPDATE hitl_requests SET proposal = ?, proposal_digest = ?"
                    " WHERE request_id = ?",
                    (canonical_json(decision.args), edited, request_id),
                )
                self._event(
                    conn,
                    "proposal_changed",
                    request_id=request_id,
                    thread_id=thread_id,
                    actor=decision.reviewer,
                    data={"args": decision.args, "approvals_dropped": sorted(dropped)},
                )
                current = edited
        elif decision.type not in ("approve", "reject"):
            return (
                DecisionNotAllowedError(
                    f"{request_id} needs {quorum} approvals: approve, modify or reject it (a"
                    f" {decision.type} would replace what the others approved)"
                ),
                decision,
                False,
            )
        refusal = self._vote(conn, request_id, vote, quorum, current)
        if refusal is not None or decision.type == "reject":
            return refusal, decision, False
        approvals = self._approvals(conn, request_id, current)
        if len(approvals) < quorum:
            self._event(
                conn,
                "approval_recorded",
                request_id=request_id,
                thread_id=thread_id,
                actor=decision.reviewer,
                data={"approvals": approvals, "quorum": quorum},
            )
            return None, decision, True
        comment = _with_approvers(vote.comment, approvals)
        if current == digest:
            return None, vote.model_copy(update={"comment": comment}), False
        # The quorum approved the edited args: the gate receives them as an edit of the
        # args it showed.
        proposal = conn.execute(
            "SELECT proposal FROM hitl_requests WHERE request_id = ?", (request_id,)
        ).fetchone()[0]
        final = Decision.modify(
            json.loads(proposal),
            reviewer=vote.reviewer,
            comment=comment,
            decided_at=vote.decided_at,
            seen_digest=digest,
        )
        return None, final, False

    def check_may_decide(self, request_id: str, decision: Decision) -> None:
        """Raise `NotAuthorizedError` (and log the refusal) unless the reviewer may decide."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT thread_id, eligible, owner, json_extract(payload,"
                " '$.request.bar_owner') FROM hitl_requests WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no request with id {request_id!r}")
            thread_id, eligible, owner, bar_owner = row
            refusal = self._authorize(
                conn, request_id, decision, eligible, owner if _bars_owner(bar_owner) else None
            )
            if refusal is not None:
                self._log_refusal(conn, request_id, thread_id, decision, refusal)
        if refusal is not None:
            raise refusal

    def _log_refusal(
        self,
        conn: Connection,
        request_id: str,
        thread_id: str,
        decision: Decision,
        refusal: HitlError,
    ) -> None:
        self._event(
            conn,
            "refused",
            request_id=request_id,
            thread_id=thread_id,
            actor=decision.reviewer,
            data={"why": str(refusal), "type": decision.type},
        )

    @staticmethod
    def _authorize(
        conn: Connection,
        request_id: str,
        decision: Decision,
        eligible: str | None,
        owner: str | None,
    ) -> NotAuthorizedError | None:
        who = decision.reviewer
        if owner is not None and who == owner and decision.type in ("approve", "modify"):
            return NotAuthorizedError(
                f"{who} triggered or owns {request_id} and may not {decision.type} it"
            )
        roles = json.loads(eligible) if eligible else []
        if not roles:
            return None
        # Roles are enforced once any reviewer is registered: a ledger with none is a
        # deployment that has not set up review roles yet, and says so in `list`.
        if conn.execute("SELECT 1 FROM hitl_reviewers LIMIT 1").fetchone() is None:
            return None
        row = conn.execute("SELECT role FROM hitl_reviewers WHERE name = ?", (who,)).fetchone()
        needed = " or ".join(roles)
        if row is None:
            return NotAuthorizedError(
                f"{who!r} is not a registered reviewer; {request_id} needs a {needed}"
                " (`langgraph-hitl reviewers add NAME --role ROLE`)"
            )
        if row[0] not in roles:
            return NotAuthorizedError(
                f"{who} is a {row[0]} and may not decide {request_id}: it needs a {needed}"
            )
        return None

    @staticmethod
    def _registered(conn: Connection, who: str | None, what: str) -> NotAuthorizedError | None:
        """Refuse `who` unless registered, once any reviewer is (roles are enforced)."""
        if conn.execute("SELECT 1 FROM hitl_reviewers LIMIT 1").fetchone() is None:
            return None
        if conn.execute("SELECT 1 FROM hitl_reviewers WHERE name = ?", (who,)).fetchone():
            return None
        return NotAuthorizedError(f"{who!r} is not a registered reviewer and may not {what}")

    def _vote(
        self,
        conn: Connection,
        request_id: str,
        decision: Decision,
        quorum: int,
        digest: str,
    ) -> HitlError | None:
        """Keep one reviewer's vote, on the args digest it was made for."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO hitl_votes (request_id, reviewer, type, comment, voted_at,"
            " digest) VALUES (?, ?, ?, ?, ?, ?)",
            (
                request_id,
                decision.reviewer,
                decision.type,
                decision.comment,
                decision.decided_at.timestamp(),
                digest,
            ),
        )
        if not cur.rowcount:
            return AlreadyDecidedError(
                f"{decision.reviewer} already voted on {request_id}; it needs {quorum} different"
                " approvers"
            )
        return None

    @staticmethod
    def _approvals(conn: Connection, request_id: str, digest: str) -> list[str]:
        """Who approved the args with this digest (a vote from before digests: the args shown)."""
        rows = conn.execute(
            "SELECT v.reviewer FROM hitl_votes v JOIN hitl_requests r USING (request_id)"
            " WHERE v.request_id = ? AND v.type = 'approve'"
            " AND COALESCE(v.digest, r.args_digest) = ? ORDER BY v.voted_at, v.reviewer",
            (request_id, digest),
        ).fetchall()
        return [r[0] for r in rows]

    # -- deadlines, escalation, cancelling ---------------------------------------

    def overdue(self, now: float | None = None) -> list[RequestRecord]:
        """Pending requests whose deadline has passed, most overdue first."""
        now = clock() if now is None else now
        rows = self._read(
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
        with self._tx() as conn:
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
                self._event(
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
            self._event(
                conn,
                "timed_out",
                request_id=request_id,
                thread_id=thread_id,
                actor=SWEEP_ACTOR,
                data={"decision": kind, "level": level},
                at=now,
            )
            self._insert_decision(
                conn, f"dec_{uuid.uuid4().hex[:12]}", request_id, thread_id, digest, decision
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
        with self._tx() as conn:
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
            as_reject = Decision.reject(reason, reviewer=actor)
            for request_id, eligible in open_rows:
                # The owner bar is about approving: an owner may stop their own work.
                refusal = self._authorize(conn, request_id, as_reject, eligible, None)
                if refusal is not None:
                    self._event(
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
                    self._event(
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
                self._event(
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
        rows = self._read(
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
        with self._tx() as conn:
            return int(
                conn.execute("DELETE FROM hitl_outbox WHERE thread_id = ?", (thread_id,)).rowcount
            )

    def thread_result(self, thread_id: str) -> str | None:
        """How a thread ended, as `finish_thread` or `cancel_thread` noted it."""
        rows = self._read("SELECT result FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def _insert_decision(
        self,
        conn: Connection,
        decision_id: str,
        request_id: str,
        thread_id: str,
        digest: str,
        decision: Decision,
    ) -> None:
        decided_at = decision.decided_at.timestamp()
        conn.execute(
            "INSERT INTO hitl_decisions (decision_id, request_id, type, reviewer, comment,"
            " payload, seen_digest, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                decision_id,
                request_id,
                decision.type,
                decision.reviewer,
                decision.comment,
                json.dumps(decision.to_wire()),
                digest,
                decided_at,
            ),
        )
        conn.execute(
            "UPDATE hitl_requests SET status = 'decided', decision_id = ?, decided_at = ? "
            "WHERE request_id = ?",
            (decision_id, decided_at, request_id),
        )
        self._event(
            conn,
            "decided",
            request_id=request_id,
            thread_id=thread_id,
            actor=decision.reviewer,
            data=trail_form(decision.to_wire()),
        )

    _HELD = (
        # In the dialect both backends read (`json_extract` is one of the functions the
        # PostgreSQL schema defines): the pause a tool call belongs to is in its payload.
        "(COALESCE(json_extract(r.payload, '$.pause.mode'), '') = 'batched'"
        " AND EXISTS (SELECT 1 FROM hitl_requests s WHERE s.thread_id = r.thread_id"
        " AND s.status = 'pending' AND json_extract(s.payload, '$.pause.interrupt_id')"
        " = json_extract(r.payload, '$.pause.interrupt_id')))"
    )
    """SQL: request `r` belongs to a batched agent pause that still has a pending tool call
    (the pause is answered once, with every decision: see `_stock_hitl`)."""

    def to_apply(self, thread_id: str | None = None) -> list[RequestRecord]:
        """Decided requests not yet applied, oldest decision first.

        A decided tool call of a batched agent pause waits here until every tool call of
        that pause is decided (`held`): the pause is resumed once, with all of them.
        """
        where = f"status = 'decided' AND NOT {self._HELD}"
        where += "" if thread_id is None else " AND thread_id = ?"
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE {where} ORDER BY decided_at",
            () if thread_id is None else (thread_id,),
        )
        return [self._record(row) for row in rows]

    def held(self, thread_id: str | None = None) -> list[RequestRecord]:
        """Decided tool calls of batched agent pauses that wait for their pause's other calls."""
        where = f"status = 'decided' AND {self._HELD}"
        where += "" if thread_id is None else " AND thread_id = ?"
        rows = self._read(
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
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ?"
            " AND substr(interrupt_id, 1, ?) = ?",
            (rec.thread_id, len(prefix), prefix),
        )
        members = [self._record(row) for row in rows]
        return sorted(members, key=lambda m: (m.pause or {}).get("index", 0))

    def task_requests(self, thread_id: str, task_id: str) -> list[RequestRecord]:
        """The requests a task's interrupts made, oldest first."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM hitl_requests r WHERE thread_id = ? AND task_id = ?"
            " ORDER BY created_at, rowid",
            (thread_id, task_id),
        )
        return [self._record(row) for row in rows]

    def mark_answered(self, request_id: str, *, kind: str, data: dict[str, Any]) -> bool:
        """Mark a request applied because an answer sent straight to LangGraph acted on it.

        `kind` names the event: `answered_directly` (the answer met the ledger's rules and
        was recorded under them) or `answered_outside_rules` (it did not; `data["why"]`
        says why, and the trail shows it acted all the same).
        """
        with self._tx() as conn:
            actor = conn.execute(
                "SELECT reviewer FROM hitl_decisions WHERE request_id = ?", (request_id,)
            ).fetchone()
            return self._move(
                conn,
                request_id,
                "applied",
                ("pending", "decided"),
                None if actor is None else actor[0],
                data,
                clock(),
                kind=kind,
            )

    def claim(self, request_id: str, applier: str) -> None:
        """Note the lease under which a direct answer to the request is being taken."""
        self.mark_apply_started([request_id], applier, statuses=("pending", "decided"))

    def mark_apply_started(
        self,
        request_ids: Sequence[str],
        applier: str | None,
        *,
        statuses: tuple[str, ...] = ("decided",),
    ) -> None:
        """Note that a resume with these decisions is about to reach LangGraph, and under
        which lease (`applier`); an earlier failure to apply is cleared."""
        now = clock()
        with self._tx() as conn:
            for request_id in request_ids:
                marks = ", ".join("?" for _ in statuses)
                conn.execute(
                    "UPDATE hitl_requests SET apply_started_at = CASE WHEN status = 'decided'"
                    " THEN COALESCE(apply_started_at, ?) END, applier = ?, apply_error = NULL"
                    f" WHERE request_id = ? AND status IN ({marks})",
                    (now, applier, request_id, *statuses),
                )

    def mark_applied(self, request_ids: Sequence[str], *, actor: str | None, outcome: str) -> None:
        """Mark decided requests applied, with where the thread ended.

        The event names who applied (`actor`) and, beside it, who decided.
        """
        now = clock()
        with self._tx() as conn:
            for request_id in request_ids:
                decided = conn.execute(
                    "SELECT reviewer FROM hitl_decisions WHERE request_id = ?", (request_id,)
                ).fetchone()
                data = {"outcome": outcome, "decided_by": None if decided is None else decided[0]}
                self._move(conn, request_id, "applied", ("decided",), actor, data, now)

    def note_apply_error(
        self, request_ids: Sequence[str], error: str, *, actor: str | None
    ) -> None:
        """Keep why applying these decided requests failed, in sight until one applies them."""
        now = clock()
        with self._tx() as conn:
            for request_id in request_ids:
                row = conn.execute(
                    "UPDATE hitl_requests SET apply_error = ? WHERE request_id = ?"
                    " AND status = 'decided' RETURNING thread_id",
                    (error, request_id),
                ).fetchone()
                if row is not None:
                    self._event(
                        conn,
                        "apply_failed",
                        request_id=request_id,
                        thread_id=row[0],
                        actor=actor,
                        data={"error": error},
                        at=now,
                    )

    def close_request(
        self,
        request_id: str,
        *,
        status: str,
        why: str,
        actor: str | None,
        only: tuple[str, ...] = ("pending", "decided"),
    ) -> bool:
        """Move a request that is in one of `only` to `superseded` or `cancelled`.

        Returns whether it moved (checked in the same transaction as the move).
        """
        with self._tx() as conn:
            return self._move(conn, request_id, status, only, actor, {"why": why}, clock())

    def _move(
        self,
        conn: Connection,
        request_id: str,
        status: str,
        from_statuses: tuple[str, ...],
        actor: str | None,
        data: dict[str, Any],
        now: float,
        *,
        kind: str | None = None,
    ) -> bool:
        """Change a request's status if it is in one of `from_statuses`, and log it.

        The event is named `kind`, or the new status. Returns whether it moved.
        """
        marks = ", ".join("?" for _ in from_statuses)
        row = conn.execute(
            f"UPDATE hitl_requests SET status = ?, applied_at = CASE WHEN ? = 'applied' THEN ?"
            f" ELSE applied_at END WHERE request_id = ? AND status IN ({marks})"
            " RETURNING thread_id",
            (status, status, now, request_id, *from_statuses),
        ).fetchone()
        if row is not None:
            self._event(
                conn,
                kind or status,
                request_id=request_id,
                thread_id=row[0],
                actor=actor,
                data=data,
                at=now,
            )
        return row is not None

    # -- after-the-fact review ----------------------------------------------------

    def queue_review(
        self,
        *,
        thread_id: str,
        request: ApprovalRequest,
        graph: str | None = None,
        node: str | None = None,
        route_id: str | None = None,
        sample_rate: float | None = None,
    ) -> str:
        """Queue autonomous work for review after the fact; idempotent per thread and action.

        `route_id` and `sample_rate` tie the item to its routing row, so metrics can
        weigh problems found in a sample by how much of the work was sampled.

        Example:
            >>> req = ledger.get(request_id).request
            >>> ledger.queue_review(thread_id="INV-1003", request=req)
            'rev_69b3117645f4'
            >>> ledger.queue_review(thread_id="INV-1003", request=req)  # the same item
            'rev_69b3117645f4'
        """
        review_id = stable_id("rev", thread_id, node, request.action.digest())
        now = clock()
        with self._tx() as conn:
            self._register(conn, thread_id, graph)
            cur = conn.execute(
                "INSERT OR IGNORE INTO hitl_reviews (review_id, thread_id, graph, node,"
                " action_name, action_args, summary, tier, confidence, reasons, status,"
                " created_at, route_id, sample_rate)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
                (
                    review_id,
                    thread_id,
                    graph,
                    node,
                    request.action.name,
                    canonical_json(request.action.args),
                    request.summary,
                    request.risk_tier,
                    request.confidence,
                    canonical_json(request.reasons),
                    now,
                    route_id,
                    sample_rate,
                ),
            )
            if cur.rowcount:
                self._event(
                    conn,
                    "queued_for_review",
                    request_id=review_id,
                    thread_id=thread_id,
                    data={"action": request.action.name},
                    at=now,
                )
        return review_id

    _REVIEW_COLUMNS = (
        "review_id, thread_id, graph, node, action_name, action_args, summary, tier,"
        " confidence, reasons, status, created_at, closed_at, reviewer, note"
    )

    @staticmethod
    def _review(row: tuple[Any, ...]) -> ReviewItem:
        (rid, tid, graph, node, name, args, summary, tier, conf, reasons) = row[:10]
        status, created, closed, reviewer, note = row[10:]
        return ReviewItem(
            review_id=rid,
            thread_id=tid,
            graph=graph,
            node=node,
            action={"name": name, "args": json.loads(args)},
            summary=summary,
            tier=tier,
            confidence=conf,
            reasons=json.loads(reasons),
            status=status,
            created_at=created,
            closed_at=closed,
            reviewer=reviewer,
            note=note,
        )

    def reviews(self, *, status: str | None = "open", limit: int | None = None) -> list[ReviewItem]:
        """Items queued for review after the fact, oldest first."""
        sql = f"SELECT {self._REVIEW_COLUMNS} FROM hitl_reviews"
        params: tuple[Any, ...] = ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status,)
        sql += " ORDER BY created_at, review_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._review(row) for row in self._read(sql, params)]

    def count_reviews(self, *, status: str | None = "open") -> int:
        """How many items are queued for review after the fact (with `reviews`' filter)."""
        if status is None:
            return int(self._read("SELECT COUNT(*) FROM hitl_reviews")[0][0])
        rows = self._read("SELECT COUNT(*) FROM hitl_reviews WHERE status = ?", (status,))
        return int(rows[0][0])

    def close_review(
        self, review_id: str, *, problem: str | None, reviewer: str | None
    ) -> ReviewItem:
        """Close an after-the-fact review: fine (`problem=None`) or a problem found."""
        status = "ok" if problem is None else "problem"
        now = clock()
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status, thread_id FROM hitl_reviews WHERE review_id = ?", (review_id,)
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no review item with id {review_id!r}")
            if row[0] != "open":
                raise AlreadyDecidedError(f"review item {review_id} was already closed ({row[0]})")
            conn.execute(
                "UPDATE hitl_reviews SET status = ?, closed_at = ?, reviewer = ?, note = ? "
                "WHERE review_id = ?",
                (status, now, reviewer, problem, review_id),
            )
            self._event(
                conn,
                "reviewed",
                request_id=review_id,
                thread_id=row[1],
                actor=reviewer,
                data={"status": status, "problem": problem},
                at=now,
            )
        rows = self._read(
            f"SELECT {self._REVIEW_COLUMNS} FROM hitl_reviews WHERE review_id = ?", (review_id,)
        )
        return self._review(rows[0])
