"""A graph that passes the deployment check: `pay` runs only after a human approved it.

    START -> score --autonomous/review--> book ---------------------------> END
                   '--escalate----------> approve_pay --approve/modify--> pay -> END
                                                      '--reject---------> refuse -> END

`pay` is irreversible (registered with `irreversible("pay")`); `book` only queues work.
A factory, so the check compiles it on a throwaway file; `POLICY` has thresholds, an
escalating top tier, deadlines on every tier and sampling.
"""

from __future__ import annotations

from typing import Any, Literal

from _pay_common import PayArgs, State, pay_request
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate, ConfidenceRouter, RiskRules
from langgraph_hitl.capture.policy import ReviewPolicy, Tier
from langgraph_hitl.insight.checklist import irreversible

HOUR = 3600.0

POLICY = ReviewPolicy(
    roles=["clerk", "manager"],
    tiers=[
        Tier(name="low", role="clerk", sample_rate=0.1, deadline=4 * HOUR),
        Tier(name="high", role="manager", escalate=True, deadline=8 * HOUR),
    ],
    router=ConfidenceRouter(autonomous_at=0.9, review_at=0.6, rules=RiskRules(max_amount=10_000)),
)

irreversible("pay")


def make_graph(checkpointer: Any) -> Any:
    def score(state: State) -> dict[str, Any]:
        return {}

    def route(state: State) -> Literal["book", "approve_pay"]:
        assert POLICY.router is not None
        return "approve_pay" if POLICY.router(state) == "escalate" else "book"

    def book(state: State) -> dict[str, Any]:
        return {"status": "booked"}

    def pay(state: State) -> dict[str, Any]:
        return {"status": "paid"}

    def refuse(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    gate = ApprovalGate(
        pay_request, on_approve="pay", on_reject="refuse", args_schema=PayArgs, policy=POLICY
    )
    builder = StateGraph(State)
    builder.add_node("score", score)
    builder.add_node("book", book)
    builder.add_node("approve_pay", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "score")
    builder.add_conditional_edges("score", route)
    builder.add_edge("book", END)
    builder.add_edge("pay", END)
    builder.add_edge("refuse", END)
    return builder.compile(checkpointer=checkpointer)
