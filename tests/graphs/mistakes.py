"""Graphs with the mistakes a gate must catch before anyone decides anything.

    bad_route             on_approve="pay_invoice", a node the graph does not have
                          (no `destinations=`, so LangGraph compiles it)
    bad_route_in_subgraph the same mistake, one level down
    no_keys               a state without the gate's `decision` / `approved_action` keys
    no_summary            a request builder that gives no `summary`
    good                  the same graph done right: START -> approve -> pay -> END

`ROUTE` (environment `MISTAKES_ROUTE`) is where `edited` routes approvals: a graph
file edited after a thread paused on it.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


class State(TypedDict, total=False):
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


class Bare(TypedDict, total=False):
    amount: float
    status: str


def ask(state: Any) -> dict[str, Any]:
    return {"action": {"name": "pay", "args": {"amount": state["amount"]}}, "summary": "Pay"}


def pay(state: Any) -> dict[str, Any]:
    return {"status": "paid"}


def drop(state: Any) -> dict[str, Any]:
    return {"status": "rejected"}


def _graph(schema: Any, gate: ApprovalGate) -> StateGraph[Any]:
    builder: StateGraph[Any] = StateGraph(schema)
    builder.add_node("approve", gate)  # no destinations=: LangGraph cannot check routes
    builder.add_node("pay", pay)
    builder.add_node("drop", drop)
    builder.add_edge(START, "approve")
    builder.add_edge("pay", END)
    builder.add_edge("drop", END)
    return builder


def good() -> StateGraph[Any]:
    return _graph(State, ApprovalGate(ask, on_approve="pay", on_reject="drop"))


def bad_route() -> StateGraph[Any]:
    return _graph(State, ApprovalGate(ask, on_approve="pay_invoice", on_reject="drop"))


def bad_route_in_subgraph() -> StateGraph[Any]:
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("payments", bad_route().compile())
    builder.add_edge(START, "payments")
    builder.add_edge("payments", END)
    return builder


def no_keys() -> StateGraph[Any]:
    return _graph(Bare, ApprovalGate(ask, on_approve="pay", on_reject="drop"))


def no_summary() -> StateGraph[Any]:
    def builder(state: Any) -> dict[str, Any]:
        return {"action": {"name": "pay", "args": {"amount": state["amount"]}}}

    return _graph(State, ApprovalGate(builder, on_approve="pay", on_reject="drop"))


def edited() -> StateGraph[Any]:
    route = os.environ.get("MISTAKES_ROUTE", "pay")
    return _graph(State, ApprovalGate(ask, on_approve=route, on_reject="drop"))
