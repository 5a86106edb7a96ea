"""Two gates in sequence: approve the order, ship it, then approve the invoice, bill it.

START -> approve_order --approve--> ship -> approve_bill --approve--> bill -> END
                       '-reject---> stop    '-reject----> stop
"""

from __future__ import annotations

from typing import Any, TypedDict

from _shapes_common import note, request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


class State(TypedDict, total=False):
    order: str
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def ship(state: State, config: RunnableConfig) -> dict[str, Any]:
        note(path, config, "ship", order=state["order"])
        return {"status": "shipped"}

    def bill(state: State, config: RunnableConfig) -> dict[str, Any]:
        note(path, config, "bill", amount=state["approved_action"]["args"]["amount"])  # type: ignore[index]
        return {"status": "billed"}

    def stop(state: State) -> dict[str, Any]:
        return {"status": "stopped"}

    order = ApprovalGate(
        lambda s: request("ship", {"order": s["order"]}, f"Ship {s['order']}"),
        on_approve="ship",
        on_reject="stop",
    )
    invoice = ApprovalGate(
        lambda s: request("bill", {"order": s["order"], "amount": s["amount"]}, "Bill it"),
        on_approve="bill",
        on_reject="stop",
    )
    builder = StateGraph(State)
    builder.add_node("approve_order", order, destinations=order.destinations)
    builder.add_node("ship", ship)
    builder.add_node("approve_bill", invoice, destinations=invoice.destinations)
    builder.add_node("bill", bill)
    builder.add_node("stop", stop)
    builder.add_edge(START, "approve_order")
    builder.add_edge("ship", "approve_bill")
    builder.add_edge("bill", END)
    builder.add_edge("stop", END)
    return builder.compile(checkpointer=checkpointer)
