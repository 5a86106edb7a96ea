"""A graph for the deployment check that pays without asking when confidence is high.

    START -> score --autonomous--> pay ----> END      (pay: marked irreversible)
                   '--escalate---> approve_pay --approve/modify--> pay
                                               '--reject---------> refuse -> END

`pay` is reachable from START without passing the gate: `check` fails and names it.
"""

from __future__ import annotations

from typing import Any, Literal

from _pay_common import State, pay_request
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate, ConfidenceRouter, RiskRules

ROUTER = ConfidenceRouter(autonomous_at=0.9, review_at=0.6, rules=RiskRules(max_amount=10_000))


def score(state: State) -> dict[str, Any]:
    return {}


def route(state: State) -> Literal["pay", "approve_pay"]:
    return "approve_pay" if ROUTER({**state, "confidence": 0.95}) == "escalate" else "pay"


def pay(state: State) -> dict[str, Any]:
    return {"status": "paid"}


def refuse(state: State) -> dict[str, Any]:
    return {"status": "rejected"}


gate = ApprovalGate(pay_request, on_approve="pay", on_reject="refuse")
graph = StateGraph(State)
graph.add_node("score", score)
graph.add_node("approve_pay", gate, destinations=gate.destinations)
graph.add_node("pay", pay, metadata={"irreversible": True})
graph.add_node("refuse", refuse)
graph.add_edge(START, "score")
graph.add_conditional_edges("score", route)
graph.add_edge("pay", END)
graph.add_edge("refuse", END)
