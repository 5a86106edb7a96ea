"""What a compiled graph is made of: its gates, its async-only nodes, its state keys.

`check_gates` is run on every graph `ReviewDesk` loads, before a run and before a
decision is recorded, so a gate routing to a node that is not there, or writing to a
state key the state does not declare, fails before anyone decides anything.
`needs_async` tells whether a graph can run under `invoke` at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langgraph_hitl.errors import ConfigurationError

END = "__end__"


def graphs_in(graph: Any) -> Iterator[tuple[str, Any]]:
    """The graph and every subgraph it declares as a node, with their namespaces."""
    yield "", graph
    try:
        subgraphs = list(graph.get_subgraphs(recurse=True))
    except Exception:  # a graph that cannot list subgraphs is checked on its own
        return
    yield from subgraphs


def _func(node: Any) -> Any:
    """The callable a compiled node runs (a `RunnableCallable`'s `func`), if any."""
    return getattr(getattr(node, "bound", None), "func", None)


def gates(graph: Any) -> Iterator[tuple[str, str, Any, Any]]:
    """`(namespace, node name, gate, the graph holding it)` for every `ApprovalGate`."""
    from langgraph_hitl.capture.gates import ApprovalGate

    for namespace, each in graphs_in(graph):
        for name, node in getattr(each, "nodes", {}).items():
            gate = _func(node)
            if isinstance(gate, ApprovalGate):
                yield namespace, name, gate, each


def check_gates(graph: Any) -> None:
    """Raise `ConfigurationError` for the first gate whose routes or state keys are missing.

    The message names the gate, what is missing and how to fix it.
    """
    for namespace, name, gate, holder in gates(graph):
        where = f"gate {name!r}" + (f" in subgraph {namespace!r}" if namespace else "")
        problem = gate.problem(
            has_node=lambda node, holder=holder: node == END or node in holder.nodes,
            has_key=lambda key, holder=holder: key in holder.channels,
        )
        if problem is not None:
            raise ConfigurationError(f"{where}: {problem}")


def _async_only(runnable: Any) -> bool:
    """A runnable with an async function and no sync one: `invoke` cannot run it."""
    from langgraph.pregel import Pregel

    if isinstance(runnable, Pregel):
        return needs_async(runnable)
    steps = getattr(runnable, "steps", None)
    if isinstance(steps, list | tuple):  # a sequence: any step decides it
        return any(_async_only(step) for step in steps)
    if getattr(runnable, "afunc", None) is None:
        return False
    # `RunnableCallable` keeps `func=None`; `RunnableLambda` has no `func` at all.
    return getattr(runnable, "func", None) is None


def needs_async(graph: Any) -> bool:
    """True when a node (subgraphs included) has only an async function.

    LangGraph's `invoke` raises `TypeError: No synchronous function provided` on such
    a node; `ainvoke` runs async and sync nodes alike.
    """
    for _, each in graphs_in(graph):
        for node in getattr(each, "nodes", {}).values():
            if _async_only(getattr(node, "bound", None)):
                return True
    return False


def channel_exists(config: Any, name: str) -> bool | None:
    """Whether the running graph has a channel `name`, asked from inside a node.

    LangGraph hands each task a reader of the graph's channels under a private config
    key (`__pregel_read`, `CONFIG_KEY_READ`); it raises `KeyError` for a channel the
    graph does not have and skips one that is only empty. Every state key is a channel,
    and so is `branch:to:NODE` for every node. None when the reader is not there (the
    node was called outside a graph run): nothing can be said then.
    `tests/test_inspect.py` pins this behaviour.
    """
    try:
        from langgraph._internal._constants import CONFIG_KEY_READ
    except ImportError:  # a LangGraph that moved it: the desk's load-time check remains
        return None
    read = ((config or {}).get("configurable") or {}).get(CONFIG_KEY_READ)
    if not callable(read):
        return None
    try:
        read([name])
    except KeyError:
        return False
    except Exception:
        return None
    return True
