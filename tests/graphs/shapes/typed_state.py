"""A TypedDict state holding your own types: a pydantic model, dataclasses, enums.

    START -> load -> approve_payment --approve--> pay -> END
                                     '-reject---> drop -> END

`invoice` is a pydantic `billing.Invoice` (with `LineItem`s and a `Currency` enum),
`payee` a `billing.Payee` dataclass holding an `Address` dataclass, and `remittance`
a dataclass defined in this file (so its type is named after this module). `pay`
fails unless each comes back as itself: in the deciding process, from the checkpoint.

`memo` is declared `Any`: its `Memo` is a type no schema names, so it comes back as
itself only where a project lists it (`$LANGGRAPH_HITL_ALLOWED_TYPES`, `[serializer]`
in `hitl.toml`); elsewhere as plain data. `pay` notes which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from _shapes_common import note, request, type_names
from billing import Currency, Invoice, Payee, invoice_from, payee_from
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


@dataclass
class Remittance:
    reference: str
    currency: Currency


@dataclass
class Memo:
    text: str


class Input(TypedDict, total=False):
    invoice: dict[str, Any]
    payee: dict[str, Any]
    memo: str


class State(TypedDict, total=False):
    invoice: Invoice
    payee: Payee
    remittance: Remittance
    memo: Any
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def load(state: Input) -> dict[str, Any]:
    invoice = invoice_from(state["invoice"])
    return {
        "invoice": invoice,
        "payee": payee_from(state["payee"]),
        "remittance": Remittance(reference=f"RF-{invoice.invoice_id}", currency=invoice.currency),
        "memo": Memo(state.get("memo", "")),
    }


def payment(state: State) -> dict[str, Any]:
    invoice = state["invoice"]
    return request(
        "pay_invoice",
        {"invoice_id": invoice.invoice_id, "amount": invoice.amount, "payee": state["payee"].name},
        f"Pay {invoice.invoice_id}: {invoice.amount:,.2f} {invoice.currency.value}",
    )


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        invoice, payee, remittance = state["invoice"], state["payee"], state["remittance"]
        seen = type_names(
            invoice=invoice,
            line=invoice.lines[0] if isinstance(invoice, Invoice) else None,
            currency=invoice.currency if isinstance(invoice, Invoice) else None,
            payee=payee,
            address=payee.address if isinstance(payee, Payee) else None,
            remittance=remittance,
            remittance_currency=getattr(remittance, "currency", None),
            memo=state["memo"],
        )
        note(path, config, "pay", **seen)
        if not isinstance(invoice, Invoice) or not isinstance(remittance, Remittance):
            raise TypeError(f"state came back as plain data: {seen}")
        return {"status": "paid"}

    def drop(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    gate = ApprovalGate(payment, on_approve="pay", on_reject="drop")
    builder = StateGraph(State, input_schema=Input)
    builder.add_node("load", load)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "load")
    builder.add_edge("load", "approve_payment")
    builder.add_edge("pay", END)
    builder.add_edge("drop", END)
    return builder.compile(checkpointer=checkpointer)
