"""The routing log: where each piece of work went, and why."""

from __future__ import annotations

import json
from typing import Any

from langgraph_hitl._json import canonical_json
from langgraph_hitl._time import clock, iso
from langgraph_hitl.ledger.store import stable_id
from langgraph_hitl.ledger.threads import Threads


class RoutingLog(Threads):
    """Where each piece of work went (autonomous, sampled, review, escalated)."""

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
        with self.write() as conn:
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
                self.append_event(
                    conn,
                    "routed",
                    request_id=route_id,
                    thread_id=thread_id,
                    data={
                        "outcome": routing["outcome"],
                        "tier": routing.get("tier"),
                        "reasons": routing.get("reasons") or [],
                        "args_digest": None if action is None else _digest_of(action),
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
        rows = self.read(sql + " ORDER BY created_at, route_id", params)
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


def _digest_of(action: Any) -> str:
    from langgraph_hitl.models import Action  # validated here only: see `langgraph_hitl._json`

    return Action.model_validate(action).digest()
