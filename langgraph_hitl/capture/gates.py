"""`ApprovalGate`: a prebuilt node that pauses a graph for a human decision.

The gate builds an `ApprovalRequest` from state, calls `interrupt()` with it as plain
JSON, checks the answer against the request, writes the decision to state and routes
on with `Command`. LangGraph re-runs a node from its first line on every resume, so
nothing above `interrupt()` here writes anywhere; the ledger row is written by the
checkpointer when LangGraph persists the interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ValidationError

from langgraph_hitl.capture._answers import LedgerAnswers
from langgraph_hitl.capture.policy import ReviewPolicy
from langgraph_hitl.errors import (
    ConfigurationError,
    HitlError,
    InvalidEditError,
    UnapprovedActionError,
)
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import (
    DECISION_TYPES,
    REQUEST_KIND,
    Action,
    ApprovalRequest,
    Decision,
    DecisionType,
    validate_decision,
)

RequestBuilder = Callable[[Any], ApprovalRequest | Mapping[str, Any]]
"""Maps the graph's state to the request a reviewer sees."""

PAYLOAD_VERSION = 2
"""2: the action's args are in `action_requests[0].args` (LangChain's HITL request shape),
and `request.action.args` is null; 1: in `request.action.args`. Both are read."""


class ApprovalGate:
    """A node that asks a human to approve, reject or modify an action.

    Args:
        request: Maps state to an `ApprovalRequest` (or a dict of its fields). Must be
            pure: it runs again on every resume.
        on_approve: Node to go to on approval.
        on_reject: Node to go to on rejection.
        on_modify: Node to go to after a modify; defaults to `on_approve`.
        on_respond: Node to go to when a human responds in the agent's place; the
            `respond` decision is allowed only when this is set.
        args_schema: A pydantic model (or JSON Schema dict) the action's args must fit
            after a modify. Edited args are validated, and coerced by the model.
        allowed_decisions: Limit what reviewers may answer; by default approve, reject,
            modify, and respond if `on_respond` is set.
        policy: A `ReviewPolicy` whose tier terms (role chain, quorum, deadline,
            timeout decision) are stamped on every request this gate makes.
        decision_key: State key that receives the decision (plain JSON).
        approved_action_key: State key that receives the action as approved, edits
            applied (`{"name", "args"}`), or None on reject and respond.

    On its first run, before it asks anyone, the gate checks the graph it runs in: each
    route must name a node of that graph and both keys must be declared in its state
    (`ConfigurationError` says which, and how to fix it). Without `destinations=`,
    LangGraph itself would drop a route to a missing node and end the run as if done.

    Example:
        >>> graph = builder.add_node(
        ...     "approve_payment",
        ...     ApprovalGate(
        ...         lambda s: {
        ...             "action": {"name": "pay_invoice", "args": s["invoice"]},
        ...             "summary": f"Pay {s['invoice']['invoice_id']}",
        ...             "reasons": s["reasons"],
        ...         },
        ...         on_approve="pay",
        ...         on_reject="notify",
        ...     ),
        ...     destinations=("pay", "notify"),
        ... ).compile(checkpointer=saver)
        >>> run = {"configurable": {"thread_id": "pay-INV-1003"}}
        >>> paused = graph.invoke({"invoice": invoice, "reasons": ["over 10,000"]}, run)
        >>> paused["__interrupt__"][0].value["request"]["summary"]
        'Pay INV-1003'
        >>> [rec.request.reasons for rec in saver.ledger.pending(thread_id="pay-INV-1003")]
        [['over 10,000']]
    """

    def __init__(
        self,
        request: RequestBuilder,
        *,
        on_approve: str,
        on_reject: str,
        on_modify: str | None = None,
        on_respond: str | None = None,
        args_schema: type[BaseModel] | dict[str, Any] | None = None,
        allowed_decisions: Sequence[str] | None = None,
        policy: ReviewPolicy | None = None,
        decision_key: str = "decision",
        approved_action_key: str = "approved_action",
    ) -> None:
        if not callable(request):
            raise ConfigurationError(f"request must map state to a request, got {request!r}")
        for name, node in (("on_approve", on_approve), ("on_reject", on_reject)):
            if not isinstance(node, str) or not node:
                raise ConfigurationError(f"{name} must name a node, got {node!r}")
        allowed = _normalise_allowed(allowed_decisions, respond=on_respond is not None)
        if "respond" in allowed and on_respond is None:
            raise ConfigurationError("allowing 'respond' needs on_respond= to name a node")
        self.request = request
        self.routes: dict[DecisionType, str] = {
            "approve": on_approve,
            "reject": on_reject,
            "modify": on_modify or on_approve,
        }
        if on_respond is not None:
            self.routes["respond"] = on_respond
        self.allowed = allowed
        self.args_model = args_schema if isinstance(args_schema, type) else None
        if self.args_model is not None and not issubclass(self.args_model, BaseModel):
            raise ConfigurationError("args_schema must be a pydantic model or a JSON Schema dict")
        self.args_json_schema = (
            self.args_model.model_json_schema() if self.args_model is not None else args_schema
        )
        self.policy = policy
        self.decision_key = decision_key
        self.approved_action_key = approved_action_key

    @property
    def destinations(self) -> tuple[str, ...]:
        """The nodes this gate may route to, for `add_node(..., destinations=...)`."""
        return tuple(dict.fromkeys(self.routes.values()))

    def problem(
        self, *, has_node: Callable[[str], bool], has_key: Callable[[str], bool]
    ) -> str | None:
        """What is wrong with this gate in the graph it sits in, or None.

        `has_node` and `has_key` answer for that graph: is there a node of that name,
        a state key of that name. A route to a missing node would otherwise be
        dropped by LangGraph (the run ends as if finished, the action never runs), and
        a missing key fails only once a decision is applied.
        """
        for decision, node in self.routes.items():
            if not has_node(node):
                option = "on_approve" if decision == "approve" else f"on_{decision}"
                return (
                    f"{option}={node!r} names no node of the graph it runs in: add a node"
                    f" {node!r}, or route {decision} to a node that exists"
                )
        missing = [
            (key, param, what)
            for key, param, what in (
                (self.decision_key, "decision_key", "the decision"),
                (self.approved_action_key, "approved_action_key", "the approved action"),
            )
            if not has_key(key)
        ]
        if missing:
            keys = " and ".join(f"{key!r} ({what})" for key, _, what in missing)
            declare = ", ".join(f"{key}: dict | None" for key, _, _ in missing)
            params = " / ".join(f"{param}=" for _, param, _ in missing)
            return (
                f"the state declares no key {keys}, which the gate writes: add"
                f" `{declare}` to your state schema, or name keys it has with {params}"
            )
        return None

    def _check_running(self, config: RunnableConfig) -> None:
        """Fail the gate's first run, before it asks anyone, if its graph cannot take it."""
        from langgraph_hitl.capture._inspect import END, channel_exists

        # Every node has a `branch:to:NODE` channel and every state key a channel of its
        # own; a missing one is only found by asking the running graph (None: unknown).
        problem = self.problem(
            has_node=lambda node: (
                node == END or channel_exists(config, f"branch:to:{node}") is not False
            ),
            has_key=lambda key: channel_exists(config, key) is not False,
        )
        if problem is not None:
            gate = (config.get("metadata") or {}).get("langgraph_node") or "approval gate"
            raise ConfigurationError(f"gate {gate!r}: {problem}")

    def build_request(self, state: Any) -> ApprovalRequest:
        """The request for this state, with the gate's schema and allowed decisions applied.

        Raises:
            ConfigurationError: The request builder's output is not a valid request; the
                message names the field and what is allowed.
        """
        try:
            built = self.request(state)
            if isinstance(built, Mapping):
                built = ApprovalRequest.model_validate(dict(built))
        except ValidationError as err:
            # A builder that validates the request itself raises the same error.
            if err.title not in (ApprovalRequest.__name__, Action.__name__):
                raise
            raise ConfigurationError(_invalid_request(err)) from None
        if not isinstance(built, ApprovalRequest):
            raise ConfigurationError(
                f"the request builder returned {type(built).__name__}, not an ApprovalRequest"
                " or a dict of its fields"
            )
        req = built
        # Only a list the builder gave narrows the gate's; the model's default list
        # would otherwise drop `respond` from a gate that has `on_respond`.
        narrowed = (
            [d for d in req.allowed_decisions if d in self.allowed]
            if "allowed_decisions" in req.model_fields_set
            else []
        )
        if "allowed_decisions" in req.model_fields_set and not narrowed:
            raise ConfigurationError(
                f"the request allows {req.allowed_decisions}, none of which this gate can route"
                f" (it routes {list(self.allowed)})"
            )
        update: dict[str, Any] = {"allowed_decisions": narrowed or list(self.allowed)}
        if req.args_schema is None and self.args_json_schema is not None:
            update["args_schema"] = self.args_json_schema
        req = req.model_copy(update=update)
        return req if self.policy is None else self.policy.stamp(req)

    def __call__(self, state: Any, config: RunnableConfig) -> Command[str]:
        # This node runs again from its first line on every resume: everything above
        # interrupt() is a pure function of state, so re-running it is harmless.
        self._check_running(config)
        req = self.build_request(state)
        gate = (config.get("metadata") or {}).get("langgraph_node")
        payload = request_payload(req, gate=gate, policy=self.policy)
        decision, approved = ask_human(payload, req, self._check, config)
        update = {
            self.decision_key: decision.to_wire(),
            self.approved_action_key: None if approved is None else approved.model_dump(),
        }
        return Command(update=update, goto=self.routes[decision.type])

    def _check(self, req: ApprovalRequest, answer: Decision) -> tuple[Decision, Action | None]:
        return check_answer(req, answer, self.args_model)


def check_answer(
    req: ApprovalRequest, answer: Decision, args_model: type[BaseModel] | None = None
) -> tuple[Decision, Action | None]:
    """The decision as the request allows it, and the action it approves (None when it
    approves none); `InvalidEditError` for an answer made for other args, or an edit that
    fails `args_model`."""
    decision = validate_decision(req, answer)
    if decision.seen_digest != req.action.digest():
        raise InvalidEditError("the decision was made for other args than the request shows")
    if decision.type == "approve":
        return decision, req.action
    if decision.type == "modify":
        assert decision.args is not None
        args = decision.args
        if args_model is not None:
            try:
                args = args_model.model_validate(args).model_dump(mode="json")
            except ValidationError as err:
                raise InvalidEditError(f"edited args: {err.errors()[0]['msg']}") from err
        return decision, Action(name=req.action.name, args=args)
    return decision, None


def request_payload(
    req: ApprovalRequest, *, gate: str | None, policy: ReviewPolicy | None = None
) -> dict[str, Any]:
    """The interrupt value a gate (or `ApprovalMiddleware`) asks with.

    Our request (`REQUEST_KIND`, the context package) and, beside it, LangChain's
    HITL middleware request shape (`action_requests`, `review_configs`), so a front end
    written for that middleware shows the request and answers it in its own format.
    """
    from langgraph_hitl.capture._stock_hitl import as_stock_request

    # The args go once, in the middleware's shape (`action_requests[0].args`), and our
    # request leaves them out (`null`): a paused thread keeps its interrupt, and the
    # args can be most of a request. `_args.with_args` puts them back.
    wire = req.to_wire()
    wire["action"] = {**wire["action"], "args": None}
    payload: dict[str, Any] = {
        "kind": REQUEST_KIND,
        "version": PAYLOAD_VERSION,
        "gate": gate,
        "request": wire,
        "args_digest": req.action.digest(),
        **as_stock_request(req),
    }
    if policy is not None and policy.roles:
        payload["roles"] = list(policy.roles)  # the whole chain: `reviewers add` checks
    return payload


Check = Callable[[ApprovalRequest, Decision], tuple[Decision, Action | None]]
"""Checks an answer against the request: the decision, and the action as approved (None
on reject and respond); raises a `HitlError` for an answer that does not fit."""


def ask_human(
    payload: dict[str, Any], req: ApprovalRequest, check: Check, config: RunnableConfig
) -> tuple[Decision, Action | None]:
    """Ask with `interrupt()` until an answer is accepted; the decision and approved action.

    On our saver, the ledger has the last word on every answer, however it came: the
    desk's own under its lease, or a direct `Command(resume=...)` recorded under the
    ledger's rules and refused in place when they refuse it (`_answers`). The caller's
    node runs again from its first line on every resume: everything above this call
    must be a pure function of state.
    """
    answers = LedgerAnswers.for_run(config)
    problem: str | None = None
    ask = 0
    while True:
        asked = payload if problem is None else {**payload, "problem": problem}
        answer = interrupt(asked, response_schema=Decision)
        refusal: HitlError | None = None
        try:
            decision, approved = check(req, answer)
        except HitlError as err:
            refusal = err
        # A direct answer the ledger's rules refuse is raised in place (nothing
        # saved); the desk's own answers, and answers with no ledger, are not.
        accepted = refusal is None
        if answers is not None:
            accepted = answers.take(ask, answer, refusal)
        if accepted:
            return decision, approved
        # Ask again rather than raise: a node that raises on its resume value
        # jams the thread, every later resume replaying the same bad value.
        problem = str(refusal) if refusal is not None else "asked again"
        ask += 1


def _invalid_request(err: ValidationError) -> str:
    """One line naming the request's bad field and what is allowed there."""
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    if err.title == Action.__name__:
        loc = ["action", *loc]
    field = ".".join(loc) or "the request"
    fields = ", ".join(ApprovalRequest.model_fields)
    if first["type"] == "missing":
        listed = f" (fields: {fields})" if len(loc) == 1 else ""
        return f"the request builder gave no {field!r}, which a request needs{listed}"
    if first["type"] == "extra_forbidden":
        where = ApprovalRequest if len(loc) == 1 else Action
        allowed = ", ".join(where.model_fields)
        return f"the request builder gave an unknown field {field!r} (allowed: {allowed})"
    return f"the request builder gave an invalid {field!r}: {first['msg']}"


def _normalise_allowed(allowed: Sequence[str] | None, *, respond: bool) -> tuple[DecisionType, ...]:
    if allowed is None:
        base: list[DecisionType] = ["approve", "reject", "modify"]
        return (*base, "respond") if respond else tuple(base)
    result: list[DecisionType] = []
    for item in allowed:
        name = "modify" if item == "edit" else item
        if name not in DECISION_TYPES:
            raise ConfigurationError(
                f"unknown decision {item!r} in allowed_decisions (allowed: "
                f"{', '.join(DECISION_TYPES)})"
            )
        result.append(name)  # type: ignore[arg-type]
    if not result:
        raise ConfigurationError("allowed_decisions must name at least one decision")
    return tuple(dict.fromkeys(result))


def require_approval(
    ledger: ReviewLedger, config: RunnableConfig, action: Action | Mapping[str, Any]
) -> Decision:
    """Refuse to act unless the ledger holds a human approval of exactly this action.

    Call it first thing in the node that performs an irreversible action. The gate's
    state keys are only state: anyone who can call `update_state(..., as_node=gate)`
    can write them. The ledger's decision rows are written only by a recorded decision.

    Raises:
        UnapprovedActionError: No approve or modify decision on this thread matches.

    Example:
        >>> action = ledger.get(request_id).request.action  # what the reviewer is shown
        >>> require_approval(ledger, config, action)
        Traceback (most recent call last):
        langgraph_hitl.errors.UnapprovedActionError: no human approval in the ledger for ...
        >>> ledger.record_decision(request_id, Decision.approve(reviewer="mia")).status
        'decided'
        >>> require_approval(ledger, config, action).reviewer
        'mia'
    """
    thread_id = str(config["configurable"]["thread_id"])
    wanted = action if isinstance(action, Action) else Action.model_validate(dict(action))
    decision = ledger.approval_for(thread_id, wanted)
    if decision is None:
        raise UnapprovedActionError(
            f"no human approval in the ledger for {wanted.name} with these args "
            f"on thread {thread_id}"
        )
    return decision
