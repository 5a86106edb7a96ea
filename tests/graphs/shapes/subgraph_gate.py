"""A gate inside a subgraph, whose state has a type of its own.

    parent:  START -> intake -> payments (the subgraph) -> close -> END
    payments: START -> approve_payment --approve--> pay -> END
                                       '-reject---> drop -> END

The subgraph runs on the checkpointer its parent lends it; its state holds a
`Receipt` dataclass the parent's state does not have, so only an allowlist that
looks into subgraphs revives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from _shapes_common import note, request, type_names
from billing import Invoice, invoice_from
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


@dataclass
class Receipt:
    number: str
    amount: float


class Payments(TypedDict, total=False):
    invoice: Invoice
    receipt: Receipt
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


class Parent(TypedDict, total=False):
    raw: dict[str, Any]
    invoice: Invoice
    status: str
    closed: bool


def payment(state: Payments) -> dict[str, Any]:
    inv = state["invoice"]
    return request(
        "pay_invoice",
        {"invoice_id": inv.invoice_id, "amount": inv.amount, "receipt": state["receipt"].number},
        f"Pay {inv.invoice_id}: {inv.amount:,.2f}",
    )


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay(state: Payments, config: RunnableConfig) -> dict[str, Any]:
        seen = type_names(invoice=state["invoice"], receipt=state["receipt"])
        note(path, config, "pay", **seen)
        if not isinstance(state["receipt"], Receipt):
            raise TypeError(f"state came back as plain data: {seen}")
        return {"status": "paid"}

    def drop(state: Payments) -> dict[str, Any]:
        return {"status": "rejected"}

    def intake(state: Parent) -> dict[str, Any]:
        return {"invoice": invoice_from(state["raw"])}

    def close(state: Parent, config: RunnableConfig) -> dict[str, Any]:
        note(path, config, "close", status=state.get("status"))
        return {"closed": True}

    def prepare(state: Payments) -> dict[str, Any]:
        inv = state["invoice"]
        return {"receipt": Receipt(number=f"R-{inv.invoice_id}", amount=inv.amount)}

    gate = ApprovalGate(payment, on_approve="pay", on_reject="drop")
    sub = StateGraph(Payments)
    sub.add_node("prepare", prepare)
    sub.add_node("approve_payment", gate, destinations=gate.destinations)
    sub.add_node("pay", pay)
    sub.add_node("drop", drop)
    sub.add_edge(START, "prepare")
    sub.add_edge("prepare", "approve_payment")
    sub.add_edge("pay", END)
    sub.add_edge("drop", END)

    builder = StateGraph(Parent)
    builder.add_node("intake", intake)
    builder.add_node("payments", sub.compile())
    builder.add_node("close", close)
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "payments")
    builder.add_edge("payments", "close")
    builder.add_edge("close", END)
    return builder.compile(checkpointer=checkpointer)
