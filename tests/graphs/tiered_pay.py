"""A small graph under a review policy, for the review-at-scale tests.

    START -> route --autonomous/sampled/review--> pay -> END
                   '--escalated--> approve_pay --approve/modify--> pay -> END
                                               '--reject--> refuse -> END

The input names its tier (`low`, `medium`, `high`, `critical`), amount and owner.
`refuse` raises while `TIERED_REFUSE_FAILS` is set (a failing step after a decision).
Deadlines are set by `TIERED_DEADLINE_S` when the graph is built (seconds per
escalation step; default one hour), so a test can make every request overdue at
once without sleeping.
`pay` inserts one row per `item_id` into `paid` and appends to `pay_attempts`.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from _pay_common import (
    PayArgs,
    approved_args,
    create_pay_tables,
    note_attempt,
    pay_once,
)
from _pay_common import State as PayState
from _pay_common import pay_request as plain_request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate, ApprovalRequest, ReviewPolicy, Tier, record_route


def review_policy() -> ReviewPolicy:
    """The policy, with deadlines read from the environment when the graph is built."""
    step = float(os.environ.get("TIERED_DEADLINE_S", "3600"))
    return ReviewPolicy(
        roles=["junior", "senior", "manager"],
        tiers=[
            Tier(name="low", role="junior", deadline=step),
            Tier(name="medium", role="senior", sample_rate=0.5, deadline=step),
            Tier(name="high", role="manager", escalate=True, deadline=step),
            Tier(name="critical", role="manager", escalate=True, quorum=2, deadline=step),
        ],
        seed=11,
    )


class State(PayState, total=False):
    tier: str
    owner: str | None
    escalate: bool
    outcome: str


def pay_request(state: State) -> ApprovalRequest:
    """The common payment request, with this item's tier, owner and reasons."""
    reasons = ["asked for by the test"] if state.get("escalate") else []
    return ApprovalRequest.model_validate(
        {
            **plain_request(state).model_dump(exclude_unset=True),
            "reasons": reasons,
            "risk_tier": state["tier"],
            "confidence": 0.9,
            "owner": state.get("owner"),
        }
    )


def make_graph(checkpointer: Any) -> Any:
    path = str(checkpointer.path)
    policy = review_policy()
    create_pay_tables(path)

    def route(state: State, config: RunnableConfig) -> dict[str, Any]:
        request = pay_request(state)
        thread_id = str(config["configurable"]["thread_id"])
        routing = policy.route(state, request, thread_id=thread_id)
        if state.get("escalate") and not routing.needs_human:
            routing = type(routing)(**{**routing.__dict__, "outcome": "escalated"})
        record_route(checkpointer.ledger, config, routing, request, graph=checkpointer.graph)
        return {"outcome": routing.outcome}

    def after_route(state: State) -> Literal["pay", "approve_pay"]:
        return "approve_pay" if state["outcome"] == "escalated" else "pay"

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        args = approved_args(state)
        note_attempt(path, args)
        pay_once(path, args, str(config["configurable"]["thread_id"]))
        return {"status": "paid"}

    def refuse(state: State) -> dict[str, Any]:
        if os.environ.get("TIERED_REFUSE_FAILS"):
            raise RuntimeError("the rejection notice service is down")
        return {"status": "rejected"}

    gate = ApprovalGate(
        pay_request, on_approve="pay", on_reject="refuse", args_schema=PayArgs, policy=policy
    )
    builder = StateGraph(State)
    builder.add_node("route", route)
    builder.add_node("approve_pay", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", after_route)
    builder.add_edge("pay", END)
    builder.add_edge("refuse", END)
    return builder.compile(checkpointer=checkpointer)
