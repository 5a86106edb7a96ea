"""A dataclass state holding a nested dataclass, a pydantic model and an enum.

START -> load -> approve_payment --approve--> pay -> END
                                 '-reject---> drop -> END
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from _shapes_common import note, request, type_names
from billing import Invoice, Payee, invoice_from, payee_from
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


@dataclass
class State:
    raw: dict[str, Any] = field(default_factory=dict)
    invoice: Invoice | None = None
    payee: Payee | None = None
    decision: dict[str, Any] | None = None
    approved_action: dict[str, Any] | None = None
    status: str = "new"


def load(state: State) -> dict[str, Any]:
    return {"invoice": invoice_from(state.raw["invoice"]), "payee": payee_from(state.raw["payee"])}


def payment(state: State) -> dict[str, Any]:
    assert state.invoice is not None
    inv = state.invoice
    return request(
        "pay_invoice",
        {"invoice_id": inv.invoice_id, "amount": inv.amount},
        f"Pay {inv.invoice_id}: {inv.amount:,.2f}",
    )


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        payee = state.payee
        seen = type_names(
            invoice=state.invoice, payee=payee, address=getattr(payee, "address", None)
        )
        note(path, config, "pay", **seen)
        if not isinstance(payee, Payee):
            raise TypeError(f"state came back as plain data: {seen}")
        return {"status": "paid"}

    def drop(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    gate = ApprovalGate(payment, on_approve="pay", on_reject="drop")
    builder = StateGraph(State)
    builder.add_node("load", load)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "load")
    builder.add_edge("load", "approve_payment")
    builder.add_edge("pay", END)
    builder.add_edge("drop", END)
    return builder.compile(checkpointer=checkpointer)
