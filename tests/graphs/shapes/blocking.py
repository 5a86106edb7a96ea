"""An async graph whose action waits for the test: to see who else runs meanwhile.

    START -> approve_payment --approve--> pay (async: waits for `release`) -> END

`pay` sets the thread's `reached` event, then waits (in a worker thread, so its own
loop stays free) until the test sets `release`. Events are per thread id and live in
this module, which the desk imports in the test's own process.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

from _shapes_common import note, request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate

WAIT_S = 60.0
"""How long `pay` waits before failing: a test that never releases it fails, never hangs."""

_EVENTS: dict[str, tuple[threading.Event, threading.Event]] = {}


def events(thread_id: str) -> tuple[threading.Event, threading.Event]:
    """`(reached, release)` for a thread."""
    return _EVENTS.setdefault(thread_id, (threading.Event(), threading.Event()))


class State(TypedDict, total=False):
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    async def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        reached, release = events(config["configurable"]["thread_id"])
        reached.set()
        if not await asyncio.to_thread(release.wait, WAIT_S):
            raise TimeoutError(f"pay was not released within {WAIT_S}s")
        note(path, config, "pay")
        return {"status": "paid"}

    async def drop(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    gate = ApprovalGate(
        lambda s: request("pay", {"amount": s["amount"]}, f"Pay {s['amount']}"),
        on_approve="pay",
        on_reject="drop",
    )
    builder = StateGraph(State)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "approve_payment")
    builder.add_edge("pay", END)
    builder.add_edge("drop", END)
    return builder.compile(checkpointer=checkpointer)
