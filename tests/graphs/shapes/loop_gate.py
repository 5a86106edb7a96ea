"""The same gate visited twice in a loop: one payment per round, two rounds.

START -> approve_round --approve--> pay --round < 2--> approve_round
                       '-reject---> pay    '-else----> END
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from _shapes_common import note, request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate

ROUNDS = 2


class State(TypedDict, total=False):
    round: int
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    paid: Annotated[list[int], operator.add]


def ask(state: State) -> dict[str, Any]:
    number = state.get("round", 0) + 1
    return request("pay", {"round": number}, f"Pay round {number}")


def again(state: State) -> Literal["approve_round", "__end__"]:
    return "approve_round" if state["round"] < ROUNDS else END


def make_graph(checkpointer: Any) -> Any:
    path = checkpointer.path

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        number = state.get("round", 0) + 1
        approved = state.get("approved_action")
        if approved is not None:
            note(path, config, "pay", round=approved["args"]["round"])
        return {"round": number, "paid": [number] if approved else []}

    gate = ApprovalGate(ask, on_approve="pay", on_reject="pay")
    builder = StateGraph(State)
    builder.add_node("approve_round", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_edge(START, "approve_round")
    builder.add_conditional_edges("pay", again)
    return builder.compile(checkpointer=checkpointer)
