"""`ApprovalMiddleware`: langgraph-hitl's review policy for LangChain agents (`create_agent`).

Each tool call is routed the way `ApprovalGate` and `ReviewPolicy` route a node:
risk rules over the tool and its args (an amount-like arg over a limit, an irreversible
tool, a regulated domain, the conversation's sentiment), a confidence from a scorer
you supply, the tier's terms (roles, deadline, quorum), sampling of what runs alone
for review after the fact, the override predictor, and the routing log that metrics
read. A call that needs a human pauses with an `ApprovalRequest` carrying the context
package: the conversation's recent turns, the tool call, the model's stated reasoning,
what the agent already tried, and its recommendation. The pause is asked and answered
exactly as a gate's (`gates.ask_human`): on our saver a direct `Command(resume=...)`
meets the ledger's rules and is refused in place when they refuse it.

After the answer: approve runs the tool as proposed, modify runs it with the edited
args (and tells the model so), reject returns the reviewer's reason to the model as the
tool's result (as LangChain's own HumanInTheLoopMiddleware does), respond returns the
reviewer's answer as the tool's result without running it.

The middleware pauses inside the tool call (`wrap_tool_call`): LangGraph runs that
again from its start on resume, so everything before the pause is a pure function of
the call and the state, and a call already asked about in this task is asked again,
whatever the routing would say now.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.config import get_config
from langgraph.types import Command

from langgraph_hitl._pregel import checkpointer_of, task_id_of
from langgraph_hitl.capture._conversation import recent_turns, text_of, tool_results
from langgraph_hitl.capture.gates import (
    _normalise_allowed,
    ask_human,
    check_answer,
    request_payload,
)
from langgraph_hitl.capture.policy import ReviewPolicy, Routing, record_route
from langgraph_hitl.capture.predict import AMOUNT_WORDS
from langgraph_hitl.capture.routers import as_number
from langgraph_hitl.errors import ConfigurationError
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import Action, ApprovalRequest, Decision

ToolCallView = dict[str, Any]
"""What routers, risk rules and scorers read for one tool call (keys below)."""

Scorer = Callable[[ToolCallView], float | None]
"""The agent's confidence in a tool call, 0..1 (None: unknown, which escalates)."""

EDIT_NOTE = "Note: a human reviewer changed the arguments of this tool call before it ran: {args}."
"""Prepended to the result of a tool call a reviewer edited, so the model knows."""


def amount_of(args: Any) -> Any:
    """The largest amount-like arg (`amount`, `total`, `unit_price`, ... at any depth).

    An amount-like arg that is no number is returned as it is, so a limit fails closed
    (`RiskRules`: "amount unreadable"); None when there is none.

    Example:
        >>> amount_of({"order_id": "A-42", "refund": {"amount": 180.0, "fee": 5}})
        180.0
        >>> amount_of({"amount": "lots"})
        'lots'
    """
    found: list[float] = []
    unreadable: Any = None
    todo: list[tuple[Any, bool]] = [(args, False)]
    while todo:
        value, amount_like = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                words = set(re.split(r"[^a-z]+", str(key).lower()))
                todo.append((item, bool(words & AMOUNT_WORDS)))
        elif isinstance(value, list | tuple):
            todo.extend((item, amount_like) for item in value)
        elif amount_like and value is not None:
            number = as_number(value)
            if number is None:
                unreadable = value
            else:
                found.append(abs(number))
    if unreadable is not None:
        return unreadable
    return max(found) if found else None


class ApprovalMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """Route an agent's tool calls through a `ReviewPolicy`; pause those that need a human.

    Args:
        policy: The tiers, roles, sampling, router and predictor. Its router's rules and
            bands read the tool call's view (see below), e.g.
            `RiskRules(max_amount=100)` escalates a refund over 100.
        tools: The tools under review (names); others run as they are. Default: all.
        tier: The risk tier of a call: a tier name, or a function of the view. Default:
            the policy's last tier when a risk rule fires, else its first.
        scorer: The agent's confidence in a call (the view -> 0..1 or None). Without
            one the view has no confidence, and a router with confidence bands
            escalates.
        sentiment: The conversation's sentiment (-1..1) from its messages, for
            `RiskRules(min_sentiment=...)`.
        domains: Tool name -> regulated domain (`{"prescribe": "medical"}`), for
            `RiskRules(regulated_domains=...)`.
        allowed_decisions: What reviewers may answer (default: approve, reject, modify,
            respond).
        history: How many recent turns of the conversation the reviewer sees.

    The view each call is routed on has `action` and `tool` (the tool's name), `args`,
    `amount` (`amount_of(args)`), `confidence`, `sentiment`, `domain`, `messages` and
    `thread_id`.

    Example:
        >>> from langgraph_hitl import ConfidenceRouter, RiskRules, ReviewPolicy, Tier
        >>> policy = ReviewPolicy(
        ...     roles=["support", "manager"],
        ...     tiers=[
        ...         Tier(name="low", role="support", sample_rate=0.2),
        ...         Tier(name="high", role="manager", escalate=True, deadline="4h"),
        ...     ],
        ...     router=ConfidenceRouter(rules=RiskRules(max_amount=100)),
        ... )
        >>> review = ApprovalMiddleware(policy, tools={"issue_refund"}, scorer=lambda v: 0.9)
        >>> view = {"action": "issue_refund", "args": {"amount": 180.0}, "amount": 180.0}
        >>> routing = review.route({**view, "confidence": 0.9, "thread_id": "T-7"})
        >>> routing.outcome, routing.tier, routing.reasons[0]
        ('escalated', 'high', 'amount 180.00 is over the 100.00 limit')
        >>> review.route({**view, "amount": 20.0, "confidence": 0.9, "thread_id": "T-7"}).tier
        'low'
    """

    def __init__(
        self,
        policy: ReviewPolicy,
        *,
        tools: Collection[str] | None = None,
        tier: str | Callable[[ToolCallView], str] | None = None,
        scorer: Scorer | None = None,
        sentiment: Callable[[Sequence[BaseMessage]], float | None] | None = None,
        domains: Mapping[str, str] | None = None,
        allowed_decisions: Sequence[str] | None = None,
        history: int = 6,
    ) -> None:
        super().__init__()
        if not isinstance(policy, ReviewPolicy):
            raise ConfigurationError(f"policy must be a ReviewPolicy, got {policy!r}")
        if isinstance(tier, str) and policy.tier(tier) is None:
            raise ConfigurationError(f"tier {tier!r} is not one of {list(policy.tiers)}")
        for name, value in (("scorer", scorer), ("sentiment", sentiment)):
            if value is not None and not callable(value):
                raise ConfigurationError(f"{name} must be callable, got {value!r}")
        if history < 0:
            raise ConfigurationError(f"history must be >= 0, got {history}")
        self.policy = policy
        self.tools_reviewed = None if tools is None else frozenset(tools)
        self.tier = tier
        self.scorer = scorer
        self.sentiment = sentiment
        self.domains = dict(domains or {})
        self.allowed = _normalise_allowed(allowed_decisions, respond=True)
        self.history = history

    # -- what a call is routed on ----------------------------------------------------

    def reviews(self, tool: str) -> bool:
        """Whether calls of `tool` go through this middleware's policy."""
        return self.tools_reviewed is None or tool in self.tools_reviewed

    def view(self, request: ToolCallRequest, thread_id: str) -> ToolCallView:
        """The tool call as the policy's router, risk rules and scorer read it."""
        call = request.tool_call
        messages = list((request.state or {}).get("messages") or [])
        view: ToolCallView = {
            "action": call["name"],
            "tool": call["name"],
            "args": dict(call.get("args") or {}),
            "amount": amount_of(call.get("args") or {}),
            "domain": self.domains.get(call["name"]),
            "messages": messages,
            "thread_id": thread_id,
            "tool_call_id": call.get("id"),
        }
        view["sentiment"] = None if self.sentiment is None else self.sentiment(messages)
        view["confidence"] = None if self.scorer is None else self.scorer(view)
        return view

    def tier_of(self, view: ToolCallView) -> str:
        """The call's risk tier (see `tier`)."""
        if callable(self.tier):
            return self.tier(view)
        if isinstance(self.tier, str):
            return self.tier
        names = list(self.policy.tiers)
        rules = self.policy.router.rules if self.policy.router is not None else None
        fired = rules is not None and bool(rules.reasons(view))
        return names[-1] if fired else names[0]

    def build_request(self, request: ToolCallRequest, view: ToolCallView) -> ApprovalRequest:
        """What a reviewer sees: the call and the context package, the tier's terms stamped."""
        call = request.tool_call
        messages = view["messages"]
        asked = _ai_turn_with(messages, call.get("id"))
        reasoning = text_of(asked).strip() if asked is not None else ""
        earlier = messages if asked is None else messages[: messages.index(asked)]
        goal = next((text_of(m) for m in messages if isinstance(m, HumanMessage)), None)
        # The schema the model sees for the tool: edits are checked against it.
        schema: Any = getattr(request.tool, "tool_call_schema", None)
        dump = getattr(schema, "model_json_schema", None)
        args_schema = dump() if callable(dump) else schema
        confidence = view.get("confidence")
        req = ApprovalRequest(
            action=Action(name=call["name"], args=view["args"]),
            summary=_summary(call["name"], view["args"]),
            goal=goal,
            risk_tier=self.tier_of(view),
            confidence=confidence if isinstance(confidence, int | float) else None,
            recommendation=reasoning or None,
            history=recent_turns(messages, self.history),
            attempted=tool_results(earlier),
            allowed_decisions=list(self.allowed),
            data={"tool_call_id": call.get("id")},
            args_schema=args_schema if isinstance(args_schema, dict) else None,
        )
        return self.policy.stamp(req)

    def route(self, view: ToolCallView, request: ApprovalRequest | None = None) -> Routing:
        """Where a call goes: `autonomous`, `sampled`, `review` or `escalated`, and why.

        Sampling draws per tool call (thread and call id), so each call of a long
        conversation has its own chance.
        """
        if request is None:
            request = ApprovalRequest(
                action=Action(name=view["action"], args=view.get("args") or {}),
                summary=_summary(view["action"], view.get("args") or {}),
                risk_tier=self.tier_of(view),
                confidence=view.get("confidence"),
            )
        key = f"{view.get('thread_id')}:{view.get('tool_call_id')}"
        return self.policy.route(view, request, thread_id=key)

    # -- the tool call ----------------------------------------------------------------

    def _decide(self, request: ToolCallRequest) -> tuple[ToolCallRequest | None, Any]:
        """The call to run (None: do not run it) and what to return instead or note."""
        call = request.tool_call
        if not self.reviews(call["name"]):
            return request, None
        config = get_config()
        thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
        view = self.view(request, thread_id)
        req = self.build_request(request, view)
        ledger = getattr(checkpointer_of(config), "ledger", None)
        ledger = ledger if isinstance(ledger, ReviewLedger) else None
        routing = self.route(view, req)
        if ledger is not None:
            record_route(ledger, config, routing, req, key=str(call.get("id")))
            asked_before = _asked_in_task(ledger, thread_id, config)
        else:
            asked_before = False
        if not routing.needs_human and not asked_before:
            if routing.outcome in ("sampled", "review") and ledger is not None:
                ledger.queue_review(
                    thread_id=thread_id,
                    request=req,
                    node=(config.get("metadata") or {}).get("langgraph_node"),
                    sample_rate=routing.sample_rate,
                )
            return request, None
        req = req.model_copy(update={"reasons": list(routing.reasons) or list(req.reasons)})
        gate = (config.get("metadata") or {}).get("langgraph_node")
        payload = request_payload(req, gate=gate, policy=self.policy)
        decision, approved = ask_human(payload, req, check_answer, config)
        if decision.type == "approve":
            return request, None
        if decision.type == "modify":
            assert approved is not None
            edited = request.override(tool_call={**call, "args": approved.args})
            return edited, approved.args
        return None, _answer_message(call, decision)

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Route the call; run it, run it as edited, or answer the model in its place."""
        to_run, extra = self._decide(request)
        if to_run is None:
            assert isinstance(extra, ToolMessage)
            return extra
        return _noted(handler(to_run), extra)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async twin of `wrap_tool_call`: the routing and the ledger's SQLite work run in
        a worker thread (the run's context goes with it), off the event loop."""
        to_run, extra = await asyncio.to_thread(self._decide, request)
        if to_run is None:
            assert isinstance(extra, ToolMessage)
            return extra
        return _noted(await handler(to_run), extra)


def _summary(name: str, args: dict[str, Any]) -> str:
    from langgraph_hitl.capture._conversation import call_text

    text = call_text(name, args)
    return text if len(text) <= 120 else text[:117] + "..."


def _ai_turn_with(messages: Sequence[Any], call_id: Any) -> Any:
    """The model's message that made the tool call `call_id`."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and any(
            c.get("id") == call_id for c in message.tool_calls
        ):
            return message
    return None


def _asked_in_task(ledger: ReviewLedger, thread_id: str, config: Any) -> bool:
    """Whether this task already paused for a human (so it must take the answer)."""
    task_id = task_id_of(config)
    return task_id is not None and bool(ledger.task_requests(thread_id, task_id))


def _answer_message(call: Any, decision: Decision) -> ToolMessage:
    """The tool's result when it did not run: the reviewer's reason or answer."""
    if decision.type == "respond":
        response = decision.response
        content = response if isinstance(response, str) else json.dumps(response, default=str)
        status = "success"
    elif decision.reason:
        content = f"User rejected the tool call for `{call['name']}` with reason: {decision.reason}"
        status = "error"
    else:
        content = (
            f"User rejected the tool call for `{call['name']}` with id {call.get('id')}. The"
            " tool was not executed. Do not retry this tool call unless the user asks for it."
        )
        status = "error"
    return ToolMessage(
        content=content, name=call["name"], tool_call_id=call.get("id"), status=status
    )


def _noted(result: ToolMessage | Command[Any], edited: Any) -> ToolMessage | Command[Any]:
    """The tool's result, told (when a reviewer edited the call) which args it ran with."""
    if edited is None or not isinstance(result, ToolMessage):
        return result
    note = EDIT_NOTE.format(args=json.dumps(edited, default=str))
    if isinstance(result.content, str):
        return result.model_copy(update={"content": f"{note}\n{result.content}"})
    return result.model_copy(update={"content": [note, *result.content]})


__all__ = ["ApprovalMiddleware", "Scorer", "ToolCallView", "amount_of"]
