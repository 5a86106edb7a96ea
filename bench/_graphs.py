"""The graphs the benchmarks run: the same small graph, gated two ways.

    agent -> gate -> act -> END       (ours: an `ApprovalGate`)
                 '-> refuse -> END
    agent -> ask  -> act -> END       (bare: a node that calls `interrupt()`)

Every node is deterministic: no network, no LLM. `gate_graph` is an uncompiled
`StateGraph`, so the `ReviewDesk` can refer to it as `bench/_graphs.py:gate_graph`
and compile it with its own checkpointer.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from langgraph_hitl import ApprovalGate

GATE_REF = "_graphs.py:gate_graph"
"""How the desk refers to the gate graph, relative to this directory."""


class State(TypedDict, total=False):
    item_id: str
    amount: float
    proposal: dict[str, Any]
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def agent(state: State) -> dict[str, Any]:
    """Propose a payment: a pure function of the input."""
    return {"proposal": {"item_id": state["item_id"], "amount": state["amount"], "to": "Acme GmbH"}}


def act(state: State) -> dict[str, Any]:
    return {"status": "paid"}


def refuse(state: State) -> dict[str, Any]:
    return {"status": "rejected"}


def pay_request(state: State) -> dict[str, Any]:
    args = state["proposal"]
    return {
        "action": {"name": "pay", "args": args},
        "summary": f"Pay {args['item_id']}: {args['amount']:,.2f} to {args['to']}",
        "reasons": ["amount over the autonomous limit"],
        "risk_tier": "high",
        "confidence": 0.42,
    }


def ask(state: State) -> dict[str, Any]:
    """The bare equivalent of the gate: a plain `interrupt()` with the same facts."""
    answer = interrupt({"action": {"name": "pay", "args": state["proposal"]}, **_facts(state)})
    if answer.get("type") == "approve":
        return {"decision": answer, "approved_action": {"name": "pay", "args": state["proposal"]}}
    return {"decision": answer, "approved_action": None}


def _facts(state: State) -> dict[str, Any]:
    req = pay_request(state)
    return {k: v for k, v in req.items() if k != "action"}


def _route_bare(state: State) -> str:
    return "act" if state.get("approved_action") else "refuse"


def build_gate_graph() -> StateGraph:
    gate = ApprovalGate(pay_request, on_approve="act", on_reject="refuse")
    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("gate", gate, destinations=gate.destinations)
    builder.add_node("act", act)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "gate")
    builder.add_edge("act", END)
    builder.add_edge("refuse", END)
    return builder


def build_bare_graph() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("ask", ask)
    builder.add_node("act", act)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "ask")
    builder.add_conditional_edges("ask", _route_bare, ["act", "refuse"])
    builder.add_edge("act", END)
    builder.add_edge("refuse", END)
    return builder


gate_graph = build_gate_graph()


def item(i: int) -> dict[str, Any]:
    """The input of thread number `i`."""
    return {"item_id": f"ITEM-{i:06d}", "amount": 10_000.0 + i}
