"""The shapes a reviewer sees and answers: `ApprovalRequest`, `Action` and `Decision`.

These cross `interrupt()`, the checkpoint, the ledger and the CLI as plain JSON
(`to_wire()` / `model_validate()`), and are validated models in code. LangChain's
HITL middleware decisions (`{"type": "edit", "edited_action": {...}}`,
`{"type": "reject", "message": ...}`) are converted in exactly one place,
`Decision`'s input validator, so UIs built for that middleware answer our gates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from langgraph_hitl._input import unusable
from langgraph_hitl._json import action_digest
from langgraph_hitl._json import canonical_json as canonical_json  # its home before _json
from langgraph_hitl._time import clock
from langgraph_hitl.errors import DecisionNotAllowedError, InvalidEditError

DecisionType: TypeAlias = Literal["approve", "reject", "modify", "respond"]
"""What a reviewer may answer. `edit` (LangChain's name) is accepted as `modify`."""

DECISION_TYPES: tuple[DecisionType, ...] = ("approve", "reject", "modify", "respond")

_DEFAULT_ALLOWED: tuple[DecisionType, ...] = ("approve", "reject", "modify")

REQUEST_KIND = "langgraph_hitl.approval_request"
"""Marks an interrupt payload as one of ours, so the ledger records it."""


def _now() -> datetime:
    # The ledger's clock: a decision taken under `simulated_clock` is stamped with it.
    return datetime.fromtimestamp(clock(), UTC)


class Action(BaseModel):
    """The action an agent wants to take, as the tool or node it would call.

    Example:
        >>> Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 52000})
        Action(name='pay_invoice', args={'invoice_id': 'INV-7', 'amount': 52000})
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """The action's name, e.g. the tool or node that performs it."""
    args: dict[str, Any] = Field(default_factory=dict)
    """The arguments the action would run with. JSON values only."""

    @field_validator("args")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A reviewer approves exactly what they saw: NaN or an infinity would be shown
        # and stored as null, and the approval would never match the action again.
        problem = unusable(value)
        if problem is not None:
            where, what = problem
            raise ValueError(f"args.{where}: {what}" if where else f"args: {what}")
        return value

    def digest(self) -> str:
        """A SHA-256 over the name and args: binds a decision to what the reviewer saw.

        Example:
            >>> Action(name="pay", args={"amount": 1}).digest()[:12]
            'f7250f54809c'
        """
        return action_digest(self.name, self.args)


class ApprovalRequest(BaseModel):
    """What a reviewer needs to judge an action in under ten seconds.

    Build one from state in the callable you give `ApprovalGate`; a dict of the same
    fields works too.

    Example:
        >>> req = ApprovalRequest(
        ...     action=Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 52000}),
        ...     summary="Pay INV-7: 52,000.00 EUR to Acme GmbH",
        ...     reasons=["amount 52,000.00 is over the 10,000 limit"],
        ...     risk_tier="high",
        ...     confidence=0.91,
        ... )
        >>> req.allowed_decisions
        ['approve', 'reject', 'modify']
    """

    model_config = ConfigDict(extra="forbid")

    action: Action
    """The action awaiting approval."""
    summary: str = Field(min_length=1)
    """One line a reviewer reads first."""
    goal: str | None = None
    """What the agent was asked to achieve."""
    reasons: list[str] = Field(default_factory=list)
    """Why this was escalated to a human (each rule that fired, in words)."""
    risk_tier: str = "medium"
    """Risk tier, e.g. `low`, `medium`, `high`."""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """The agent's confidence in the action, 0..1."""
    recommendation: str | None = None
    """What the agent recommends and why."""
    alternatives: list[str] = Field(default_factory=list)
    """Other actions the agent considered."""
    history: list[str] = Field(default_factory=list)
    """Recent history a reviewer needs for context."""
    attempted: list[str] = Field(default_factory=list)
    """Actions already attempted, with their outcome."""
    failure_reason: str | None = None
    """What failed, if the escalation follows a failure."""
    problems: list[str] = Field(default_factory=list)
    """Validation problems found in the action, each led by the name of the check that
    found it (`duplicate: GLX 4706 is GLX-4706, paid in thread INV-88`). A policy holds
    an irreversible action with any of them for a human (`ReviewPolicy`)."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Relevant data: customer, transaction, policy."""
    allowed_decisions: list[DecisionType] = Field(default_factory=lambda: list(_DEFAULT_ALLOWED))
    """The decisions a reviewer may take."""
    deadline: datetime | None = None
    """When the request should be decided by (timezone-aware; naive means UTC)."""
    reviewer_role: str | None = None
    """The reviewer role required to decide now (the first of `review_roles`)."""
    review_roles: list[str] = Field(default_factory=list)
    """The escalation chain, lowest role first (`["junior", "senior", "manager"]`).

    The first role, and every role after it, may decide; each time the deadline
    passes, `sweep` moves the request one role up. Empty: anyone may decide."""
    deadline_in: float | None = Field(default=None, gt=0)
    """Seconds each step of the chain has before it escalates (from when it is recorded)."""
    on_timeout: Literal["reject", "approve"] = "reject"
    """What `sweep` decides once the last role's deadline passed too."""
    quorum: int = Field(default=1, ge=1)
    """How many different reviewers must approve; one rejection ends the request."""
    owner: str | None = None
    """Who triggered or owns the work."""
    bar_owner: bool = True
    """Refuse an approval (or modify) by `owner`."""
    args_schema: dict[str, Any] | None = None
    """JSON Schema the action's args must satisfy after a `modify`."""

    @field_validator("allowed_decisions", mode="before")
    @classmethod
    def _edit_means_modify(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return list(dict.fromkeys("modify" if v == "edit" else v for v in value))
        return value

    @field_validator("allowed_decisions")
    @classmethod
    def _not_empty(cls, value: list[DecisionType]) -> list[DecisionType]:
        if not value:
            raise ValueError("allowed_decisions must name at least one decision")
        return value

    @field_validator("deadline")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _one_chain(self) -> ApprovalRequest:
        if self.reviewer_role and not self.review_roles:
            self.review_roles = [self.reviewer_role]
        elif self.review_roles and self.reviewer_role not in (None, self.review_roles[0]):
            raise ValueError(
                f"reviewer_role {self.reviewer_role!r} is not the first of review_roles"
                f" {self.review_roles}"
            )
        if self.review_roles:
            self.reviewer_role = self.review_roles[0]
        if len(set(self.review_roles)) != len(self.review_roles):
            raise ValueError(f"review_roles repeats a role: {self.review_roles}")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The request as plain JSON, as it crosses `interrupt()` and the ledger."""
        return self.model_dump(mode="json")


class Decision(BaseModel):
    """A reviewer's answer to an `ApprovalRequest`.

    Accepts our own shape and LangChain's HITL middleware shape unchanged:

    Example:
        >>> Decision.model_validate({"type": "approve"}).type
        'approve'
        >>> d = Decision.model_validate(
        ...     {"type": "edit", "edited_action": {"name": "pay_invoice", "args": {"amount": 500}}}
        ... )
        >>> (d.type, d.args)
        ('modify', {'amount': 500})
        >>> Decision.model_validate({"type": "reject", "message": "duplicate invoice"}).reason
        'duplicate invoice'
        >>> Decision.model_validate({"decisions": [{"type": "approve"}]}).type  # batched form
        'approve'
    """

    model_config = ConfigDict(extra="ignore")

    type: DecisionType
    """approve, reject, modify (LangChain's `edit`) or respond."""
    args: dict[str, Any] | None = None
    """For `modify`: the action's args as edited (the whole args, not a patch)."""
    action_name: str | None = None
    """For `modify`: the action name the edit was made for (must not change)."""
    reason: str | None = None
    """For `reject`: why (LangChain's `message`)."""
    response: Any = None
    """For `respond`: the outcome the human supplies in the agent's place."""
    reviewer: str | None = None
    """Who decided."""
    comment: str | None = None
    """A free-text note kept in the audit trail."""
    decided_at: datetime = Field(default_factory=_now)
    """When the decision was taken."""
    seen_digest: str | None = None
    """Digest of the action the reviewer saw; a mismatch means the request changed."""

    @model_validator(mode="before")
    @classmethod
    def _from_langchain(cls, data: Any) -> Any:
        # The one place LangChain's middleware shapes become ours.
        if not isinstance(data, dict):
            return data
        decisions = data.get("decisions")
        if "type" not in data and isinstance(decisions, list):
            # The middleware's batched answer (`{"decisions": [...]}`): a gate asks about
            # one action, so it takes exactly one.
            if len(decisions) != 1 or not isinstance(decisions[0], dict):
                raise ValueError(
                    f"a gate asks about one action: answer with one decision, got {len(decisions)}"
                )
            data = {**{k: v for k, v in data.items() if k != "decisions"}, **decisions[0]}
        data = dict(data)
        if data.get("type") == "edit":
            data["type"] = "modify"
        edited = data.pop("edited_action", None)
        if isinstance(edited, dict):
            data.setdefault("args", edited.get("args"))
            data.setdefault("action_name", edited.get("name"))
        message = data.pop("message", None)
        if message is not None:
            if data.get("type") == "respond":
                data.setdefault("response", message)
            else:
                data.setdefault("reason", message)
        return data

    @model_validator(mode="after")
    def _complete(self) -> Decision:
        if self.type == "modify" and self.args is None:
            raise ValueError("a modify decision needs the edited args")
        if self.type != "modify" and self.args is not None:
            raise ValueError(f"a {self.type} decision carries no args")
        if self.decided_at.tzinfo is None:
            self.decided_at = self.decided_at.replace(tzinfo=UTC)
        return self

    @classmethod
    def approve(cls, **fields: Any) -> Decision:
        """An approval. Example: `Decision.approve(reviewer="ana")`."""
        return cls(type="approve", **fields)

    @classmethod
    def reject(cls, reason: str, **fields: Any) -> Decision:
        """A rejection with a reason. Example: `Decision.reject("duplicate of INV-6")`."""
        return cls(type="reject", reason=reason, **fields)

    @classmethod
    def modify(cls, args: dict[str, Any], **fields: Any) -> Decision:
        """An approval with edited args. Example: `Decision.modify({"amount": 500})`."""
        return cls(type="modify", args=args, **fields)

    @classmethod
    def respond(cls, response: Any, **fields: Any) -> Decision:
        """The human supplies the outcome. Example: `Decision.respond("refund issued")`."""
        return cls(type="respond", response=response, **fields)

    def to_wire(self) -> dict[str, Any]:
        """The decision as plain JSON, as it crosses `Command(resume=...)` and the ledger."""
        return self.model_dump(mode="json", exclude_none=True)


def validate_decision(request: ApprovalRequest, decision: Decision) -> Decision:
    """Check a decision completely against the request it answers.

    Raises `DecisionNotAllowedError` for a decision type the request does not allow and
    `InvalidEditError` for edited args that rename the action or fail `args_schema`, or
    for args or a response that would not be stored as the same JSON.
    Returns the decision, bound to the digest of the action the request shows.

    Example:
        >>> req = ApprovalRequest(
        ...     action=Action(name="pay_invoice", args={"amount": 52000}),
        ...     summary="Pay INV-7",
        ...     allowed_decisions=["approve", "reject"],
        ... )
        >>> validate_decision(req, Decision.approve()).type
        'approve'
    """
    if decision.type not in request.allowed_decisions:
        allowed = ", ".join(request.allowed_decisions)
        raise DecisionNotAllowedError(
            f"{decision.type!r} is not allowed for this request (allowed: {allowed})"
        )
    check_json(decision)
    digest = request.action.digest()
    if decision.type == "modify":
        if decision.action_name not in (None, request.action.name):
            raise InvalidEditError(
                f"an edit may change args, not the action: got {decision.action_name!r}, "
                f"expected {request.action.name!r}"
            )
        assert decision.args is not None
        check_args(request, decision.args)
    return decision.model_copy(update={"seen_digest": decision.seen_digest or digest})


def check_json(decision: Decision) -> None:
    """Raise `InvalidEditError` unless the decision is stored and resumed exactly as it is.

    JSON has no NaN or infinity (pydantic would store null); LangGraph's checkpoints hold
    integers of 64 bits at most and SQLite only text that is valid Unicode: a decision
    holding anything else would be recorded and then never apply. Checked before recording.
    """
    for name, value in decision.model_dump(exclude_none=True).items():
        problem = unusable(value)
        if problem is not None:
            where, what = problem
            subject = f"edited {where or 'args'}" if name == "args" else f"{name} {where}"
            raise InvalidEditError(f"{subject.strip()}: {what}")
    try:
        decision.to_wire()
    except ValueError as err:  # nested deeper than pydantic serializes
        raise InvalidEditError(f"the decision cannot be stored as JSON: {err}") from None


def check_args(request: ApprovalRequest, args: dict[str, Any]) -> None:
    """Raise `InvalidEditError` naming the first field of `args` that fails the schema."""
    if request.args_schema is None:
        return
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(request.args_schema)
    errors = sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "args"
        raise InvalidEditError(f"edited {where}: {first.message}")
