"""Async graphs: every node of ours `async def`, and a mixed sync/async one.

    async_graph: START -> load (async) -> approve_payment -> pay (async) -> END
    mixed_graph: START -> load (sync)  -> approve_payment -> pay (async) -> audit (sync) -> END

LangGraph's `invoke` refuses a node with no sync function (`TypeError: No synchronous
function provided to "load"`): these run only under `ainvoke`. `builder()` is the
uncompiled async graph, for a thread paused from Python with `open_async_checkpointer`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from _shapes_common import note, request, type_names
from billing import Invoice, invoice_from
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


class State(TypedDict, total=False):
    raw: dict[str, Any]
    deadline_in: float
    invoice: Invoice
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def payment(state: State) -> dict[str, Any]:
    inv = state["invoice"]
    asked = request(
        "pay_invoice",
        {"invoice_id": inv.invoice_id, "amount": inv.amount},
        f"Pay {inv.invoice_id}: {inv.amount:,.2f}",
    )
    if "deadline_in" in state:  # `sweep` rejects it once this many seconds passed
        asked["deadline_in"] = state["deadline_in"]
    return asked


def _builder(path: Any, *, mixed: bool) -> StateGraph[Any]:
    async def aload(state: State) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"invoice": invoice_from(state["raw"])}

    def load(state: State) -> dict[str, Any]:
        return {"invoice": invoice_from(state["raw"])}

    async def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        await asyncio.sleep(0)
        note(path, config, "pay", **type_names(invoice=state["invoice"]))
        return {"status": "paid"}

    async def drop(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    def audit(state: State, config: RunnableConfig) -> dict[str, Any]:
        note(path, config, "audit", status=state["status"])
        return {}

    gate = ApprovalGate(payment, on_approve="pay", on_reject="drop")
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("load", load if mixed else aload)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "load")
    builder.add_edge("load", "approve_payment")
    builder.add_edge("drop", END)
    if mixed:
        builder.add_node("audit", audit)
        builder.add_edge("pay", "audit")
        builder.add_edge("audit", END)
    else:
        builder.add_edge("pay", END)
    return builder


def async_graph(checkpointer: Any) -> Any:
    return _builder(checkpointer.path, mixed=False).compile(checkpointer=checkpointer)


def mixed_graph(checkpointer: Any) -> Any:
    return _builder(checkpointer.path, mixed=True).compile(checkpointer=checkpointer)
