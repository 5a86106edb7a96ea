"""The feedback loop: every human override kept as a training example, and calibration.

A human who rejects, modifies or responds to an action has told us the agent was
wrong. The ledger already keeps all of it (what the agent proposed, what the human
chose, the confidence, tier and reasons at the time, who decided and why); this module
reads it back out:

* `overrides()` / `export_overrides()`: every reject, modify and respond decision as
  one JSON row (`langgraph-hitl export --overrides` writes them as JSON lines).
* `training_examples()`: decided requests and closed after-the-fact reviews, labelled
  1 when a human changed the outcome, for `langgraph_hitl.capture.predict.train`.
* `calibrate()`: which confidence thresholds would have caught the overrides at a
  target escalation rate, computed from the routing log. It proposes; it never
  changes a router or a policy.

Decisions the deadline sweep took (`SWEEP_ACTOR`) are not human judgements and are
left out everywhere. Answers given straight to the graph (`Command(resume=...)`) are
exported with `source: "direct"`; they train the model only when they name a reviewer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from pydantic import ValidationError

from langgraph_hitl._time import iso
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger import SWEEP_ACTOR
from langgraph_hitl.ledger._args import payload_sql
from langgraph_hitl.models import Action, ApprovalRequest, Decision

if TYPE_CHECKING:
    from langgraph_hitl.ledger import ReviewLedger

OVERRIDE_TYPES: tuple[str, ...] = ("reject", "modify", "respond")
"""Decisions that change what the agent proposed: each one is an override."""

DEFAULT_TARGET_RATE = 0.2
"""The escalation rate `calibrate` aims for unless told otherwise."""

DEFAULT_GRID: tuple[float, ...] = tuple(i / 20 for i in range(21))
"""Candidate confidence thresholds: 0.00, 0.05, ..., 1.00."""


# -- overrides -----------------------------------------------------------------------

_DIRECT = (
    "EXISTS (SELECT 1 FROM hitl_events e WHERE e.request_id = r.request_id"
    " AND e.kind = 'answered_directly')"
)
_HUMAN = "(d.reviewer IS NULL OR d.reviewer <> ?)"
_PROBLEMS = "SELECT confidence FROM hitl_reviews WHERE status = 'problem'"


def overrides(ledger: ReviewLedger, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every reject, modify and respond decision by a human, oldest decision first.

    Each row is a training example: what the agent proposed (`proposed`), what the
    human chose (`chosen`: type, edited args, reason, response), the confidence, tier
    and reasons at the time, who decided (`reviewer`) and their comment, and where the
    answer came from (`source`: `desk` for the CLI and `ReviewDesk`, `direct` for a
    `Command(resume=...)` given to the graph). Deadline-sweep decisions are left out.

    Args:
        ledger: The ledger to read.
        since: Only decisions taken at or after this time.

    Example:
        >>> rows = overrides(ledger)
        >>> rows[0]["summary"], rows[0]["reviewer"]
        ('Pay INV-0002: 5,766.79 EUR to Hooli Partners', 'mia')
        >>> rows[0]["chosen"]["type"], rows[0]["chosen"]["reason"]
        ('reject', 'unknown vendor: not on our supplier list')
    """
    marks = ", ".join("?" for _ in OVERRIDE_TYPES)
    sql = (
        f"SELECT r.request_id, r.thread_id, r.graph, r.gate, {payload_sql('r')}, r.created_at,"
        f" d.payload, d.reviewer, d.comment, d.decided_at, {_DIRECT}"
        " FROM hitl_decisions d JOIN hitl_requests r ON r.request_id = d.request_id"
        f" WHERE d.type IN ({marks}) AND {_HUMAN}"
    )
    params: list[Any] = [*OVERRIDE_TYPES, SWEEP_ACTOR]
    if since is not None:
        sql += " AND d.decided_at >= ?"
        params.append(since.timestamp())
    sql += " ORDER BY d.decided_at, d.request_id"
    out: list[dict[str, Any]] = []
    for row in ledger.read(sql, params):
        (rid, tid, graph, gate, payload, created, decision_json) = row[:7]
        reviewer, comment, decided_at, direct = row[7:]
        request = ApprovalRequest.model_validate(json.loads(payload)["request"])
        decision = Decision.model_validate_json(decision_json)
        out.append(
            {
                "request_id": rid,
                "thread_id": tid,
                "graph": graph,
                "gate": gate,
                "source": "direct" if direct else "desk",
                "summary": request.summary,
                "proposed": {"name": request.action.name, "args": request.action.args},
                "chosen": {
                    "type": decision.type,
                    "args": decision.args,
                    "reason": decision.reason,
                    "response": decision.response,
                },
                "confidence": request.confidence,
                "tier": request.risk_tier,
                "reasons": request.reasons,
                "reviewer": reviewer,
                "comment": comment,
                "created_at": iso(created),
                "decided_at": iso(decided_at),
            }
        )
    return out


def export_overrides(ledger: ReviewLedger, stream: TextIO, *, since: datetime | None = None) -> int:
    """Write `overrides()` to `stream` as JSON lines (keys sorted); returns how many.

    Example:
        >>> with open("overrides.jsonl", "w") as handle:
        ...     export_overrides(ledger, handle)
        22
    """
    rows = overrides(ledger, since=since)
    for row in rows:
        stream.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    return len(rows)


# -- training examples ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Example:
    """One labelled piece of past work: the request as it was, and whether a human changed it.

    Example:
        >>> req = ApprovalRequest(action=Action(name="pay_invoice"), summary="Pay INV-7")
        >>> ex = Example(request=req, at=datetime(2025, 3, 1, 9, tzinfo=UTC), label=1,
        ...              source="decision", ref="req_3f2a9c1b7d40")
        >>> ex.label
        1
    """

    request: ApprovalRequest
    """The action, tier, confidence and reasons when the work was routed."""
    at: datetime
    """When the work reached the ledger (the hour feature)."""
    label: int
    """1 when a human rejected, modified or responded (or found a problem), else 0."""
    source: Literal["decision", "review"]
    """A gate's decided request, or an after-the-fact review."""
    ref: str
    """The request id or review id it came from."""


def training_examples(ledger: ReviewLedger) -> list[Example]:
    """Decided requests and closed reviews, labelled by whether a human changed the outcome.

    A decided request is an example unless the deadline sweep decided it, or it was
    answered straight to the graph without naming a reviewer (a script cannot be told
    from a person there). An after-the-fact review closed `problem` is a positive,
    one closed `ok` a negative. Rows that no longer validate are skipped.

    Example:
        >>> examples = training_examples(ledger)
        >>> sum(e.label for e in examples), len(examples)
        (22, 48)
        >>> [e.source for e in examples].count("review")  # the rest are decisions
        15
    """
    found: list[Example] = []
    decided = ledger.read(
        f"SELECT r.request_id, {payload_sql('r')}, r.created_at, d.type FROM hitl_decisions d"
        " JOIN hitl_requests r ON r.request_id = d.request_id"
        f" WHERE {_HUMAN} AND NOT (d.reviewer IS NULL AND {_DIRECT})"
        " ORDER BY r.created_at, r.request_id",
        (SWEEP_ACTOR,),
    )
    for rid, payload, created, kind in decided:
        try:
            request = ApprovalRequest.model_validate(json.loads(payload)["request"])
        except (ValueError, KeyError, TypeError):
            continue
        found.append(
            Example(
                request=request,
                at=datetime.fromtimestamp(created, UTC),
                label=int(kind in OVERRIDE_TYPES),
                source="decision",
                ref=rid,
            )
        )
    reviewed = ledger.read(
        "SELECT review_id, action_name, action_args, summary, tier, confidence, reasons,"
        " status, created_at FROM hitl_reviews WHERE status IN ('ok', 'problem')"
        " ORDER BY created_at, review_id",
    )
    for rid, name, args, summary, tier, confidence, reasons, status, created in reviewed:
        try:
            request = ApprovalRequest(
                action=Action(name=name, args=json.loads(args)),
                summary=summary or name,
                risk_tier=tier or "medium",
                confidence=confidence,
                reasons=json.loads(reasons),
            )
        except (ValueError, TypeError, ValidationError):
            continue
        found.append(
            Example(
                request=request,
                at=datetime.fromtimestamp(created, UTC),
                label=int(status == "problem"),
                source="review",
                ref=rid,
            )
        )
    return found


# -- calibration ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ThresholdRow:
    """What one confidence threshold would have done: escalate below it."""

    threshold: float
    escalated: int
    """Routed work with confidence below the threshold (or none at all)."""
    escalation_rate: float
    caught: int
    """Overrides and review problems with confidence below the threshold."""
    caught_share: float
    meets_target: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "escalated": self.escalated,
            "escalation_rate": self.escalation_rate,
            "caught": self.caught,
            "caught_share": self.caught_share,
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True, kw_only=True)
class CalibrationReport:
    """Proposed confidence thresholds and the table they come from. Nothing is applied.

    `review_at` is the threshold whose escalation rate is within the target and that
    catches the most overrides (the lowest such threshold on a tie): work below it goes
    to a human first. `autonomous_at` is the lowest threshold at or above `review_at`
    that catches every override any threshold catches: work between the two is done
    and reviewed after the fact.

    Example:
        >>> report = calibrate(ledger, target_rate=0.4)
        >>> round(report.current_escalation_rate, 2), report.review_at, report.autonomous_at
        (0.42, 0.3, 0.95)
    """

    target_rate: float
    routed: int
    """Items in the routing log: the population escalation rates are shares of."""
    current_escalation_rate: float
    """The share of routed work that was actually escalated."""
    overrides: int
    """Reject, modify and respond decisions by humans."""
    problems: int
    """After-the-fact reviews closed with a problem."""
    rows: list[ThresholdRow] = field(default_factory=list)
    review_at: float | None = None
    autonomous_at: float | None = None
    applied: Literal[False] = False
    """Always False: calibration only proposes."""

    @property
    def proposed(self) -> ThresholdRow | None:
        """The table row of `review_at`."""
        return self._row(self.review_at)

    @property
    def widest(self) -> ThresholdRow | None:
        """The table row of `autonomous_at`."""
        return self._row(self.autonomous_at)

    def _row(self, threshold: float | None) -> ThresholdRow | None:
        return next((r for r in self.rows if r.threshold == threshold), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "target_rate": self.target_rate,
            "routed": self.routed,
            "current_escalation_rate": self.current_escalation_rate,
            "overrides": self.overrides,
            "problems": self.problems,
            "proposal": {"review_at": self.review_at, "autonomous_at": self.autonomous_at},
            "applied": self.applied,
            "rows": [row.to_json() for row in self.rows],
        }


def calibrate(
    ledger: ReviewLedger,
    *,
    target_rate: float = DEFAULT_TARGET_RATE,
    grid: Sequence[float] = DEFAULT_GRID,
) -> CalibrationReport:
    """Propose confidence thresholds from history; change nothing.

    For each candidate threshold `t` (work with confidence below `t` escalates, as
    `ConfidenceRouter`'s `review_at` does), the escalation rate is the share of the
    routing log with confidence below `t`, and the caught share is the share of
    human overrides and after-the-fact review problems whose confidence was below `t`.
    Work without a confidence counts as escalated and caught at every threshold, since
    routers fail closed on it.

    Args:
        ledger: The ledger to read: `hitl_routes` for the rates, decisions and reviews
            for what should have been caught.
        target_rate: The highest acceptable escalation rate, in (0, 1].
        grid: Candidate thresholds (default 0.00 to 1.00 by 0.05).

    Raises:
        BadInputError: A target out of range, an empty routing log, or no overrides.

    Example:
        >>> report = calibrate(ledger, target_rate=0.4)
        >>> proposed = report.proposed
        >>> report.review_at, proposed.escalated, report.routed, round(proposed.caught_share, 2)
        (0.3, 23, 81, 0.91)
    """
    if not (isinstance(target_rate, int | float) and 0.0 < target_rate <= 1.0):
        raise BadInputError(f"target rate must be within (0, 1], got {target_rate}")
    thresholds = sorted({float(t) for t in grid})
    if not thresholds or not all(math.isfinite(t) for t in thresholds):
        raise BadInputError("calibrate needs finite candidate thresholds")
    routes = ledger.read("SELECT confidence, outcome FROM hitl_routes")
    if not routes:
        raise BadInputError(
            "the routing log is empty: calibrate needs routed work (record_route) to"
            " measure escalation rates"
        )
    marks = ", ".join("?" for _ in OVERRIDE_TYPES)
    missed = [
        r[0]
        for r in ledger.read(
            "SELECT r.confidence FROM hitl_decisions d JOIN hitl_requests r"
            f" ON r.request_id = d.request_id WHERE d.type IN ({marks}) AND {_HUMAN}",
            (*OVERRIDE_TYPES, SWEEP_ACTOR),
        )
    ]
    problems = [r[0] for r in ledger.read(_PROBLEMS)]
    targets = missed + problems
    if not targets:
        raise BadInputError(
            f"no overrides to calibrate on: {len(routes)} routed items, but no human has"
            " rejected, modified or responded, nor found a problem in a review"
        )
    confidences = [r[0] for r in routes]
    rows = []
    for t in thresholds:
        escalated = sum(1 for c in confidences if c is None or c < t)
        caught = sum(1 for c in targets if c is None or c < t)
        rate = escalated / len(confidences)
        rows.append(
            ThresholdRow(
                threshold=t,
                escalated=escalated,
                escalation_rate=rate,
                caught=caught,
                caught_share=caught / len(targets),
                meets_target=rate <= target_rate,
            )
        )
    within = [r for r in rows if r.meets_target]
    review_at = autonomous_at = None
    if within:
        best = max(within, key=lambda r: (r.caught, -r.threshold))
        review_at = best.threshold
        most = max(r.caught for r in rows)
        autonomous_at = min(
            r.threshold for r in rows if r.caught == most and r.threshold >= best.threshold
        )
    return CalibrationReport(
        target_rate=float(target_rate),
        routed=len(routes),
        current_escalation_rate=sum(1 for r in routes if r[1] == "escalated") / len(routes),
        overrides=len(missed),
        problems=len(problems),
        rows=rows,
        review_at=review_at,
        autonomous_at=autonomous_at,
    )
