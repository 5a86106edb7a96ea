"""Three gates in parallel on one thread, each with its own state keys.

    START -> approve_a --approve--> pay_a -> END
          -> approve_b --approve--> pay_b -> END
          -> approve_c --approve--> pay_c -> END     (reject: skip)

Three interrupts wait at once; each is decided by its request id.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from _shapes_common import note, request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate

ITEMS = ("a", "b", "c")


class State(TypedDict, total=False):
    amounts: dict[str, float]
    decision_a: dict[str, Any] | None
    decision_b: dict[str, Any] | None
    decision_c: dict[str, Any] | None
    action_a: dict[str, Any] | None
    action_b: dict[str, Any] | None
    action_c: dict[str, Any] | None
    done: Annotated[list[str], operator.add]


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path
    builder = StateGraph(State)

    def skip(state: State) -> dict[str, Any]:
        return {"done": ["skipped"]}

    builder.add_node("skip", skip)
    builder.add_edge("skip", END)
    for item in ITEMS:

        def ask(state: State, item: str = item) -> dict[str, Any]:
            amount = state["amounts"][item]
            return request("pay", {"item": item, "amount": amount}, f"Pay {item}: {amount}")

        def pay(state: State, config: RunnableConfig, item: str = item) -> dict[str, Any]:
            action = state[f"action_{item}"]  # type: ignore[literal-required]
            note(path, config, f"pay_{item}", item=action["args"]["item"])
            return {"done": [f"pay_{item}"]}

        gate = ApprovalGate(
            ask,
            on_approve=f"pay_{item}",
            on_reject="skip",
            decision_key=f"decision_{item}",
            approved_action_key=f"action_{item}",
        )
        builder.add_node(f"approve_{item}", gate, destinations=gate.destinations)
        builder.add_node(f"pay_{item}", pay)
        builder.add_edge(START, f"approve_{item}")
        builder.add_edge(f"pay_{item}", END)
    return builder.compile(checkpointer=checkpointer)
