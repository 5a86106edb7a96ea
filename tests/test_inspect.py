"""What `_inspect` reads from graphs, and the LangGraph behaviour it relies on.

`channel_exists` asks a running graph, from inside a node, through LangGraph's private
channel reader (`CONFIG_KEY_READ`); the tests here pin what that reader does, so a
LangGraph release that changes it shows up as a failure here, not as a gate that
stops checking its routes.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate, ConfigurationError
from langgraph_hitl.capture._inspect import channel_exists, check_gates, gates, needs_async


class State(TypedDict, total=False):
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None


def sync_node(state: State) -> dict[str, Any]:
    return {}


async def async_node(state: State) -> dict[str, Any]:
    return {}


def test_channel_reader_tells_existing_from_missing_channels() -> None:
    seen: dict[str, bool | None] = {}

    def probe(state: State, config: RunnableConfig) -> dict[str, Any]:
        for name in ("amount", "decision", "nope", "branch:to:probe", "branch:to:lonely"):
            seen[name] = channel_exists(config, name)
        seen["branch:to:missing"] = channel_exists(config, "branch:to:missing")
        return {}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("probe", probe)
    builder.add_node("lonely", sync_node)  # no edge leads here: it still has a channel
    builder.add_edge(START, "probe")
    builder.add_edge("probe", END)
    builder.compile(checkpointer=InMemorySaver()).invoke(
        {"amount": 1.0}, {"configurable": {"thread_id": "t"}}
    )
    assert seen == {
        "amount": True,
        "decision": True,  # declared, never written: empty, but there
        "nope": False,
        "branch:to:probe": True,
        "branch:to:lonely": True,
        "branch:to:missing": False,
    }


def test_outside_a_graph_run_nothing_can_be_said() -> None:
    assert channel_exists({"configurable": {}}, "amount") is None
    assert channel_exists({}, "amount") is None


def test_needs_async_finds_nodes_with_no_sync_function() -> None:
    def graph(node: Any, *, nested: bool = False) -> Any:
        inner: StateGraph[Any] = StateGraph(State)
        inner.add_node("work", node)
        inner.add_edge(START, "work")
        if not nested:
            return inner.compile()
        outer: StateGraph[Any] = StateGraph(State)
        outer.add_node("sub", inner.compile())
        outer.add_edge(START, "sub")
        return outer.compile()

    assert not needs_async(graph(sync_node))
    assert needs_async(graph(async_node))
    assert needs_async(graph(async_node, nested=True))
    assert needs_async(graph(RunnableLambda(async_node)))
    assert not needs_async(graph(RunnableLambda(sync_node, afunc=async_node)))
    # And LangGraph indeed refuses `invoke` on such a graph, and runs it with `ainvoke`.
    refused = graph(async_node)
    with pytest.raises(TypeError, match="No synchronous function provided"):
        refused.invoke({"amount": 1.0})
    assert asyncio.run(refused.ainvoke({"amount": 1.0})) == {"amount": 1.0}


def test_check_gates_finds_gates_in_subgraphs() -> None:
    gate = ApprovalGate(
        lambda s: {"action": {"name": "pay"}, "summary": "Pay"},
        on_approve="pay",
        on_reject="missing",
    )
    inner: StateGraph[Any] = StateGraph(State)
    inner.add_node("approve", gate)
    inner.add_node("pay", sync_node)
    inner.add_edge(START, "approve")
    outer: StateGraph[Any] = StateGraph(State)
    outer.add_node("payments", inner.compile())
    outer.add_edge(START, "payments")
    compiled = outer.compile()
    assert [(ns, name) for ns, name, _, _ in gates(compiled)] == [("payments", "approve")]
    with pytest.raises(ConfigurationError) as caught:
        check_gates(compiled)
    assert str(caught.value) == (
        "gate 'approve' in subgraph 'payments': on_reject='missing' names no node of the"
        " graph it runs in: add a node 'missing', or route reject to a node that exists"
    )
