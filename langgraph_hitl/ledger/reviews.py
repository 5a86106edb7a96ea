"""After-the-fact review: work that ran without a human, queued to be checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    UnknownRequestError,
)
from langgraph_hitl.ledger.records import ReviewItem
from langgraph_hitl.ledger.store import stable_id
from langgraph_hitl.ledger.threads import Threads

if TYPE_CHECKING:
    from langgraph_hitl.models import ApprovalRequest


class Reviews(Threads):
    """The sampled and review queues, and their closing."""

    _REVIEW_COLUMNS = (
        "review_id, thread_id, graph, node, action_name, action_args, summary, tier,"
        " confidence, reasons, status, created_at, closed_at, reviewer, note"
    )

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
        with self.write() as conn:
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
                self.append_event(
                    conn,
                    "queued_for_review",
                    request_id=review_id,
                    thread_id=thread_id,
                    data={"action": request.action.name},
                    at=now,
                )
        return review_id

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
        return [self._review(row) for row in self.read(sql, params)]

    def count_reviews(self, *, status: str | None = "open") -> int:
        """How many items are queued for review after the fact (with `reviews`' filter)."""
        if status is None:
            return int(self.read("SELECT COUNT(*) FROM hitl_reviews")[0][0])
        rows = self.read("SELECT COUNT(*) FROM hitl_reviews WHERE status = ?", (status,))
        return int(rows[0][0])

    def tier_roles(self) -> dict[tuple[str | None, str | None], list[str]]:
        """The roles the requests of each graph and tier named as eligible to decide them,
        across every request the ledger holds (a request moved up the chain adds the
        roles it moved to): what the inbox asks of whoever closes an after-the-fact
        review of the same graph and tier. A pair no request names is absent."""
        found: dict[tuple[str | None, str | None], list[str]] = {}
        rows = self.read(
            "SELECT DISTINCT graph, tier, eligible FROM hitl_requests WHERE eligible IS NOT NULL"
        )
        for graph, tier, eligible in rows:
            roles = found.setdefault((graph, tier), [])
            roles += [r for r in json.loads(eligible) if isinstance(r, str) and r not in roles]
        return found

    def close_review(
        self, review_id: str, *, problem: str | None, reviewer: str | None
    ) -> ReviewItem:
        """Close an after-the-fact review: fine (`problem=None`) or a problem found."""
        status = "ok" if problem is None else "problem"
        now = clock()
        with self.write() as conn:
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
            self.append_event(
                conn,
                "reviewed",
                request_id=review_id,
                thread_id=row[1],
                actor=reviewer,
                data={"status": status, "problem": problem},
                at=now,
            )
        rows = self.read(
            f"SELECT {self._REVIEW_COLUMNS} FROM hitl_reviews WHERE review_id = ?", (review_id,)
        )
        return self._review(rows[0])
