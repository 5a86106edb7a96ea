"""`check` on a LangChain agent: which tools can run with no review path, and what covers each.

An agent built with `create_agent` runs its tools in one `ToolNode`; the middleware that
may pause a call is either LangChain's `HumanInTheLoopMiddleware` (its `interrupt_on`)
or our `ApprovalMiddleware` (its `tools` and policy). `create_agent` keeps no list of its
middleware: each one is found where the agent holds it, the node of a hook
(`HumanInTheLoopMiddleware.after_model` runs the middleware's own bound method) or the
chain of `wrap_tool_call` handlers the `ToolNode` was built with (closures over each
middleware's bound method).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from langgraph_hitl.capture.policy import ReviewPolicy
from langgraph_hitl.capture.routers import RiskRules

_TOOLS_NODE = "tools"


def _objects(root: Any, depth: int = 0) -> Iterator[Any]:
    """What a callable holds: itself, what it wraps, its bound instance, its closures."""
    if root is None or depth > 8:
        return
    yield root
    for attr in ("__wrapped__", "__self__", "func", "afunc"):
        inner = getattr(root, attr, None)
        if inner is not None and inner is not root:
            yield from _objects(inner, depth + 1)
    for cell in getattr(root, "__closure__", None) or ():
        try:
            content = cell.cell_contents
        except ValueError:
            continue
        if isinstance(content, list | tuple):
            for item in content:
                yield from _objects(item, depth + 1)
        elif callable(content):
            yield from _objects(content, depth + 1)


def agent_parts(compiled: Any) -> tuple[dict[str, Any], list[Any]] | None:
    """An agent's tools by name and its middleware; None when it is not such an agent."""
    from langchain.agents.middleware import AgentMiddleware
    from langgraph.prebuilt import ToolNode

    nodes = getattr(compiled, "nodes", {}) or {}
    tool_node = getattr(nodes.get(_TOOLS_NODE), "bound", None)
    if not isinstance(tool_node, ToolNode):
        return None
    middleware: list[Any] = []

    def keep(obj: Any) -> None:
        if isinstance(obj, AgentMiddleware) and all(m is not obj for m in middleware):
            middleware.append(obj)

    for handler in (
        getattr(tool_node, "_wrap_tool_call", None),
        getattr(tool_node, "_awrap_tool_call", None),
    ):
        for obj in _objects(handler):
            keep(obj)
    for node in nodes.values():
        for obj in _objects(getattr(node, "bound", None)):
            keep(obj)
    return dict(tool_node.tools_by_name), middleware


def _coverage(tool: str, middleware: list[Any]) -> list[str]:
    """Each review path a tool's calls have."""
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    from langgraph_hitl.capture.agents import ApprovalMiddleware

    paths = []
    for mw in middleware:
        if isinstance(mw, HumanInTheLoopMiddleware) and tool in mw.interrupt_on:
            config = mw.interrupt_on[tool]
            when = ", when its `when` says so" if config.get("when") else ""
            allowed = "/".join(config["allowed_decisions"])
            paths.append(f"HumanInTheLoopMiddleware ({mw.interrupt_mode}, {allowed}{when})")
        elif isinstance(mw, ApprovalMiddleware) and mw.reviews(tool):
            tiers = ", ".join(
                f"{t.name}{' (always a human)' if t.escalate else ''}"
                for t in mw.policy.tiers.values()
            )
            paths.append(f"ApprovalMiddleware (policy tiers: {tiers})")
    return paths


def _irreversible(tools: dict[str, Any], policies: list[ReviewPolicy]) -> set[str]:
    """Tools marked irreversible: `irreversible(name)`, tool metadata, or a policy's rules."""
    from langgraph_hitl.insight.checklist import IRREVERSIBLE_NODES

    marked = {name for name in tools if name in IRREVERSIBLE_NODES}
    for name, tool in tools.items():
        metadata = getattr(tool, "metadata", None) or {}
        if metadata.get("irreversible") or metadata.get("hitl:irreversible"):
            marked.add(name)
    for policy in policies:
        rules = policy.router.rules if policy.router is not None else None
        if isinstance(rules, RiskRules):
            marked |= set(rules.irreversible_actions) & set(tools)
    return marked


def agent_policies(compiled: Any) -> list[tuple[str, ReviewPolicy]]:
    """The review policies of an agent's `ApprovalMiddleware`s, named for the checklist."""
    from langgraph_hitl.capture.agents import ApprovalMiddleware

    parts = agent_parts(compiled)
    if parts is None:
        return []
    return [
        (f"middleware {mw.name}", mw.policy)
        for mw in parts[1]
        if isinstance(mw, ApprovalMiddleware)
    ]


def agent_tools_item(compiled: Any) -> Any:
    """The checklist item for an agent's tools, or None when `compiled` is not an agent.

    Fails when a tool marked irreversible (`irreversible("issue_refund")`, tool metadata
    `{"irreversible": True}`, or a policy's `RiskRules(irreversible_actions=...)`) can run
    with no review path; lists every tool with what covers it, or that it runs alone.
    """
    from langgraph_hitl.insight.checklist import CheckItem

    parts = agent_parts(compiled)
    if parts is None:
        return None
    tools, middleware = parts
    policies = [policy for _, policy in agent_policies(compiled)]
    marked = _irreversible(tools, policies)
    details = []
    exposed = []
    for name in sorted(tools):
        paths = _coverage(name, middleware)
        tag = " [irreversible]" if name in marked else ""
        if paths:
            details.append(f"{name}{tag}: reviewed by " + "; ".join(paths))
        else:
            details.append(f"{name}{tag}: runs with no review path")
            if name in marked:
                exposed.append(name)
    alone = [name for name in sorted(tools) if not _coverage(name, middleware)]
    status: Literal["pass", "fail"] = "fail" if exposed else "pass"
    if exposed:
        reason = f"irreversible tools run with no review path: {', '.join(exposed)}"
    else:
        reviewed = len(tools) - len(alone)
        reason = f"{reviewed} of {len(tools)} tools reviewed"
        reason += f"; runs alone: {', '.join(alone)}" if alone else ""
    return CheckItem(
        key="agent_tools",
        title="An agent's irreversible tools have a review path",
        status=status,
        reason=reason,
        details=details,
    )
