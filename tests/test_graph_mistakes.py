"""Developer mistakes in a gated graph, caught before anything is recorded, with a message.

A gate routing to a node the graph does not have (LangGraph drops such a `goto` and the
run ends as if finished), a state without the gate's keys, a request builder whose
output is no request. From your own Python the gate catches each on its first run,
before it asks anyone; `langgraph-hitl run` catches each when it loads the graph.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from processes import one_line_error, run_cli

from langgraph_hitl import ConfigurationError, Decision, ReviewDesk, ReviewLedger, open_checkpointer
from langgraph_hitl.capture._inspect import check_gates

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "graphs"))
import mistakes  # noqa: E402

MISTAKES = "tests/graphs/mistakes.py"
CONFIG = {"configurable": {"thread_id": "t-1"}}


def run_from_python(db: Path, builder: Any) -> None:
    with open_checkpointer(db) as saver:
        builder.compile(checkpointer=saver).invoke({"amount": 5.0}, CONFIG)


def nothing_recorded(db: Path) -> None:
    with ReviewLedger.open(db) as ledger:
        assert ledger.requests("t-1") == []
        assert ledger.pending() == []


# -- from your own Python: the gate, on its first run --------------------------------------


def test_route_to_a_missing_node_fails_on_the_gates_first_run(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with pytest.raises(ConfigurationError) as caught:
        run_from_python(db, mistakes.bad_route())
    assert str(caught.value) == (
        "gate 'approve': on_approve='pay_invoice' names no node of the graph it runs in:"
        " add a node 'pay_invoice', or route approve to a node that exists"
    )
    nothing_recorded(db)


def test_route_to_a_missing_node_in_a_subgraph_fails_there_too(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with pytest.raises(ConfigurationError, match="on_approve='pay_invoice' names no node"):
        run_from_python(db, mistakes.bad_route_in_subgraph())
    nothing_recorded(db)


def test_route_to_a_missing_node_with_destinations_fails_to_compile() -> None:
    from langgraph.graph import END, START, StateGraph

    from langgraph_hitl import ApprovalGate

    gate = ApprovalGate(mistakes.ask, on_approve="pay_invoice", on_reject="drop")
    builder: StateGraph[Any] = StateGraph(mistakes.State)
    builder.add_node("approve", gate, destinations=gate.destinations)
    builder.add_node("drop", mistakes.drop)
    builder.add_edge(START, "approve")
    builder.add_edge("drop", END)
    with pytest.raises(ValueError, match="unknown node `pay_invoice`"):
        builder.compile()


def test_state_without_the_gates_keys_names_them_and_the_way_out(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with pytest.raises(ConfigurationError) as caught:
        run_from_python(db, mistakes.no_keys())
    assert str(caught.value) == (
        "gate 'approve': the state declares no key 'decision' (the decision) and"
        " 'approved_action' (the approved action), which the gate writes: add"
        " `decision: dict | None, approved_action: dict | None` to your state schema,"
        " or name keys it has with decision_key= / approved_action_key="
    )
    nothing_recorded(db)


@pytest.mark.parametrize(
    ("built", "message"),
    [
        (
            {"action": {"name": "pay", "args": {}}},
            "the request builder gave no 'summary', which a request needs (fields: action,"
            " summary, goal, reasons,",
        ),
        (
            {"action": {"name": "pay"}, "summary": "Pay", "summery": "typo"},
            "the request builder gave an unknown field 'summery' (allowed: action, summary,",
        ),
        (
            {"action": {"args": {}}, "summary": "Pay"},
            "the request builder gave no 'action.name', which a request needs",
        ),
        (
            {"action": {"name": "pay"}, "summary": "Pay", "confidence": 2},
            "the request builder gave an invalid 'confidence': Input should be less than or"
            " equal to 1",
        ),
        ("Pay 5.00", "the request builder returned str, not an ApprovalRequest or a dict"),
    ],
    ids=["no summary", "unknown field", "no action name", "bad confidence", "not a request"],
)
def test_invalid_request_names_the_field_and_what_is_allowed(
    tmp_path: Path, built: Any, message: str
) -> None:
    from langgraph.graph import START, StateGraph

    from langgraph_hitl import ApprovalGate

    gate = ApprovalGate(lambda state: built, on_approve="pay", on_reject="drop")
    builder: StateGraph[Any] = StateGraph(mistakes.State)
    builder.add_node("approve", gate, destinations=gate.destinations)
    builder.add_node("pay", mistakes.pay)
    builder.add_node("drop", mistakes.drop)
    builder.add_edge(START, "approve")
    db = tmp_path / "hitl.sqlite"
    with pytest.raises(ConfigurationError) as caught:
        run_from_python(db, builder)
    assert str(caught.value).startswith(message), caught.value
    nothing_recorded(db)


def test_a_sound_graph_passes_every_check(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with open_checkpointer(db) as saver:
        graph = mistakes.good().compile(checkpointer=saver)
        check_gates(graph)
        graph.invoke({"amount": 5.0}, CONFIG)
    with ReviewLedger.open(db) as ledger:
        assert len(ledger.pending()) == 1


# -- from the CLI: when the graph is loaded, before anything runs --------------------------


def cli(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(db, *args, cwd=REPO, env=env)


def no_thread(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        for table in ("hitl_threads", "hitl_requests", "checkpoints"):
            if table in tables:
                assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table


@pytest.mark.parametrize(
    ("factory", "needle"),
    [
        ("bad_route", "gate 'approve': on_approve='pay_invoice' names no node"),
        (
            "bad_route_in_subgraph",
            "gate 'approve' in subgraph 'payments': on_approve='pay_invoice' names no node",
        ),
        ("no_keys", "decision_key= / approved_action_key="),
    ],
)
def test_run_refuses_a_graph_whose_gate_cannot_act(
    tmp_path: Path, factory: str, needle: str
) -> None:
    """Exit 1, one line, and no thread: the graph never ran."""
    db = tmp_path / "hitl.sqlite"
    line = one_line_error(cli(db, "run", f"{MISTAKES}:{factory}", "--input", '{"amount": 5}'), 1)
    assert needle in line
    no_thread(db)


def test_run_with_an_invalid_request_names_the_field(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    ran = cli(db, "run", f"{MISTAKES}:no_summary", "--input", '{"amount": 5}', "--thread", "t-1")
    line = one_line_error(ran, 1)
    assert "the request builder gave no 'summary', which a request needs" in line
    nothing_recorded(db)


def test_a_gate_broken_after_pausing_is_never_applied_as_done(tmp_path: Path) -> None:
    """The graph changed under a paused thread. Deciding then is refused before anything
    is recorded; a decision recorded before the change fails loudly when applied (the
    action never silently not run), is kept, and `resume` applies it once it is fixed."""
    db = tmp_path / "hitl.sqlite"
    ran = cli(db, "run", f"{MISTAKES}:edited", "--input", '{"amount": 5}', "--json")
    (rid,) = json.loads(ran.stdout)["pending"]

    broken = cli(db, "approve", rid, env={"MISTAKES_ROUTE": "pay_invoice"})
    line = one_line_error(broken, 1)
    assert "on_approve='pay_invoice' names no node" in line
    with ReviewLedger.open(db) as ledger:
        assert ledger.get(rid).status == "pending"  # nothing recorded

    # Recorded while the graph was right, applied after it broke.
    ReviewDesk(db, base=tmp_path).decide(rid, Decision.approve(reviewer="ana"), apply=False)
    broken = cli(db, "resume", rid, env={"MISTAKES_ROUTE": "pay_invoice"})
    assert "on_approve='pay_invoice' names no node" in one_line_error(broken, 1)
    with ReviewLedger.open(db) as ledger:
        rec = ledger.get(rid)
    assert rec.status == "decided" and "names no node" in (rec.apply_error or "")

    resumed = cli(db, "resume", rid, "--json")
    assert resumed.returncode == 0, resumed
    (status,) = json.loads(resumed.stdout)
    assert status["status"] == "done" and status["values"]["status"] == "paid"
