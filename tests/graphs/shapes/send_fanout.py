"""`Send` fan-out to one gate: one request per item, all waiting at once.

    START --Send(review_item, {"item": ...}) x N--> review_item --approve--> pay_items -> END
                                                               '-reject---> pay_items

Each gate task sees only its item. The decisions and approved actions of the parallel
tasks are collected with a reducer; `pay_items` pays every approved item once.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from _shapes_common import note, request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_hitl import ApprovalGate


def collect(current: list[Any] | None, update: Any) -> list[Any]:
    """A reducer: several gate tasks write the same key in one step."""
    return [*(current or []), *(update if isinstance(update, list) else [update])]


class State(TypedDict, total=False):
    items: list[dict[str, Any]]
    item: dict[str, Any]
    decisions: Annotated[list[Any], collect]
    approved: Annotated[list[Any], collect]


def fan_out(state: State) -> list[Send]:
    return [Send("review_item", {"item": item}) for item in state["items"]]


def ask(state: State) -> dict[str, Any]:
    item = state["item"]
    return request("pay", item, f"Pay {item['id']}: {item['amount']}")


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay_items(state: State, config: RunnableConfig) -> dict[str, Any]:
        for action in state.get("approved") or []:
            if action is not None:
                note(path, config, "pay", item=action["args"]["id"])
        return {}

    gate = ApprovalGate(
        ask,
        on_approve="pay_items",
        on_reject="pay_items",
        decision_key="decisions",
        approved_action_key="approved",
    )
    builder = StateGraph(State)
    builder.add_node("review_item", gate, destinations=gate.destinations)
    builder.add_node("pay_items", pay_items)
    builder.add_conditional_edges(START, fan_out, ["review_item"])
    builder.add_edge("pay_items", END)
    return builder.compile(checkpointer=checkpointer)
