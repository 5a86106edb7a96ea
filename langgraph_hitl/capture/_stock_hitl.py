"""LangChain's `HumanInTheLoopMiddleware`: its pauses as ledger requests, our decisions as
its answers.

The stock middleware pauses an agent built with `create_agent` in one of two modes:

- **batched** (its default): one interrupt per model turn whose value is a `HITLRequest`
  (`action_requests` and `review_configs`, one of each per gated tool call), answered
  once with a `HITLResponse` (`{"decisions": [...]}`, one per tool call, in order).
- **per_call**: one interrupt per gated tool call whose value is a `ToolApprovalRequest`
  (`type: "tool_approval"`), answered with one decision; the interrupt's
  `response_schema` lists the decisions the tool allows and, for edits, its args schema.

The ledger holds one request per tool call, grouped under the pause they belong to: a
batched pause's requests have the ledger interrupt id `<interrupt id>#<index>`, so each
is decided on its own (`approve` one, `modify` the other, from two processes), and the
desk resumes the pause once, when all of them are decided, with the decisions in the
middleware's order and format. Every shape is read and checked with LangChain's own
types (`langchain.agents.middleware.human_in_the_loop`), whatever version is installed,
never a copy of them.

An answer sent straight to LangGraph (`Command(resume=...)` from Python, LangGraph
Studio, the Agent Server's API) reaches the middleware inside the task that then runs
the tool: nothing of a checkpointer runs in between, and LangGraph carries on even
when a checkpointer refuses a write (the write runs in the background). So such an
answer is recorded when its task's writes land: under the ledger's rules when it meets
them (event `answered_directly`), and, when it does not, recorded all the same with the
refusal beside it (event `answered_outside_rules`), because the tool ran. Answers that
must meet the rules before anything runs go through the desk (the CLI, `ReviewDesk`),
or the agent uses `langgraph_hitl.capture.agents.ApprovalMiddleware`, whose pauses refuse a
direct answer in place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from langgraph_hitl.capture._conversation import call_text
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    BadInputError,
    HitlError,
    NotAuthorizedError,
)
from langgraph_hitl.ledger._args import trail_form
from langgraph_hitl.models import ApprovalRequest, Decision, validate_decision

if TYPE_CHECKING:
    from langgraph_hitl.ledger import RequestRecord, ReviewLedger

MIDDLEWARE = "HumanInTheLoopMiddleware"
"""What the ledger names as the source of these requests."""

SEPARATOR = "#"
"""Between a batched pause's interrupt id and a tool call's index, in the ledger."""

_NODES = {"batched": f"{MIDDLEWARE}.after_model", "per_call": "tools"}
"""Where `create_agent` runs the middleware's pause: the ledger's `gate` for its requests."""


def pause_of(interrupt_id: str) -> str:
    """The LangGraph interrupt id a ledger request answers (a batched member's prefix).

    Example:
        >>> pause_of("4f1c0e9ab2d34c5e8f6a7b8c9d0e1f2a#1")
        '4f1c0e9ab2d34c5e8f6a7b8c9d0e1f2a'
    """
    return interrupt_id.split(SEPARATOR, 1)[0]


@cache
def _types() -> Any:
    """LangChain's HITL module, or None when LangChain is not installed."""
    try:
        from langchain.agents.middleware import human_in_the_loop
    except ImportError:
        return None
    return human_in_the_loop


@cache
def _adapter(name: str) -> Any:
    """A pydantic adapter for one of the middleware's types, or None if it has none."""
    from pydantic import TypeAdapter

    module = _types()
    kind = None if module is None else getattr(module, name, None)
    return None if kind is None else TypeAdapter(kind)


def _valid(name: str, value: Any) -> Any:
    """`value` checked against the middleware's type `name`; None if it does not fit."""
    adapter = _adapter(name)
    if adapter is None:
        return None
    from pydantic import ValidationError

    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def is_stock_pause(value: Any) -> bool:
    """Whether an interrupt value is one the stock middleware raises (either mode)."""
    if not isinstance(value, dict):
        return False
    if value.get("type") == "tool_approval":
        return _valid("ToolApprovalRequest", value) is not None
    if "action_requests" in value and "kind" not in value:
        return _valid("HITLRequest", value) is not None
    return False


def _summary(name: str, args: dict[str, Any], description: str) -> tuple[str, str | None]:
    """A one-line summary for the reviewer, and the description when it says more."""
    call = call_text(name, args)
    if len(call) > 120:
        call = call[:117] + "..."
    lines = [line.strip() for line in description.splitlines() if line.strip()]
    # The middleware's default description is its prefix, then the tool and its args
    # again: the call says all of it.
    if not lines or f"Tool: {name}" in lines[1:2]:
        return call, None
    return lines[0], description if len(lines) > 1 else None


def _edit_schema(response_schema: Any) -> dict[str, Any] | None:
    """The tool's args schema, from a per-call interrupt's `response_schema` (its edit branch)."""
    if not isinstance(response_schema, dict):
        return None
    defs = response_schema.get("$defs") or {}
    edited = (defs.get("EditedAction") or {}).get("properties", {}).get("args")
    if not isinstance(edited, dict):
        return None
    ref = edited.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        return None if not isinstance(target, dict) else {**target, "$defs": defs}
    return edited


def _allowed(response_schema: Any) -> list[str]:
    """The decisions a per-call interrupt's `response_schema` accepts."""
    if not isinstance(response_schema, dict):
        return ["approve", "edit", "reject", "respond"]
    mapping = (response_schema.get("discriminator") or {}).get("mapping")
    if isinstance(mapping, dict) and mapping:
        return list(mapping)
    kind = (response_schema.get("properties") or {}).get("type", {}).get("const")
    return [kind] if isinstance(kind, str) else ["approve", "edit", "reject", "respond"]


def stock_requests(
    value: Any, interrupt_id: str, response_schema: Any = None
) -> list[tuple[str, dict[str, Any]]]:
    """One ledger payload per tool call a stock pause asks about, with its ledger interrupt id.

    Empty for any interrupt the stock middleware did not raise.

    Example:
        >>> pause = {
        ...     "action_requests": [
        ...         {"name": "refund", "args": {"order_id": "A-42", "amount": 80.0}},
        ...         {"name": "email", "args": {"to": "ada@example.com"}},
        ...     ],
        ...     "review_configs": [
        ...         {"action_name": "refund", "allowed_decisions": ["approve", "edit", "reject"]},
        ...         {"action_name": "email", "allowed_decisions": ["approve", "reject"]},
        ...     ],
        ... }
        >>> [(iid, p["request"]["allowed_decisions"]) for iid, p in stock_requests(pause, "f0")]
        [('f0#0', ['approve', 'modify', 'reject']), ('f0#1', ['approve', 'reject'])]
    """
    if not is_stock_pause(value):
        return []
    if value.get("type") == "tool_approval":
        members = [
            (
                interrupt_id,
                {"name": value["name"], "args": value["args"], "description": value["description"]},
                {"allowed_decisions": _allowed(response_schema)},
                {"mode": "per_call", "index": 0, "count": 1, "tool_call_id": value["tool_call_id"]},
                _edit_schema(response_schema),
            )
        ]
    else:
        actions, configs = value["action_requests"], value["review_configs"]
        by_name = {config["action_name"]: config for config in configs}
        members = []
        for index, action in enumerate(actions):
            # One review config per action, in order; by name when a version lists fewer.
            config = configs[index] if index < len(configs) else by_name.get(action["name"], {})
            members.append(
                (
                    f"{interrupt_id}{SEPARATOR}{index}",
                    action,
                    config,
                    {"mode": "batched", "index": index, "count": len(actions)},
                    config.get("args_schema"),
                )
            )
    out = []
    for member_id, action, config, place, schema in members:
        summary, described = _summary(action["name"], action["args"], action.get("description", ""))
        # `edit` is read as `modify` by the request's own validator.
        request = ApprovalRequest.model_validate(
            {
                "action": {"name": action["name"], "args": action["args"]},
                "summary": summary,
                "reasons": [f"{action['name']} is gated by {MIDDLEWARE}"],
                "allowed_decisions": list(config.get("allowed_decisions") or ["approve"]),
                "data": {} if described is None else {"description": described},
                "args_schema": schema,
            }
        )
        out.append(
            (
                member_id,
                {
                    "gate": _NODES[place["mode"]],
                    "request": request.to_wire(),
                    "args_digest": request.action.digest(),
                    "pause": {"middleware": MIDDLEWARE, "interrupt_id": interrupt_id, **place},
                },
            )
        )
    return out


def record_pause(
    ledger: ReviewLedger,
    *,
    thread_id: str,
    interrupt_id: str,
    value: Any,
    response_schema: Any = None,
    graph: str | None,
    task_id: str | None,
) -> list[str]:
    """Record a stock pause's tool calls in the ledger (idempotent); their request ids."""
    return [
        ledger.record_request(
            thread_id=thread_id,
            interrupt_id=member_id,
            payload=payload,
            graph=graph,
            task_id=task_id,
        )
        for member_id, payload in stock_requests(value, interrupt_id, response_schema)
    ]


def as_stock_request(req: ApprovalRequest) -> dict[str, Any]:
    """Our request in the middleware's request shape (`action_requests`, `review_configs`).

    Carried in every gate's interrupt beside our context package, so a front end built
    for LangChain's HITL middleware (its `useStream` interrupt handling, Agent Chat UI,
    Studio) shows our requests; its answers reach the gate's validation unchanged.

    Example:
        >>> from langgraph_hitl.models import Action
        >>> req = ApprovalRequest(
        ...     action=Action(name="pay_invoice", args={"amount": 52000}),
        ...     summary="Pay INV-1003: 52,000.00 USD to Initech LLC",
        ...     reasons=["amount 52,000.00 is over the 10,000.00 limit"],
        ... )
        >>> shape = as_stock_request(req)
        >>> shape["review_configs"][0]["allowed_decisions"]
        ['approve', 'reject', 'edit']
        >>> print(shape["action_requests"][0]["description"])
        Pay INV-1003: 52,000.00 USD to Initech LLC
        - amount 52,000.00 is over the 10,000.00 limit
    """
    description = "\n".join([req.summary, *(f"- {reason}" for reason in req.reasons)])
    config: dict[str, Any] = {
        "action_name": req.action.name,
        "allowed_decisions": ["edit" if d == "modify" else d for d in req.allowed_decisions],
    }
    if req.args_schema is not None:
        config["args_schema"] = req.args_schema
    return {
        "action_requests": [
            {"name": req.action.name, "args": req.action.args, "description": description}
        ],
        "review_configs": [config],
    }


# -- our decisions as the middleware's answers -------------------------------------------


def stock_decision(rec: RequestRecord) -> dict[str, Any]:
    """A recorded decision as the middleware's own `Decision`, checked with its type."""
    decision = rec.decision
    assert decision is not None
    answer: dict[str, Any]
    if decision.type == "approve":
        answer = {"type": "approve"}
    elif decision.type == "modify":
        args = decision.args if decision.args is not None else rec.request.action.args
        answer = {"type": "edit", "edited_action": {"name": rec.request.action.name, "args": args}}
    elif decision.type == "reject":
        answer = {"type": "reject"}
        if decision.reason:
            answer["message"] = decision.reason
    else:
        response = decision.response
        text = response if isinstance(response, str) else json.dumps(response, default=str)
        answer = {"type": "respond", "message": text}
    if _valid("Decision", answer) is None:
        kind = answer["type"]
        raise BadInputError(f"{rec.request_id}: {kind} is no decision the middleware takes")
    return answer


def stock_resume(members: Sequence[RequestRecord]) -> Any:
    """The resume value for one stock pause: one decision (per call), or all of a batched
    pause's decisions in its order (`{"decisions": [...]}`)."""
    ordered = sorted(members, key=lambda rec: (rec.pause or {}).get("index", 0))
    first = (ordered[0].pause or {}) if ordered else {}
    if first.get("mode") != "batched":
        return stock_decision(ordered[0])
    count = first.get("count", len(ordered))
    indexes = [(rec.pause or {}).get("index") for rec in ordered]
    if indexes != list(range(count)):
        missing = sorted(set(range(count)) - set(indexes))
        raise BadInputError(
            f"the pause of {ordered[0].request_id} lacks decisions for tool calls {missing}"
        )
    response = {"decisions": [stock_decision(rec) for rec in ordered]}
    if _valid("HITLResponse", response) is None:
        raise BadInputError("the decisions are no answer the middleware takes")
    return response


# -- answers sent straight to LangGraph ------------------------------------------------


def _answer_for(rec: RequestRecord, answers: Sequence[Any]) -> Any:
    """The middleware decision that answered `rec`, from its task's saved answers."""
    if not answers:
        return None
    answer = answers[-1]
    place = rec.pause or {}
    if place.get("mode") == "batched":
        decisions = answer.get("decisions") if isinstance(answer, dict) else None
        index = place.get("index", 0)
        if not isinstance(decisions, list) or index >= len(decisions):
            return None
        return decisions[index]
    return answer


def signed_in_as(user: str, named: Any) -> NotAuthorizedError:
    """The refusal of an answer that names another reviewer than the run's signed-in user."""
    return NotAuthorizedError(
        f"the run's signed-in user is {user}, but the answer names {named} as its reviewer:"
        " a reviewer answers as themselves"
    )


def settle_stock_task(
    ledger: ReviewLedger,
    thread_id: str,
    task_id: str,
    answers: Sequence[Any],
    *,
    direct: bool,
    reviewer: str | None,
) -> bool:
    """Close a stock pause's requests once its task's writes, answers included, land.

    Returns False when the task has no stock requests (it is a gate's, or nothing of
    ours). Under a desk's lease the desk marks its decisions applied itself. A direct
    answer is recorded here (see the module): under the ledger's rules when it meets
    them, else with the refusal beside it. `reviewer` is the run's signed-in user (Agent
    Server): the answer is theirs, and one naming someone else breaks the rules.
    """
    rows = ledger.task_requests(thread_id, task_id)
    stock = [rec for rec in rows if rec.pause is not None]
    if not stock:
        return False
    if not direct:
        return True
    for rec in stock:
        if rec.status not in ("pending", "decided"):
            continue
        answer = _answer_for(rec, answers)
        if not isinstance(answer, dict):
            continue
        refusal: HitlError | None = None
        if reviewer is not None:
            named = answer.get("reviewer")
            answer = {**answer, "reviewer": reviewer}
            if named is not None and named != reviewer:
                refusal = signed_in_as(reviewer, named)
        try:
            if refusal is not None:
                raise refusal
            decision = validate_decision(rec.request, Decision.model_validate(answer))
            if rec.decision is not None:
                # Recorded through the desk, answered straight to LangGraph: it acted on
                # this answer, and it counts only if it is the recorded decision.
                recorded = stock_decision(rec)
                given = {k: v for k, v in answer.items() if k in recorded}
                if given != recorded:
                    by = rec.decision.reviewer or "someone"
                    raise AlreadyDecidedError(
                        f"{rec.request_id} was already decided ({rec.decision.type} by {by})"
                    )
            else:
                ledger.record_decision(rec.request_id, decision)
        except HitlError as error:
            refusal = error
        except ValueError as error:  # not a decision our model reads
            refusal = BadInputError(str(error).splitlines()[0])
        if refusal is None:
            ledger.mark_answered(
                rec.request_id,
                kind="answered_directly",
                data={"answer": trail_form(answer)},
            )
            continue
        # The tool ran on this answer: the trail says so, and why the rules would not
        # have taken it.
        try:
            decision = Decision.model_validate(answer)
            ledger.record_decision(rec.request_id, decision, authorize=False)
        except (HitlError, ValueError):
            pass
        ledger.mark_answered(
            rec.request_id,
            kind="answered_outside_rules",
            data={"answer": trail_form(answer), "why": str(refusal)},
        )
    return True
