"""A pydantic-model state holding nested models and an enum.

START -> approve_payment --approve--> pay -> END
                         '-reject---> drop -> END
"""

from __future__ import annotations

from typing import Any

from _shapes_common import note, request, type_names
from billing import Invoice
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from langgraph_hitl import ApprovalGate


class State(BaseModel):
    invoice: Invoice
    decision: dict[str, Any] | None = None
    approved_action: dict[str, Any] | None = None
    status: str = "new"


def payment(state: State) -> dict[str, Any]:
    inv = state.invoice
    return request(
        "pay_invoice",
        {"invoice_id": inv.invoice_id, "amount": inv.amount},
        f"Pay {inv.invoice_id}: {inv.amount:,.2f} {inv.currency.value}",
    )


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        inv = state.invoice
        note(
            path, config, "pay", **type_names(invoice=inv, line=inv.lines[0], currency=inv.currency)
        )
        return {"status": "paid"}

    def drop(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    gate = ApprovalGate(payment, on_approve="pay", on_reject="drop")
    builder = StateGraph(State)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "approve_payment")
    builder.add_edge("pay", END)
    builder.add_edge("drop", END)
    return builder.compile(checkpointer=checkpointer)
