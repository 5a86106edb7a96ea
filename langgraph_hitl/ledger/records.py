"""What the ledger hands out: a request as recorded, and an item queued for review."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from langgraph_hitl._json import action_digest
from langgraph_hitl._time import iso

if TYPE_CHECKING:
    from langgraph_hitl.models import ApprovalRequest, Decision


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One approval request as the ledger holds it.

    What the queue shows (`action_name`, `action_args`, `summary`, `tier`, `confidence`,
    `reasons`) is read as the ledger stored it when the request was validated; the whole
    `request` is validated again from its stored JSON when it is first read, so listing
    the queue does not load the models.

    Example:
        >>> rec = ledger.get(request_id)
        >>> rec.status, rec.thread_id, rec.request.action.name, rec.required_role
        ('pending', 'INV-1003', 'pay_invoice', 'manager')
    """

    request_id: str
    thread_id: str
    interrupt_id: str
    graph: str | None
    gate: str | None
    status: str
    """pending, decided, applied, cancelled or superseded."""
    created_at: float
    deadline: float | None
    args_digest: str
    action_name: str
    action_args: dict[str, Any]
    summary: str
    tier: str | None
    confidence: float | None
    reasons: list[str]
    stored_request: dict[str, Any]
    """The request as recorded (`request` is it, validated)."""
    decision: Decision | None = None
    decided_at: float | None = None
    apply_started_at: float | None = None
    applied_at: float | None = None
    required_role: str | None = None
    """The lowest role that may decide now; rises as deadlines pass."""
    eligible: list[str] = field(default_factory=list)
    """Roles that may decide now (empty: anyone)."""
    level: int = 0
    """Escalation steps taken so far."""
    quorum: int = 1
    approvals: list[str] = field(default_factory=list)
    """Reviewers who approved so far, while a quorum is incomplete."""
    owner: str | None = None
    applier: str | None = None
    """The lease the decision was (or is being) applied under."""
    apply_error: str | None = None
    """Why applying the recorded decision failed, until it applies (`resume`)."""
    proposal: dict[str, Any] | None = None
    """Under a quorum: the args as a reviewer edited them, which approvals now count for."""
    pause: dict[str, Any] | None = None
    """For a tool call LangChain's HumanInTheLoopMiddleware paused on: the middleware,
    its mode (`batched`, `per_call`), the interrupt, and this call's `index` of `count`."""

    @cached_property
    def request(self) -> ApprovalRequest:
        """The request, as the gate asked it."""
        from langgraph_hitl.models import ApprovalRequest

        return ApprovalRequest.model_validate(self.stored_request)

    @property
    def current_args(self) -> dict[str, Any]:
        """The args a decision now approves: the proposal under a quorum, else as shown."""
        return self.action_args if self.proposal is None else self.proposal

    def as_seen(self, decision: Decision) -> Decision:
        """The decision, bound to the request as it stands now when it names no digest
        (its proposal, when reviewers of a quorum edited it)."""
        if decision.seen_digest is not None or self.proposal is None:
            return decision
        return decision.model_copy(update={"seen_digest": self.current_digest})

    @property
    def current_digest(self) -> str:
        """The digest a decision must have been made against (`Decision.seen_digest`)."""
        if self.proposal is None:
            return self.args_digest
        return action_digest(self.action_name, self.proposal)

    def to_row(self) -> dict[str, Any]:
        """The JSON row `list --json` prints."""
        return {
            "request_id": self.request_id,
            "thread_id": self.thread_id,
            "graph": self.graph,
            "gate": self.gate,
            "status": self.status,
            "action": {"name": self.action_name, "args": self.action_args},
            "summary": self.summary,
            "tier": self.tier,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "created_at": iso(self.created_at),
            "deadline": iso(self.deadline),
            "args_digest": self.args_digest,
            "required_role": self.required_role,
            "eligible_roles": self.eligible,
            "escalation_level": self.level,
            "quorum": self.quorum,
            "approvals": self.approvals,
            "owner": self.owner,
            "apply_error": self.apply_error,
            "proposal": self.proposal,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything about the request: `show --json`."""
        row = self.to_row()
        row["interrupt_id"] = self.interrupt_id
        row["request"] = self.request.to_wire()
        row["decision"] = None if self.decision is None else self.decision.to_wire()
        row["decided_at"] = iso(self.decided_at)
        row["applied_at"] = iso(self.applied_at)
        if self.pause is not None:
            row["pause"] = self.pause
        return row


@dataclass(frozen=True, kw_only=True)
class ReviewItem:
    """Work done autonomously and queued for review after the fact."""

    review_id: str
    thread_id: str
    graph: str | None
    node: str | None
    action: dict[str, Any]
    summary: str
    tier: str | None
    confidence: float | None
    reasons: list[str]
    status: str
    """open, ok or problem."""
    created_at: float
    closed_at: float | None
    reviewer: str | None
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "review_id": self.review_id,
            "thread_id": self.thread_id,
            "graph": self.graph,
            "node": self.node,
            "action": self.action,
            "summary": self.summary,
            "tier": self.tier,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "status": self.status,
            "created_at": iso(self.created_at),
            "closed_at": iso(self.closed_at),
            "reviewer": self.reviewer,
            "note": self.note,
        }
