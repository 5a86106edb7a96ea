"""Which of your types the checkpoint serializer may revive: derived from the graph.

Our serializer never unpickles and revives only LangGraph's safe types plus an
allowlist of `(module, name)` pairs. A type it does not list comes back from a
checkpoint as a plain dict, so a pydantic model or dataclass in a TypedDict or
dataclass state would reach the action node as a dict in the process that resumes.

LangGraph derives exactly this allowlist from a graph's schemas and channels when
`LANGGRAPH_STRICT_MSGPACK` is set (`StateGraph.compile`); `graph_allowlist` runs the
same derivation for the graph and every subgraph it can see, whatever the setting,
and `allowed_by_config` adds what a project lists itself (`$LANGGRAPH_HITL_ALLOWED_TYPES`,
`[serializer] allowed_types` in `hitl.toml`) for values whose type no schema names.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import ConfigurationError

ENV_ALLOWED = "LANGGRAPH_HITL_ALLOWED_TYPES"
"""Comma-separated `module.Name` (or `module:Name`) types the serializer may also revive."""

ENV_CONFIG = "LANGGRAPH_HITL_CONFIG"
CONFIG_FILE = "hitl.toml"

TypeKey = tuple[str, ...]


def _schema_allowlist(schemas: list[Any], channels: dict[str, Any]) -> set[TypeKey]:
    """LangGraph's own derivation, private (`langgraph._internal._serde`), used here only.

    It walks TypedDicts, pydantic models, dataclasses, enums, unions, containers and
    `Annotated`, at any depth, and lists each model, dataclass and enum it meets, plus
    LangChain's message classes. `tests/test_serde.py` pins what it lists.
    """
    from langgraph._internal._serde import build_serde_allowlist

    return set(build_serde_allowlist(schemas=schemas, channels=channels))


def _graph_schemas(graph: Any) -> tuple[list[Any], dict[str, Any]]:
    """The schemas and channels `StateGraph.compile` derives its allowlist from."""
    builder = getattr(graph, "builder", None)
    schemas: list[Any] = []
    if builder is not None:
        schemas += [
            getattr(builder, "state_schema", None),
            getattr(builder, "input_schema", None),
            getattr(builder, "output_schema", None),
            getattr(builder, "context_schema", None),
        ]
        for node in getattr(builder, "nodes", {}).values():
            schemas.append(getattr(node, "input_schema", None))
        for branches in getattr(builder, "branches", {}).values():
            for branch in branches.values():
                schemas.append(getattr(branch, "input_schema", None))
    channels = dict(getattr(builder, "channels", None) or getattr(graph, "channels", {}) or {})
    return [s for s in schemas if s is not None], channels


def graph_allowlist(graph: Any) -> set[TypeKey]:
    """Every type the state of `graph` and of each subgraph it declares can hold."""
    from langgraph_hitl.capture._inspect import graphs_in

    allowed: set[TypeKey] = set()
    for _, each in graphs_in(graph):
        schemas, channels = _graph_schemas(each)
        allowed |= _schema_allowlist(schemas, channels)
    return allowed


def parse_type_names(names: Iterable[str], *, where: str) -> set[TypeKey]:
    """`module.Name` or `module:Name` strings as allowlist keys.

    Example:
        >>> sorted(parse_type_names(["billing.models.Invoice", "billing:Payee"], where="x"))
        [('billing', 'Payee'), ('billing.models', 'Invoice')]
    """
    keys: set[TypeKey] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        module, sep, attr = name.rpartition(":") if ":" in name else name.rpartition(".")
        if not module or not attr or not sep:
            raise ConfigurationError(
                f"{where}: {raw!r} is not a type name: write module.Name (e.g."
                " billing.models.Invoice) or module:Name"
            )
        keys.add((module, attr))
    return keys


def allowed_by_config(root: Path | None = None, env: dict[str, str] | None = None) -> set[TypeKey]:
    """The types a project lists itself: `$LANGGRAPH_HITL_ALLOWED_TYPES`, then the
    `[serializer] allowed_types` of `$LANGGRAPH_HITL_CONFIG`, else of `hitl.toml` in the
    project root."""
    env = dict(os.environ) if env is None else env
    keys = parse_type_names((env.get(ENV_ALLOWED) or "").split(","), where=f"${ENV_ALLOWED}")
    named = env.get(ENV_CONFIG)
    file = Path(named) if named else (root or Path.cwd()) / CONFIG_FILE
    if not file.is_file():
        return keys
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"cannot read {file}: {err}") from None
    table = data.get("serializer", {})
    listed = table.get("allowed_types", []) if isinstance(table, dict) else None
    if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
        raise ConfigurationError(
            f"{file}: [serializer] allowed_types must be a list of type names (module.Name)"
        )
    return keys | parse_type_names(listed, where=f"{file} [serializer] allowed_types")


def with_allowlist(graph: Any, extra: Iterable[TypeKey] = ()) -> Any:
    """`graph` on a copy of its checkpointer whose serializer also revives the types its
    state declares (subgraphs included) and `extra`.

    Subgraphs compiled without a checkpointer of their own run on the one their parent
    lends them, so listing their types on the parent's covers them.
    """
    saver = getattr(graph, "checkpointer", None)
    if saver is None or not hasattr(saver, "with_allowlist"):
        return graph
    allowed = graph_allowlist(graph) | set(extra)
    # A shallow copy with another serializer: it shares the connection, the lock and
    # the ledger (`tests/test_serde.py` checks the attributes come along).
    return graph.copy(update={"checkpointer": saver.with_allowlist(allowed)})
