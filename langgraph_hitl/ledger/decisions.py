"""Decisions and votes: recorded once (the first valid decision wins), checked against
who may take them, then applied and closed."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    DecisionNotAllowedError,
    HitlError,
    NotAuthorizedError,
    NotPendingError,
    UnknownRequestError,
)
from langgraph_hitl.ledger._args import trail_form
from langgraph_hitl.ledger.records import RequestRecord
from langgraph_hitl.ledger.requests import Requests
from langgraph_hitl.ledger.store import Connection

if TYPE_CHECKING:
    from langgraph_hitl.models import Decision


def _parse_decision(answer: Any) -> Decision | None:
    from langgraph_hitl.models import Decision

    try:
        return Decision.model_validate(answer)
    except ValueError:
        return None


def _with_approvers(comment: str | None, approvals: Sequence[str]) -> str:
    note = f"approved by {', '.join(approvals)}"
    return note if not comment else f"{comment} ({note})"


class _RolledBack(Exception):
    """Ends a dry run's transaction (rolled back), carrying what it would have recorded."""

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(record.request_id)
        self.record = record


def _bars_owner(flag: Any) -> bool:
    """A request's `bar_owner` as `json_extract` reads it: SQLite gives 0 or 1, PostgreSQL
    the JSON text; absent means barred."""
    return flag not in (0, False, "false")


class Decisions(Requests):
    """Recording decisions and votes, and following them until applied."""

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
        decision_id = f"dec_{os.urandom(6).hex()}"
        refusal: HitlError | None = None
        with self.write() as conn:
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
            from langgraph_hitl.models import Action

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
                self.append_event(
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
            self.append_event(
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
        from langgraph_hitl.models import Decision

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
        with self.write() as conn:
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
        self.append_event(
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

    def votes(self, request_id: str) -> list[tuple[str, str, str | None, float, bool]]:
        """The votes kept on a request under a quorum, oldest first: (reviewer, type,
        comment, when, whether it counts for the args as they stand now)."""
        rows = self.read(
            "SELECT v.reviewer, v.type, v.comment, v.voted_at,"
            " COALESCE(v.digest, r.args_digest) = COALESCE(r.proposal_digest, r.args_digest)"
            " FROM hitl_votes v JOIN hitl_requests r USING (request_id)"
            " WHERE v.request_id = ? ORDER BY v.voted_at, v.reviewer",
            (request_id,),
        )
        return [(who, kind, comment, at, bool(now)) for who, kind, comment, at, now in rows]

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
        self.append_event(
            conn,
            "decided",
            request_id=request_id,
            thread_id=thread_id,
            actor=decision.reviewer,
            data=trail_form(decision.to_wire()),
        )

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
        with self.write() as conn:
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

    def mark_answered(self, request_id: str, *, kind: str, data: dict[str, Any]) -> bool:
        """Mark a request applied because an answer sent straight to LangGraph acted on it.

        `kind` names the event: `answered_directly` (the answer met the ledger's rules and
        was recorded under them) or `answered_outside_rules` (it did not; `data["why"]`
        says why, and the trail shows it acted all the same).
        """
        with self.write() as conn:
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
        with self.write() as conn:
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
        with self.write() as conn:
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
        with self.write() as conn:
            for request_id in request_ids:
                row = conn.execute(
                    "UPDATE hitl_requests SET apply_error = ? WHERE request_id = ?"
                    " AND status = 'decided' RETURNING thread_id",
                    (error, request_id),
                ).fetchone()
                if row is not None:
                    self.append_event(
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
        with self.write() as conn:
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
            self.append_event(
                conn,
                kind or status,
                request_id=request_id,
                thread_id=row[0],
                actor=actor,
                data=data,
                at=now,
            )
        return row is not None
