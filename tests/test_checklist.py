"""The deployment check: graphs walked for ungated irreversible nodes, policies read for
thresholds, escalation, deadlines and sampling, the ledger for a metrics history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from processes import track

from langgraph_hitl import ApprovalGate, ConfidenceRouter, RiskRules, require_approval
from langgraph_hitl.capture.policy import ReviewPolicy, Tier
from langgraph_hitl.errors import GraphNotFoundError
from langgraph_hitl.insight.checklist import (
    IRREVERSIBLE_NODES,
    CheckReport,
    check_deployment,
    irreversible,
)
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.notify import NotifyConfig

REPO = Path(__file__).resolve().parent.parent
UNGATED = "tests/graphs/check_ungated.py:graph"
GATED = "tests/graphs/check_gated.py:make_graph"
WEBHOOK = NotifyConfig(webhook_url="https://hooks.example.com/hitl")


class State(TypedDict, total=False):
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None


def request(state: State) -> dict[str, Any]:
    return {"action": {"name": "pay", "args": {"amount": state.get("amount")}}, "summary": "Pay"}


def noop(state: State) -> dict[str, Any]:
    return {}


def status(report: CheckReport, key: str) -> tuple[str, str]:
    [item] = [i for i in report.items if i.key == key]
    return item.status, item.reason


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    # Start empty: collecting doctests imports tests/graphs/check_gated.py, which marks
    # `pay` in this process-wide registry before any test runs.
    before = dict(IRREVERSIBLE_NODES)
    IRREVERSIBLE_NODES.clear()
    yield
    IRREVERSIBLE_NODES.clear()
    IRREVERSIBLE_NODES.update(before)


def builder(
    *,
    on_reject: str = "refuse",
    pay_metadata: dict[str, Any] | None = None,
    direct: bool = False,
    pay: Any = noop,
) -> StateGraph[Any]:
    """START -> score -(escalate)-> approve_pay -> pay | refuse; `direct` adds score -> pay."""

    def route(state: State) -> Literal["approve_pay", "pay"]:
        return "approve_pay"

    def gate_only(state: State) -> Literal["approve_pay"]:
        return "approve_pay"

    gate = ApprovalGate(request, on_approve="pay", on_reject=on_reject)
    graph = StateGraph(State)
    graph.add_node("score", noop)
    graph.add_node("approve_pay", gate, destinations=gate.destinations)
    graph.add_node("pay", pay, metadata=pay_metadata)
    graph.add_node("refuse", noop)
    graph.add_edge(START, "score")
    graph.add_conditional_edges("score", route if direct else gate_only)
    graph.add_edge("pay", END)
    graph.add_edge("refuse", END)
    return graph


# -- irreversible nodes -----------------------------------------------------------------------


def test_an_ungated_irreversible_node_fails_and_is_named() -> None:
    report = check_deployment(UNGATED, notify=WEBHOOK, base=REPO)
    assert not report.ok
    state, reason = status(report, "irreversible_gated")
    assert state == "fail"
    assert reason == "pay is reachable without a gate: START → score → pay"
    assert [i.key for i in report.failed] == ["irreversible_gated"]


def test_a_properly_gated_graph_passes(tmp_path: Path) -> None:
    report = check_deployment(GATED, notify=WEBHOOK, db=tmp_path / "none.sqlite", base=REPO)
    assert report.ok, report.to_json()
    got = {item.key: item.status for item in report.items}
    assert got == {
        "irreversible_gated": "pass",
        "irreversible_held": "pass",
        "confidence_thresholds": "pass",
        "high_risk_escalates": "pass",
        "deadlines": "pass",
        "notifier": "pass",
        "sampling": "pass",
        "reviewers": "unknown",
        "metrics_history": "unknown",
    }
    assert "approve_pay" in status(report, "irreversible_gated")[1]
    assert (
        "POLICY.router: autonomous at >= 0.9, review at >= 0.6"
        in status(report, "confidence_thresholds")[1]
    )
    assert "tier 'low' samples 10%" in status(report, "sampling")[1]


def test_a_reject_route_into_the_irreversible_node_is_not_a_gate() -> None:
    graph = builder(on_reject="pay", pay_metadata={"irreversible": True})
    state, reason = status(check_deployment(graph), "irreversible_gated")
    assert (state, reason) == (
        "fail",
        "pay is reachable without a gate: START → score → approve_pay → pay",
    )


def test_marks_by_metadata_tag_and_registry() -> None:
    assert status(check_deployment(builder(direct=True)), "irreversible_gated")[0] == "unknown"
    assert (
        "no node is marked"
        in status(check_deployment(builder(direct=True)), "irreversible_gated")[1]
    )

    tagged = builder(direct=True, pay=RunnableLambda(noop).with_config(tags=["irreversible"]))
    assert status(check_deployment(tagged), "irreversible_gated")[0] == "fail"

    irreversible("pay")
    assert status(check_deployment(builder(direct=True)), "irreversible_gated")[0] == "fail"
    assert status(check_deployment(builder()), "irreversible_gated")[0] == "pass"


def test_require_approval_is_unknown_unless_declared() -> None:
    def guarded_pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        require_approval(None, config, {"name": "pay", "args": {}})  # type: ignore[arg-type]
        return {}

    calls = builder(direct=True, pay=guarded_pay, pay_metadata={"irreversible": True})
    state, reason = status(check_deployment(calls), "irreversible_gated")
    assert state == "unknown" and "calls require_approval" in reason

    declared = builder(direct=True, pay_metadata={"irreversible": True, "guarded": True})
    state, reason = status(check_deployment(declared), "irreversible_gated")
    assert state == "pass" and "declared guarded" in reason

    irreversible("pay", guarded=True)
    assert status(check_deployment(builder(direct=True)), "irreversible_gated")[0] == "pass"


def test_undeclared_destinations_make_reachability_unknown() -> None:
    def route(state: State) -> str:  # no Literal: LangGraph cannot tell where it goes
        return "approve_pay"

    gate = ApprovalGate(request, on_approve="pay", on_reject="refuse")
    graph = StateGraph(State)
    graph.add_node("score", noop)
    graph.add_node("approve_pay", gate)  # no destinations=: the gate's routes are read
    graph.add_node("pay", noop, metadata={"irreversible": True})
    graph.add_node("refuse", noop)
    graph.add_edge(START, "score")
    graph.add_conditional_edges("score", route)
    graph.add_edge("pay", END)
    graph.add_edge("refuse", END)
    state, reason = status(check_deployment(graph), "irreversible_gated")
    assert state == "unknown"
    assert "conditional edge 'route' from score declares no destinations" in reason

    graph.branches.clear()
    graph.add_conditional_edges("score", route, ["approve_pay"])  # a path map declares them
    assert status(check_deployment(graph), "irreversible_gated")[0] == "pass"


# -- policies and routers -----------------------------------------------------------------------


def module_with(**attrs: Any) -> ModuleType:
    module = ModuleType("graph_module")
    for name, value in attrs.items():
        setattr(module, name, value)
    return module


def test_policy_items_fail_with_the_reason() -> None:
    policy = ReviewPolicy(
        tiers=[Tier(name="low"), Tier(name="high", deadline=8 * 3600)],
        router=ConfidenceRouter(review_at=0.0, autonomous_at=0.5),
    )
    report = check_deployment(builder(), module=module_with(POLICY=policy))
    assert status(report, "confidence_thresholds") == (
        "fail",
        "POLICY.router: review_at=0, so no confidence is low enough to ask a human",
    )
    assert status(report, "high_risk_escalates") == (
        "fail",
        "POLICY: top tier 'high' (listed last) does not set escalate=True",
    )
    assert status(report, "sampling")[0] == "fail"
    assert status(report, "deadlines")[0] == "unknown"  # the gate has no policy
    assert status(report, "notifier")[0] == "fail"


def test_nothing_found_fails_thresholds_and_escalation() -> None:
    report = check_deployment(builder())
    assert status(report, "confidence_thresholds")[0] == "fail"
    assert "no ConfidenceRouter found" in status(report, "confidence_thresholds")[1]
    assert status(report, "high_risk_escalates")[0] == "fail"
    assert status(report, "sampling")[0] == "unknown"
    assert status(report, "metrics_history")[0] == "unknown"


def test_risk_rules_and_a_router_on_an_edge_count() -> None:
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000, regulated_domains={"legal"}))
    graph = StateGraph(State)
    graph.add_node("score", noop)
    graph.add_node("pay", noop)
    graph.add_edge(START, "score")
    graph.add_conditional_edges(
        "score", router, {"autonomous": "pay", "review": "pay", "escalate": END}
    )
    graph.add_edge("pay", END)
    report = check_deployment(graph)
    assert status(report, "confidence_thresholds")[0] == "pass"
    state, reason = status(report, "high_risk_escalates")
    assert state == "pass" and "amount over 10,000.00" in reason and "legal" in reason


def test_irreversible_work_run_without_a_gate_needs_a_policy_that_holds_problems() -> None:
    """A guarded `pay` that runs alone for clean work: only a policy naming its action in
    `irreversible_actions` keeps flagged work from running before anyone looks."""
    marks = {"irreversible": True, "guarded": True, "action": "pay_invoice"}
    graph = builder(direct=True, pay_metadata=marks)
    tiers = [Tier(name="low", sample_rate=0.1), Tier(name="high", escalate=True)]

    def held(**kwargs: Any) -> tuple[str, str]:
        module = module_with(POLICY=ReviewPolicy(tiers=tiers, **kwargs))
        return status(check_deployment(graph, module=module), "irreversible_held")

    state, reason = held()
    assert state == "fail"
    assert reason == (
        "POLICY names no irreversible_actions, yet pay runs without a gate (START → score →"
        " pay): work with validation problems could run before anyone looks"
    )
    state, reason = held(irreversible_actions=["refund"])
    assert state == "fail" and "leaves out 'pay_invoice', the action pay performs" in reason
    state, reason = held(irreversible_actions=["pay_invoice"])
    assert state == "pass" and "POLICY holds pay_invoice with validation problems" in reason
    # No policy at all: nothing says what holds flagged work.
    assert status(check_deployment(graph), "irreversible_held")[0] == "unknown"
    # Behind a gate only: a human sees every payment first, whatever the policy.
    gated = builder(pay_metadata={"irreversible": True})
    assert status(check_deployment(gated), "irreversible_held")[0] == "pass"


def test_every_tier_that_runs_alone_is_sampled() -> None:
    """A tier never sampled is work whose misses metrics cannot see."""
    tiers = [
        Tier(name="low"),
        Tier(name="medium", sample_rate=0.2),
        Tier(name="high", escalate=True),
    ]
    report = check_deployment(builder(), module=module_with(POLICY=ReviewPolicy(tiers=tiers)))
    state, reason = status(report, "sampling")
    assert state == "fail"
    assert reason == (
        "POLICY: tier 'low' runs alone and is never sampled: what it lets through is invisible"
        " to metrics (recall is then a bound)"
    )
    tiers[0] = Tier(name="low", sample_rate=0.05)
    report = check_deployment(builder(), module=module_with(POLICY=ReviewPolicy(tiers=tiers)))
    assert status(report, "sampling")[0] == "pass"


# -- the ledger's evidence -------------------------------------------------------------------------


def test_metrics_history_and_deadlines_from_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with ReviewLedger.open(db, create=True) as ledger:
        empty = check_deployment(builder(), db=db)
        assert status(empty, "metrics_history")[0] == "fail"
        for n in range(4):
            outcome = "escalated" if n == 0 else "sampled" if n == 1 else "autonomous"
            ledger.record_route(
                thread_id=f"INV-{n}",
                routing={"outcome": outcome, "sampled": outcome == "sampled", "reasons": []},
            )
        from langgraph_hitl.models import REQUEST_KIND, ApprovalRequest

        req = ApprovalRequest.model_validate(
            {"action": {"name": "pay", "args": {}}, "summary": "Pay INV-0"}
        )
        ledger.record_request(
            thread_id="INV-0",
            interrupt_id="i" * 32,
            payload={"kind": REQUEST_KIND, "request": req.to_wire()},
        )
    report = check_deployment(builder(), db=db)
    assert status(report, "metrics_history") == (
        "pass",
        "4 routing outcomes in the last 30 days (25% escalated)",
    )
    assert status(report, "sampling") == ("pass", "1 pieces of work sampled in the last 30 days")
    assert status(report, "deadlines") == (
        "fail",
        "1 of 1 requests in the last 30 days had no deadline",
    )
    old = check_deployment(builder(), db=db, now=1e12)  # far in the future: nothing recent
    assert status(old, "metrics_history")[0] == "fail"


def test_recent_requests_with_deadlines_settle_a_gate_without_a_policy(tmp_path: Path) -> None:
    from langgraph_hitl.models import REQUEST_KIND, ApprovalRequest

    db = tmp_path / "hitl.sqlite"
    assert status(check_deployment(builder(), db=db), "deadlines")[0] == "unknown"
    with ReviewLedger.open(db, create=True) as ledger:
        for n in range(2):
            req = ApprovalRequest.model_validate(
                {"action": {"name": "pay", "args": {"n": n}}, "summary": "Pay", "deadline_in": 60}
            )
            ledger.record_request(
                thread_id=f"INV-{n}",
                interrupt_id=f"{n}" * 32,
                payload={"kind": REQUEST_KIND, "request": req.to_wire()},
            )
    assert status(check_deployment(builder(), db=db), "deadlines") == (
        "pass",
        "all 2 requests in the last 30 days had a deadline",
    )


def test_irreversible_takes_names() -> None:
    from langgraph_hitl.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="node names"):
        irreversible("")


# -- loading and the CLI -------------------------------------------------------------------


def test_a_reference_that_does_not_load_is_refused() -> None:
    with pytest.raises(GraphNotFoundError):
        check_deployment("tests/graphs/no_such_graph.py:graph", base=REPO)


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    proc = track(
        subprocess.Popen(
            [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_cli_check_fails_on_an_ungated_node_and_passes_a_gated_graph(tmp_path: Path) -> None:
    config = tmp_path / "hitl.toml"
    config.write_text('[notify]\nwebhook_url = "https://hooks.example.com/hitl"\n')
    db = tmp_path / "hitl.sqlite"

    bad = _cli(db, "check", UNGATED, "--config", str(config))
    assert bad.returncode == 1, bad
    assert (
        "FAIL     Irreversible nodes are reachable only through a gate: pay is reachable"
        in bad.stdout
    )
    [line] = bad.stderr.splitlines()
    assert line.startswith("error: check failed: irreversible_gated: pay is reachable")

    as_json = _cli(db, "check", UNGATED, "--config", str(config), "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["counts"]["fail"] == 1
    [item] = [i for i in report["items"] if i["status"] == "fail"]
    assert item["key"] == "irreversible_gated" and "START → score → pay" in item["reason"]

    good = _cli(db, "check", GATED, "--config", str(config))
    assert good.returncode == 0, good
    assert good.stderr == ""
    assert good.stdout.splitlines()[-1] == "7 pass, 0 fail, 2 unknown"

    secret_in_file = tmp_path / "leaky.toml"
    secret_in_file.write_text('[notify]\nwebhook_url = "https://h.example/x"\nsecret = "x"\n')
    leaky = _cli(db, "check", GATED, "--config", str(secret_in_file), "--json")
    assert leaky.returncode == 1
    notifier = next(i for i in json.loads(leaky.stdout)["items"] if i["key"] == "notifier")
    assert notifier["status"] == "fail" and "never put the webhook secret" in notifier["reason"]

    missing = _cli(db, "check", "tests/graphs/no_such_graph.py:graph")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no such file"), missing


def test_reviewers_item_needs_someone_at_or_above_every_role(tmp_path: Path) -> None:
    """Roles mean nothing until reviewers are registered, and a quorum needs enough of them."""
    from langgraph_hitl import ReviewLedger

    db = tmp_path / "hitl.sqlite"
    with ReviewLedger.open(db, create=True):
        pass

    def reviewers() -> tuple[str, str]:
        return status(check_deployment(GATED, db=db, base=REPO), "reviewers")

    state, reason = reviewers()
    assert state == "fail" and "no reviewers are registered" in reason
    with ReviewLedger.open(db) as ledger:
        ledger.add_reviewer("ana", "manager")  # a manager may decide the clerk's tier too
    assert reviewers() == ("pass", "registered: manager 1")
