"""The deployment check: a graph and its configuration against a HITL checklist.

`langgraph-hitl check GRAPH` (or `check_deployment`) loads the graph, compiles it on a
throwaway SQLite file, reads its structure from the builder (nodes, edges, conditional
edges' declared destinations, `Command` destinations, gates' routes) and reports each
item as `pass`, `fail` or `unknown`, with the reason:

==========================  =================================================================
item                        passes when
==========================  =================================================================
irreversible_gated          every path from START to a node marked irreversible leaves an
                            `ApprovalGate` by its approve or modify route first
irreversible_held           an irreversible node that runs without a gate (guarded, or
                            behind a router) does so under policies that hold work with
                            validation problems for a human: each names the action in
                            `irreversible_actions` (the node's `metadata={"action": ...}`,
                            when it says which)
confidence_thresholds       a `ConfidenceRouter` (or `RiskRules.min_confidence`) is found
high_risk_escalates         each `ReviewPolicy`'s top tier (its last listed) has
                            `escalate=True`; without a policy, `RiskRules` escalate
deadlines                   every tier of every gate's policy has a deadline (or the
                            ledger's recent requests all had one)
notifier                    a webhook or a command hook is configured
sampling                    every tier that can run alone (not `escalate=True`) samples some
                            of it (`sample_rate > 0`), so metrics can see what it misses;
                            without a policy, the routing log shows samples
metrics_history             the ledger (`--db`) has routing rows in the window (30 days)
==========================  =================================================================

`unknown` means the check could not tell from what it can see, and says why; only a
`fail` makes `check` exit 1.

**Marking a node irreversible.** Either in the graph, with LangGraph's node metadata::

    builder.add_node("pay", pay, metadata={"irreversible": True})

or with a tag on the node's runnable (`"irreversible"`), or by name in this module's
registry, from the graph's module: `irreversible("pay")`. A node that guards itself with
`require_approval` (the invoice graph's `pay` does, for large amounts) may be reached
without a gate; that is checked at run time, not here. Declare it with
`metadata={"irreversible": True, "guarded": True}` or `irreversible("pay", guarded=True)`
and the item passes on your word; undeclared, a node whose code calls
`require_approval` is `unknown` rather than `fail`.

**Where policies and routers are found**: module attributes of the graph's module
(`POLICY = ReviewPolicy(...)`, `ROUTER = ConfidenceRouter(...)`), gates' `policy=`,
conditional edges whose function is a router, and each policy's `router`.

What it cannot see: `Command(goto=...)` to nodes not declared in `destinations=`,
conditional edges with no declared destinations (these make reachability `unknown`),
and nodes inside subgraphs.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeAlias

from langgraph_hitl.capture._agent_tools import agent_policies, agent_tools_item
from langgraph_hitl.capture.gates import ApprovalGate
from langgraph_hitl.capture.policy import ReviewPolicy
from langgraph_hitl.capture.routers import ConfidenceRouter, RiskRules
from langgraph_hitl.errors import ConfigurationError, HitlError
from langgraph_hitl.notify import NotifyConfig

__all__ = [
    "IRREVERSIBLE_NODES",
    "CheckItem",
    "CheckReport",
    "CheckStatus",
    "check_deployment",
    "irreversible",
]

CheckStatus: TypeAlias = Literal["pass", "fail", "unknown"]

START = "__start__"
END = "__end__"
DEFAULT_WINDOW_S = 30 * 86400.0
IRREVERSIBLE_TAGS = frozenset({"irreversible", "hitl:irreversible"})

IRREVERSIBLE_NODES: dict[str, bool] = {}
"""Node names marked irreversible by `irreversible()`, each with whether it is declared
guarded by `require_approval`. Process-wide: it applies to every graph checked here."""

_APPROVING = frozenset({"approve", "modify"})


def irreversible(*nodes: str, guarded: bool = False) -> None:
    """Mark nodes irreversible by name, for the deployment check.

    Call it from the graph's module (the check imports it). Node metadata
    (`metadata={"irreversible": True}`) does the same from inside the graph.

    Args:
        nodes: Node names.
        guarded: The nodes call `require_approval` on every run, so they may be
            reached without a gate (not verifiable statically: taken on your word).

    Example:
        >>> irreversible("pay_invoice")
        >>> IRREVERSIBLE_NODES["pay_invoice"]
        False
        >>> del IRREVERSIBLE_NODES["pay_invoice"]
    """
    for node in nodes:
        if not isinstance(node, str) or not node:
            raise ConfigurationError(f"irreversible() takes node names, got {node!r}")
        IRREVERSIBLE_NODES[node] = guarded


@dataclass(frozen=True, kw_only=True)
class CheckItem:
    """One item of the checklist and what was found.

    Example:
        >>> item = CheckItem(key="notifier", title="A notifier is configured",
        ...                  status="fail", reason="no webhook or command configured")
        >>> item.to_json()["status"]
        'fail'
    """

    key: str
    title: str
    status: CheckStatus
    reason: str
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "details": list(self.details),
        }


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """Every checklist item for one graph. `ok` is False when any item failed.

    Example:
        >>> report = check_deployment("invoice", db="hitl.sqlite")
        >>> report.ok, [(i.key, i.status) for i in report.items if i.status != "pass"]
        (False, [('notifier', 'fail')])
    """

    graph: str
    items: list[CheckItem]

    @property
    def ok(self) -> bool:
        """No item failed (unknowns do not fail)."""
        return not self.failed

    @property
    def failed(self) -> list[CheckItem]:
        return [item for item in self.items if item.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return {
            "graph": self.graph,
            "ok": self.ok,
            "counts": statuses(self.items),
            "items": [item.to_json() for item in self.items],
        }


# -- reading the graph -----------------------------------------------------------------


def _unwrap(runnable: Any) -> Any:
    """The object under LangGraph's and LangChain's runnable wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        inner = getattr(runnable, "bound", None)  # RunnableBinding (with_config)
        if inner is None and type(runnable).__name__ in ("RunnableCallable", "RunnableLambda"):
            inner = getattr(runnable, "func", None) or getattr(runnable, "afunc", None)
        if inner is None and isinstance(runnable, functools.partial):
            inner = runnable.func
        if inner is None:
            inner = getattr(runnable, "__wrapped__", None)
        if inner is None:
            return runnable
        runnable = inner
    return runnable


def _tags(runnable: Any) -> set[str]:
    found: set[str] = set()
    seen = 0
    while runnable is not None and seen < 8:
        seen += 1
        config = getattr(runnable, "config", None)
        if isinstance(config, dict):
            found.update(str(t) for t in config.get("tags") or ())
        found.update(str(t) for t in getattr(runnable, "tags", None) or ())
        runnable = getattr(runnable, "bound", None)
    return found


def _calls_require_approval(obj: Any) -> bool:
    call = type(obj).__dict__.get("__call__")
    code = getattr(obj, "__code__", None) or getattr(call, "__code__", None)
    return code is not None and "require_approval" in code.co_names


@dataclass(kw_only=True)
class _Node:
    name: str
    obj: Any
    gate: ApprovalGate | None
    irreversible: bool
    guarded: bool
    calls_require_approval: bool
    subgraph: bool
    action: str | None = None
    """The action the node performs, as its `metadata={"action": ...}` names it."""


@dataclass(kw_only=True)
class _Structure:
    nodes: dict[str, _Node]
    out: dict[str, set[tuple[str, bool]]]
    """node -> {(next node, leaving by a gate's approve or modify route)}"""
    open: dict[str, str]
    """Nodes whose destinations are not declared -> why."""
    branch_objects: list[tuple[str, Any]]


def _structure(builder: Any) -> _Structure:
    nodes: dict[str, _Node] = {}
    out: dict[str, set[tuple[str, bool]]] = {}
    open_: dict[str, str] = {}
    branch_objects: list[tuple[str, Any]] = []

    def edge(src: str, dst: str, approving: bool = False) -> None:
        out.setdefault(src, set()).add((dst, approving))

    for name, spec in builder.nodes.items():
        obj = _unwrap(spec.runnable)
        metadata = spec.metadata or {}
        marked = bool(metadata.get("irreversible")) or bool(
            _tags(spec.runnable) & IRREVERSIBLE_TAGS
        )
        nodes[name] = _Node(
            name=name,
            obj=obj,
            gate=obj if isinstance(obj, ApprovalGate) else None,
            irreversible=marked or name in IRREVERSIBLE_NODES,
            guarded=bool(metadata.get("guarded")) or IRREVERSIBLE_NODES.get(name, False),
            calls_require_approval=_calls_require_approval(obj),
            subgraph=hasattr(obj, "get_graph") and hasattr(obj, "builder"),
            action=metadata.get("action") if isinstance(metadata.get("action"), str) else None,
        )
    for src, dst in builder.edges:
        edge(src, dst)
    for sources, dst in builder.waiting_edges:
        for src in sources:
            edge(src, dst)
    for src, branches in builder.branches.items():
        for name, branch in branches.items():
            branch_objects.append((f"the conditional edge from {src}", _unwrap(branch.path)))
            if branch.ends is None:
                open_[src] = (
                    f"the conditional edge {name!r} from {src} declares no destinations"
                    " (annotate its return type with Literal[...] or pass a path map)"
                )
                continue
            for dst in branch.ends.values():
                edge(src, dst)
    for name, spec in builder.nodes.items():
        node = nodes[name]
        if spec.error_handler_node:
            edge(name, spec.error_handler_node)
        if node.gate is not None:
            for decision, dst in node.gate.routes.items():
                edge(name, dst, approving=decision in _APPROVING)
            continue
        ends = spec.ends or ()
        for dst in ends.values() if isinstance(ends, dict) else ends:
            edge(name, dst)
        if not out.get(name) and name not in open_:
            open_[name] = (
                f"{name} has no declared way out: if it returns Command(goto=...), pass"
                " destinations= to add_node"
            )
    return _Structure(nodes=nodes, out=out, open=open_, branch_objects=branch_objects)


def _reach(graph: _Structure) -> dict[tuple[str, bool], tuple[str, bool] | None]:
    """Every (node, passed an approving gate route) reachable from START, with a parent."""
    parent: dict[tuple[str, bool], tuple[str, bool] | None] = {(START, False): None}
    queue = deque([(START, False)])
    while queue:
        here = queue.popleft()
        node, gated = here
        for dst, approving in sorted(graph.out.get(node, ())):
            step = (dst, gated or approving)
            if step not in parent:
                parent[step] = here
                queue.append(step)
    return parent


def _path(parent: dict[tuple[str, bool], tuple[str, bool] | None], end: tuple[str, bool]) -> str:
    names: list[str] = []
    at: tuple[str, bool] | None = end
    while at is not None:
        names.append(at[0])
        at = parent[at]
    return " → ".join("START" if n == START else n for n in reversed(names))


def _irreversible_item(graph: _Structure) -> CheckItem:
    title = "Irreversible nodes are reachable only through a gate"
    marked = [n for n in graph.nodes.values() if n.irreversible]
    subgraphs = sorted(n.name for n in graph.nodes.values() if n.subgraph)
    if not marked:
        return CheckItem(
            key="irreversible_gated",
            title=title,
            status="unknown",
            reason="no node is marked irreversible: add_node(..., metadata={'irreversible':"
            " True}) or checklist.irreversible('node')",
            details=[f"subgraph {s} is not inspected" for s in subgraphs],
        )
    parent = _reach(graph)
    open_ungated = sorted(n for (n, gated) in parent if not gated and n in graph.open)
    results: list[tuple[CheckStatus, str]] = []
    for node in sorted(marked, key=lambda n: n.name):
        name = node.name
        ungated = (name, False) in parent
        if ungated or open_ungated:
            how = _path(parent, (name, False)) if ungated else graph.open[open_ungated[0]]
            if node.guarded:
                results.append(
                    (
                        "pass",
                        f"{name} is reachable without a gate ({how}) but is declared guarded"
                        " by require_approval",
                    )
                )
            elif node.calls_require_approval:
                results.append(
                    (
                        "unknown",
                        f"{name} is reachable without a gate ({how}); it calls"
                        " require_approval, which is checked at run time, not here (declare"
                        " guarded=True if it always does)",
                    )
                )
            elif ungated:
                results.append(("fail", f"{name} is reachable without a gate: {how}"))
            else:
                results.append(("unknown", f"{name} may be reachable without a gate: {how}"))
        elif (name, True) in parent:
            gates = sorted(n.name for n in graph.nodes.values() if n.gate is not None)
            results.append(
                (
                    "pass",
                    f"{name}: every path from START leaves a gate ({', '.join(gates)}) by"
                    " approve or modify first",
                )
            )
        else:
            results.append(("pass", f"{name} is not reachable from START"))
    statuses = {status for status, _ in results}
    status: CheckStatus = (
        "fail" if "fail" in statuses else "unknown" if "unknown" in statuses else "pass"
    )
    if status == "pass" and subgraphs:
        status = "unknown"
        results.append(("unknown", f"subgraphs are not inspected: {', '.join(subgraphs)}"))
    reason = "; ".join(text for s, text in results if s == status)
    return CheckItem(
        key="irreversible_gated",
        title=title,
        status=status,
        reason=reason,
        details=[f"{s}: {text}" for s, text in results],
    )


def _held_item(graph: _Structure | None, found: _Found) -> CheckItem:
    """Irreversible work that may run before a human looks is held when it has problems."""
    key, title = "irreversible_held", "Irreversible work with validation problems waits for a human"
    if graph is None:
        return CheckItem(
            key=key, title=title, status="unknown", reason="the graph's structure cannot be read"
        )
    marked = sorted((n for n in graph.nodes.values() if n.irreversible), key=lambda n: n.name)
    if not marked:
        return CheckItem(
            key=key, title=title, status="unknown", reason="no node is marked irreversible"
        )
    parent = _reach(graph)
    alone = [n for n in marked if (n.name, False) in parent]
    if not alone:
        names = ", ".join(n.name for n in marked)
        return CheckItem(
            key=key,
            title=title,
            status="pass",
            reason=f"{names} runs only after a gate's approve or modify: a human sees it first",
        )
    if not found.policies:
        return CheckItem(
            key=key,
            title=title,
            status="unknown",
            reason=f"{', '.join(n.name for n in alone)} runs without a gate, and no ReviewPolicy"
            " was found to say what holds work with validation problems",
        )
    bad: list[str] = []
    good: list[str] = []
    for where, policy in found.policies:
        held = sorted(policy.irreversible_actions)
        for node in alone:
            how = _path(parent, (node.name, False))
            if not held:
                bad.append(
                    f"{where} names no irreversible_actions, yet {node.name} runs without a gate"
                    f" ({how}): work with validation problems could run before anyone looks"
                )
            elif node.action is not None and node.action not in held:
                bad.append(
                    f"{where}.irreversible_actions {held} leaves out {node.action!r}, the"
                    f" action {node.name} performs without a gate ({how})"
                )
            else:
                good.append(
                    f"{where} holds {', '.join(held)} with validation problems for a human"
                    f" ({node.name} runs without a gate: {how})"
                )
    if bad:
        return CheckItem(
            key=key, title=title, status="fail", reason="; ".join(bad), details=bad + good
        )
    return CheckItem(key=key, title=title, status="pass", reason="; ".join(good), details=good)


# -- policies, routers, rules -----------------------------------------------------------


@dataclass(kw_only=True)
class _Found:
    gates: dict[str, ApprovalGate] = field(default_factory=dict)
    policies: list[tuple[str, ReviewPolicy]] = field(default_factory=list)
    routers: list[tuple[str, ConfidenceRouter]] = field(default_factory=list)
    rules: list[tuple[str, RiskRules]] = field(default_factory=list)

    def add(self, where: str, obj: Any) -> None:
        if isinstance(obj, ReviewPolicy):
            if all(p is not obj for _, p in self.policies):
                self.policies.append((where, obj))
            if obj.router is not None:
                self.add(f"{where}.router", obj.router)
        elif isinstance(obj, ConfidenceRouter):
            if all(r is not obj for _, r in self.routers):
                self.routers.append((where, obj))
            if obj.rules is not None:
                self.add(f"{where}.rules", obj.rules)
        elif isinstance(obj, RiskRules) and all(r is not obj for _, r in self.rules):
            self.rules.append((where, obj))


def _find(graph: _Structure | None, module: ModuleType | None) -> _Found:
    found = _Found()
    # The module's names first: `POLICY` reads better than "gate approve_payment".
    for attr, value in sorted(vars(module).items()) if module is not None else ():
        found.add(attr, value)
    if graph is not None:
        for node in graph.nodes.values():
            if node.gate is not None:
                found.gates[node.name] = node.gate
                if node.gate.policy is not None:
                    found.add(f"gate {node.name}", node.gate.policy)
        for where, obj in graph.branch_objects:
            found.add(where, obj)
    return found


def _rules_on(rules: RiskRules) -> list[str]:
    on = []
    if rules.max_amount is not None:
        on.append(f"{rules.amount_key} over {rules.max_amount:,.2f}")
    if rules.irreversible_actions:
        on.append(f"actions {', '.join(sorted(rules.irreversible_actions))}")
    if rules.min_sentiment is not None:
        on.append(f"sentiment under {rules.min_sentiment:g}")
    if rules.regulated_domains:
        on.append(f"domains {', '.join(sorted(rules.regulated_domains))}")
    if rules.extra:
        on.append(f"{len(rules.extra)} custom rule(s)")
    return on


def _thresholds_item(found: _Found) -> CheckItem:
    title = "Confidence thresholds are set"
    details = [
        f"{where}: autonomous at >= {r.autonomous_at:g}, review at >= {r.review_at:g}"
        for where, r in found.routers
    ]
    details += [
        f"{where}: escalate under {r.min_confidence:g} confidence"
        for where, r in found.rules
        if r.min_confidence is not None
    ]
    degenerate = [
        f"{where}: review_at=0, so no confidence is low enough to ask a human"
        for where, r in found.routers
        if r.review_at <= 0.0
    ]
    if degenerate:
        status: CheckStatus = "fail"
        reason = "; ".join(degenerate)
    elif details:
        status, reason = "pass", "; ".join(details)
    else:
        status = "fail"
        reason = (
            "no ConfidenceRouter found (looked at the graph module's attributes, gates'"
            " policies and conditional edges)"
        )
    return CheckItem(
        key="confidence_thresholds", title=title, status=status, reason=reason, details=details
    )


def _escalation_item(found: _Found) -> CheckItem:
    title = "High-risk actions always escalate"
    details: list[str] = []
    bad: list[str] = []
    for where, policy in found.policies:
        top = list(policy.tiers.values())[-1]
        line = f"{where}: top tier {top.name!r} (listed last)"
        if top.escalate:
            details.append(f"{line} always escalates")
        else:
            bad.append(f"{line} does not set escalate=True")
    for where, rules in found.rules:
        if on := _rules_on(rules):
            details.append(f"{where}: escalate regardless of confidence on {'; '.join(on)}")
    if bad:
        return CheckItem(
            key="high_risk_escalates",
            title=title,
            status="fail",
            reason="; ".join(bad),
            details=bad + details,
        )
    if details:
        return CheckItem(
            key="high_risk_escalates",
            title=title,
            status="pass",
            reason="; ".join(details),
            details=details,
        )
    return CheckItem(
        key="high_risk_escalates",
        title=title,
        status="fail",
        reason="nothing escalates regardless of confidence: no ReviewPolicy with an escalating"
        " top tier and no RiskRules found",
    )


# -- the ledger's evidence --------------------------------------------------------------


@dataclass(kw_only=True)
class _Evidence:
    db: str | None
    problem: str | None = None
    routes: int = 0
    sampled: int = 0
    escalated: int = 0
    requests: int = 0
    without_deadline: int = 0
    roles: dict[str, int] = field(default_factory=dict)
    """Registered reviewers per role."""


def _evidence(db: str | Path | None, since: float) -> _Evidence:
    if db is None or not Path(db).is_file():
        return _Evidence(db=None if db is None else str(db), problem="no database")
    from langgraph_hitl.ledger import connect, table_names

    try:
        conn = connect(db, create=False)
    except HitlError as error:
        return _Evidence(db=str(db), problem=str(error))
    try:
        tables = table_names(conn)
        found = _Evidence(db=str(db))
        if "hitl_routes" not in tables:
            found.problem = "no routing log (hitl_routes) in the database"
            return found
        found.routes, found.sampled, found.escalated = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(sampled), 0),"
            " COALESCE(SUM(outcome = 'escalated'), 0) FROM hitl_routes WHERE created_at >= ?",
            (since,),
        ).fetchone()
        if "hitl_reviewers" in tables:
            found.roles = dict(
                conn.execute("SELECT role, COUNT(*) FROM hitl_reviewers GROUP BY role")
            )
        if "hitl_requests" in tables:
            found.requests, found.without_deadline = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(deadline IS NULL), 0) FROM hitl_requests"
                " WHERE created_at >= ?",
                (since,),
            ).fetchone()
        return found
    except sqlite3.DatabaseError as error:
        return _Evidence(db=str(db), problem=f"cannot read the database: {error}")
    finally:
        conn.close()


def _days(window: float) -> str:
    return f"{window / 86400:g} days"


def _deadlines_item(found: _Found, evidence: _Evidence, window: float) -> CheckItem:
    title = "Requests have deadlines"
    details: list[str] = []
    missing = False
    policies = (
        [(f"gate {name}", gate.policy) for name, gate in sorted(found.gates.items())]
        if found.gates
        else found.policies
    )
    for where, policy in policies:
        if policy is None:
            details.append(f"{where} has no policy")
            missing = True
            continue
        lacking = [t.name for t in policy.tiers.values() if t.deadline is None]
        if lacking:
            missing = True
            details.append(f"{where}: tiers without a deadline: {', '.join(lacking)}")
        else:
            details.append(f"{where}: every tier has a deadline")
    if evidence.requests:
        if evidence.without_deadline:
            line = (
                f"{evidence.without_deadline} of {evidence.requests} requests in the last"
                f" {_days(window)} had no deadline"
            )
            return CheckItem(
                key="deadlines", title=title, status="fail", reason=line, details=[*details, line]
            )
        line = f"all {evidence.requests} requests in the last {_days(window)} had a deadline"
        if missing:
            details.append(line)
            return CheckItem(
                key="deadlines", title=title, status="pass", reason=line, details=details
            )
    if not policies:
        return CheckItem(
            key="deadlines",
            title=title,
            status="unknown",
            reason="no gate or ReviewPolicy found, and no recent requests in the ledger",
            details=details,
        )
    if missing:
        return CheckItem(
            key="deadlines",
            title=title,
            status="unknown",
            reason="; ".join(d for d in details if "every tier" not in d)
            + ": their requests have a deadline only if the gate's request sets one"
            " (give --db to check recent requests)",
            details=details,
        )
    return CheckItem(
        key="deadlines", title=title, status="pass", reason="; ".join(details), details=details
    )


def _notifier_item(notify: NotifyConfig | None, problem: str | None) -> CheckItem:
    title = "A notifier is configured"
    if problem is not None:
        return CheckItem(key="notifier", title=title, status="fail", reason=problem)
    if notify is None or not notify.configured:
        return CheckItem(
            key="notifier",
            title=title,
            status="fail",
            reason="no webhook or command hook configured ([notify] in hitl.toml, or"
            " $LANGGRAPH_HITL_WEBHOOK_URL)",
        )
    parts = notify.describe()
    kinds = ", ".join(notify.kinds)
    return CheckItem(
        key="notifier",
        title=title,
        status="pass",
        reason="; ".join(parts) + f" (events: {kinds})",
        details=parts,
    )


def _sampling_item(found: _Found, evidence: _Evidence, window: float) -> CheckItem:
    title = "Lower-risk work is sampled for review"
    details = [
        f"{where}: tier {t.name!r} samples {t.sample_rate:.0%}"
        for where, policy in found.policies
        for t in policy.tiers.values()
        if t.sample_rate > 0
    ]
    # A tier that runs alone and is never sampled is a stratum metrics cannot see into.
    unseen = [
        f"{where}: tier {t.name!r} runs alone and is never sampled: what it lets through is"
        " invisible to metrics (recall is then a bound)"
        for where, policy in found.policies
        for t in policy.tiers.values()
        if not t.escalate and t.sample_rate <= 0
    ]
    if unseen and details:
        return CheckItem(
            key="sampling",
            title=title,
            status="fail",
            reason="; ".join(unseen),
            details=unseen + details,
        )
    if details:
        return CheckItem(
            key="sampling", title=title, status="pass", reason="; ".join(details), details=details
        )
    if evidence.sampled:
        line = f"{evidence.sampled} pieces of work sampled in the last {_days(window)}"
        return CheckItem(key="sampling", title=title, status="pass", reason=line, details=[line])
    if found.policies:
        names = ", ".join(where for where, _ in found.policies)
        return CheckItem(
            key="sampling",
            title=title,
            status="fail",
            reason=f"no tier of {names} has sample_rate > 0: autonomous work is never reviewed",
        )
    return CheckItem(
        key="sampling",
        title=title,
        status="unknown",
        reason="no ReviewPolicy found (sampling is a tier's sample_rate), and the routing log"
        " shows no samples",
    )


def _reviewers_item(found: _Found, evidence: _Evidence) -> CheckItem:
    title = "Every review role has a registered reviewer"
    needed: dict[str, int] = {}
    for _, policy in found.policies:
        for tier in policy.tiers.values():
            if tier.role is not None:
                needed[tier.role] = max(needed.get(tier.role, 0), tier.quorum)
    if not needed:
        return CheckItem(
            key="reviewers",
            title=title,
            status="unknown",
            reason="no ReviewPolicy with tier roles found: nothing says who may decide what",
        )
    if evidence.db is None or evidence.problem == "no database":
        return CheckItem(
            key="reviewers",
            title=title,
            status="unknown",
            reason="no ledger database: pass --db to check the registered reviewers",
        )
    if not evidence.roles:
        return CheckItem(
            key="reviewers",
            title=title,
            status="fail",
            reason="no reviewers are registered, so roles are not enforced: anyone may decide"
            " (`langgraph-hitl reviewers add NAME --role ROLE`)",
        )
    # A role may decide its tier and every tier below: count reviewers at or above it.
    order = next((policy.roles for _, policy in found.policies if policy.roles), [])
    short = []
    for role, quorum in sorted(needed.items()):
        above = order[order.index(role) :] if role in order else [role]
        have = sum(evidence.roles.get(r, 0) for r in above)
        if have < quorum:
            short.append(f"{role}: {have} reviewer(s) at or above it, tiers need {quorum}")
    if short:
        return CheckItem(
            key="reviewers", title=title, status="fail", reason="; ".join(short), details=short
        )
    line = ", ".join(f"{role} {count}" for role, count in sorted(evidence.roles.items()))
    return CheckItem(key="reviewers", title=title, status="pass", reason=f"registered: {line}")


def _metrics_item(evidence: _Evidence, window: float) -> CheckItem:
    title = "Metrics have a history"
    if evidence.db is None or evidence.problem == "no database":
        where = f" at {evidence.db}" if evidence.db else ""
        return CheckItem(
            key="metrics_history",
            title=title,
            status="unknown",
            reason=f"no ledger database{where}: pass --db to check the routing history",
        )
    if evidence.problem is not None:
        return CheckItem(key="metrics_history", title=title, status="fail", reason=evidence.problem)
    if not evidence.routes:
        return CheckItem(
            key="metrics_history",
            title=title,
            status="fail",
            reason=f"no routing outcomes in the last {_days(window)} in {evidence.db}: record"
            " them with record_route, or the graph has not run",
        )
    share = evidence.escalated / evidence.routes
    return CheckItem(
        key="metrics_history",
        title=title,
        status="pass",
        reason=f"{evidence.routes} routing outcomes in the last {_days(window)}"
        f" ({share:.0%} escalated)",
    )


# -- loading ---------------------------------------------------------------------------


def _module_of(ref: str, base: Path) -> ModuleType | None:
    """The module a reference's attribute lives in (already imported by `load_target`)."""
    from langgraph_hitl.deciding import _loader

    module: ModuleType = _loader.module_of(ref, base)
    return module


@contextmanager
def _builder(target: Any) -> Iterator[tuple[Any, Any]]:
    """The `StateGraph` behind a graph, a compiled graph or a factory, and the graph
    compiled (on a throwaway SQLite file, so a factory's own tables land there, not in
    the ledger)."""
    from langgraph.graph import StateGraph

    from langgraph_hitl.checkpointing import open_checkpointer
    from langgraph_hitl.deciding._loader import with_checkpointer

    with (
        tempfile.TemporaryDirectory(prefix="hitl-check-") as tmp,
        open_checkpointer(Path(tmp) / "check.sqlite") as saver,
    ):
        compiled = with_checkpointer(target, saver)
        builder = target if isinstance(target, StateGraph) else getattr(compiled, "builder", None)
        yield builder, compiled


def check_deployment(
    graph: str | Any,
    *,
    notify: NotifyConfig | None = None,
    notify_problem: str | None = None,
    db: str | Path | None = None,
    window: float = DEFAULT_WINDOW_S,
    base: Path | None = None,
    module: ModuleType | None = None,
    now: float | None = None,
) -> CheckReport:
    """Check a graph and its configuration against the HITL deployment checklist.

    Args:
        graph: A reference (`invoice`, `graphs/invoice.py:make_graph`,
            `package.module:attr`), or a `StateGraph`, compiled graph or factory.
        notify: The notifier configuration (None: none configured).
        notify_problem: Why the notifier configuration could not be read, if it could not.
        db: The ledger database whose routing log is the metrics history.
        window: How far back the history counts, in seconds (default 30 days).
        base: Where `langgraph.json` and relative paths are looked up (default cwd).
        module: The module holding the graph's `POLICY` and routers, when `graph` is an
            object (a reference finds it by itself).
        now: The clock, for tests.

    Raises:
        GraphNotFoundError: The reference cannot be loaded.

    Example:
        >>> check_deployment("invoice", db="hitl.sqlite").failed[0].reason
        'no webhook or command hook configured ([notify] in hitl.toml, or ...)'
        >>> hook = NotifyConfig(command=["notify-finance", "--channel", "approvals"])
        >>> check_deployment("invoice", db="hitl.sqlite", notify=hook).ok
        True
    """
    from langgraph_hitl.deciding._loader import load_target

    base = base or Path.cwd()
    name = graph if isinstance(graph, str) else type(graph).__name__
    if isinstance(graph, str):
        target = load_target(graph, base)
        module = module or _module_of(graph, base)
    else:
        target = graph
    with _builder(target) as (builder, compiled):
        structure = None if builder is None else _structure(builder)
        # A LangChain agent (`create_agent`): its tools, and the policies of its
        # ApprovalMiddleware, which the other items read like a gate's.
        agent_item = agent_tools_item(compiled)
        middleware_policies = agent_policies(compiled)
    found = _find(structure, module)
    for where, policy in middleware_policies:
        found.add(where, policy)
    since = (time.time() if now is None else now) - window
    evidence = _evidence(db, since)
    if structure is None:
        gated = CheckItem(
            key="irreversible_gated",
            title="Irreversible nodes are reachable only through a gate",
            status="unknown",
            reason=f"{name} is not built with StateGraph: its structure cannot be read",
        )
    else:
        gated = _irreversible_item(structure)
    items = [
        gated,
        _held_item(structure, found),
        _thresholds_item(found),
        _escalation_item(found),
        _deadlines_item(found, evidence, window),
        _notifier_item(notify, notify_problem),
        _sampling_item(found, evidence, window),
        _reviewers_item(found, evidence),
        _metrics_item(evidence, window),
    ]
    if agent_item is not None:
        items.insert(1, agent_item)
    return CheckReport(graph=name, items=items)


def statuses(items: Iterable[CheckItem]) -> dict[str, int]:
    """How many items have each status."""
    counts = {"pass": 0, "fail": 0, "unknown": 0}
    for item in items:
        counts[item.status] += 1
    return counts
